import { EventEmitter } from 'node:events';
import type { RunEvent } from './types.js';

/** What the engine announces, always after it is stored. */
export type BusEvents = {
  /** A run's row changed (status, waiting_for, result...). */
  run: [runId: string];
  /** New events of a run were stored. */
  events: [runId: string, events: RunEvent[]];
  /** A confirmation was asked, answered or expired. */
  confirmation: [confirmationId: string];
};

/** The engine's in-process event bus: waiters, MCP subscriptions and the CLI listen here. */
export class EngineBus extends EventEmitter<BusEvents> {
  constructor() {
    super();
    this.setMaxListeners(0);
  }
}
