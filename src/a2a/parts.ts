import type { Part } from '@a2a-js/sdk';

/**
 * What a baton puts in the A2A messages of a run it serves, so a calling baton can show the
 * nested run as it happened (`baton_event`: one normalized event) and answer its permission
 * requests by option id (`baton_permission`). Shared by the a2a driver and `baton serve --a2a`.
 */
export const BATON_EVENT = 'baton_event';
export const BATON_PERMISSION = 'baton_permission';

/** The text of a message's parts, joined. */
export function textOf(parts: Part[] | undefined): string {
  return (parts ?? []).map((p) => (p.content?.$case === 'text' ? p.content.value : '')).join('');
}

/** The value under `key` in the first data part that has it. */
export function dataField(parts: Part[] | undefined, key: string): unknown {
  for (const p of parts ?? []) {
    if (p.content?.$case !== 'data') continue;
    const v = (p.content.value as Record<string, unknown> | undefined)?.[key];
    if (v !== undefined) return v;
  }
  return undefined;
}

export const textPart = (text: string): Part => ({
  content: { $case: 'text', value: text },
  mediaType: 'text/plain',
  filename: '',
  metadata: undefined,
});

export const dataPart = (value: Record<string, unknown>): Part => ({
  content: { $case: 'data', value },
  mediaType: 'application/json',
  filename: '',
  metadata: undefined,
});
