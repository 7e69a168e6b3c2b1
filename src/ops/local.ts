import { isHumanChannel, type Engine } from '../engine/engine.js';
import type { RunEvent } from '../engine/types.js';
import { BatonError } from '../errors.js';
import { FRONT_CHANNELS, type Baton, type CallCtx, type Change, type FrontKind } from './baton.js';
import { OPERATIONS, parseArgs, type Operation, type OwnerHooks } from './operations.js';

const BY_NAME = new Map<string, Operation>(OPERATIONS.map((op) => [op.name, op]));

/** The operation named `name`; throws INVALID_PARAMS listing the known ones. */
export function findOperation(name: string): Operation {
  const op = BY_NAME.get(name);
  if (!op) {
    throw new BatonError(
      'INVALID_PARAMS',
      `unknown operation "${name}"; known: ${[...BY_NAME.keys()].join(', ')}`,
    );
  }
  return op;
}

/**
 * The channel a front of `kind` acts through when it asks for `via`: one of its own
 * ({@link FRONT_CHANNELS}), its first by default. Throws FORBIDDEN for any other. `person`, for
 * a sub-agent's front (its hello named a parent run: a program, never a person), tells the
 * person's channels, which it does not get (by default it gets its kind's first other one).
 */
export function channelOf(
  kind: FrontKind,
  via: string | undefined,
  person?: (channel: string) => boolean,
): string {
  const allowed = FRONT_CHANNELS[kind].filter((c) => !person?.(c));
  if (via === undefined) return allowed[0] as string;
  if (!allowed.includes(via)) {
    throw new BatonError(
      'FORBIDDEN',
      `a ${person ? "sub-agent's " : ''}${kind} front answers as ${allowed.join(' or ')}, not "${via}"`,
    );
  }
  return via;
}

/**
 * {@link Baton} served by the engine in this process (the owner): what the owner protocol runs for
 * each connected front, and what an in-process owner (`baton mcp --standalone`) uses directly.
 * `kind` and `parentRun` describe the front: its channels, and the run whose agent it serves
 * (runs it starts are that run's children, so `delegation.max_depth` holds through every front).
 */
export class LocalBaton implements Baton {
  readonly home: string;
  readonly #engine: Engine;
  readonly #kind: FrontKind;
  readonly #parentRun: string | undefined;
  readonly #owner: OwnerHooks | undefined;

  constructor(
    engine: Engine,
    front: { kind: FrontKind; parentRun?: string | undefined; owner?: OwnerHooks | undefined },
  ) {
    this.#engine = engine;
    this.home = engine.config.home;
    this.#kind = front.kind;
    this.#parentRun = front.parentRun || undefined;
    this.#owner = front.owner;
  }

  async call<T extends object = Record<string, unknown>>(
    name: string,
    args?: unknown,
    ctx: CallCtx = {},
  ): Promise<T> {
    const op = findOperation(name);
    const config = this.#engine.config;
    const by = channelOf(this.#kind, ctx.via, this.#parentRun ? (c) => isHumanChannel(c, config) : undefined);
    const parsed = parseArgs(op, args);
    return (await op.run(this.#engine, parsed as never, {
      by,
      ...(ctx.signal ? { signal: ctx.signal } : {}),
      ...(ctx.progress ? { progress: ctx.progress } : {}),
      ...(this.#parentRun ? { parentRun: this.#parentRun } : {}),
      ...(this.#owner ? { owner: this.#owner } : {}),
    })) as T;
  }

  watch(listener: (change: Change) => void, opts: { events?: boolean } = {}): () => void {
    const bus = this.#engine.bus;
    const onRun = (runId: string) => listener({ type: 'run', run_id: runId });
    const onEvents = (runId: string, events: RunEvent[]) =>
      listener({ type: 'events', run_id: runId, events: opts.events === false ? [] : events });
    const onConfirmation = (id: string) => listener({ type: 'confirmation', confirmation_id: id });
    bus.on('run', onRun);
    bus.on('events', onEvents);
    bus.on('confirmation', onConfirmation);
    return () => {
      bus.off('run', onRun);
      bus.off('events', onEvents);
      bus.off('confirmation', onConfirmation);
    };
  }
}
