import type { Part } from '@a2a-js/sdk';
import type { InputMessagePart } from '../engine/admission.js';
import type { InputPart } from '../engine/types.js';

/**
 * What a baton puts in the A2A messages of a run it serves, so a calling baton can show the
 * nested run as it happened (`baton_event`: one normalized event) and answer its permission
 * requests by option id (`baton_permission`). Shared by the a2a driver and `baton serve --a2a`.
 */
export const BATON_EVENT = 'baton_event';
export const BATON_PERMISSION = 'baton_permission';
/** Message metadata key of the run's role (spawn_run `role`), read by `baton serve --a2a`. */
export const BATON_ROLE = 'baton_role';

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

/**
 * A run's input parts as A2A parts, in the JSON form `Message.fromJSON` takes: text, a file as
 * raw bytes with its media type and name, data as a data part.
 */
export function partsJson(parts: readonly InputPart[]): Record<string, unknown>[] {
  return parts.map((p) =>
    p.type === 'text'
      ? { text: p.text, mediaType: 'text/plain' }
      : p.type === 'data'
        ? { data: p.data, mediaType: 'application/json' }
        : { raw: p.data, mediaType: p.media_type, filename: p.name },
  );
}

/** One part of a spawn_run `input_message` (see admission.ts), as read from A2A parts. */
export type InputMessagePartJson = Exclude<InputMessagePart, { path: string }>;

/**
 * A received message's parts as a spawn_run `input_message`, or undefined when it is text only
 * (then the prompt is its text). A file by URL becomes a text part naming the URL (baton fetches
 * nothing).
 */
export function inputMessageOf(parts: Part[] | undefined): InputMessagePartJson[] | undefined {
  const list = parts ?? [];
  if (list.every((p) => p.content?.$case === 'text' || p.content === undefined)) return undefined;
  const out: InputMessagePartJson[] = [];
  for (const p of list) {
    const c = p.content;
    if (!c) continue;
    if (c.$case === 'text') out.push({ type: 'text', text: c.value });
    else if (c.$case === 'data') out.push({ type: 'data', data: c.value ?? null });
    else if (c.$case === 'raw') {
      out.push({
        type: 'file',
        data: Buffer.from(c.value).toString('base64'),
        media_type: p.mediaType || 'application/octet-stream',
        ...(p.filename ? { name: p.filename } : {}),
      });
    } else out.push({ type: 'text', text: `File ${p.filename ? `${p.filename} ` : ''}at ${c.value}` });
  }
  return out;
}
