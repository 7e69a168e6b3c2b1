import { pathToFileURL } from 'node:url';
import type * as acp from '@agentclientprotocol/sdk/unstable';
import { flattenParts, isTextMedia, type InputPart } from '../../engine/types.js';

/**
 * A run's input parts as ACP content blocks, within what the agent declared it takes
 * (`promptCapabilities`): text as text; with `embeddedContext`, files and JSON data as embedded
 * resources (text or blob); without it, a file given by path as a resource link (every agent takes
 * those) and the rest as text; images as image blocks when the agent takes images.
 */
export function contentBlocks(
  parts: readonly InputPart[],
  caps: acp.PromptCapabilities | null | undefined,
): acp.ContentBlock[] {
  return parts.map((p, i): acp.ContentBlock => {
    if (p.type === 'text') return { type: 'text', text: p.text };
    if (p.type === 'data') {
      const text = JSON.stringify(p.data);
      return caps?.embeddedContext
        ? {
            type: 'resource',
            resource: { uri: `baton:input/data-${i + 1}.json`, mimeType: 'application/json', text },
          }
        : { type: 'text', text: flattenParts([p]) };
    }
    const uri = p.path ? pathToFileURL(p.path).href : `baton:input/${encodeURIComponent(p.name)}`;
    if (caps?.image && p.media_type.startsWith('image/')) {
      return { type: 'image', data: p.data, mimeType: p.media_type, ...(p.path ? { uri } : {}) };
    }
    if (caps?.embeddedContext) {
      return {
        type: 'resource',
        resource: isTextMedia(p.media_type)
          ? { uri, mimeType: p.media_type, text: Buffer.from(p.data, 'base64').toString('utf8') }
          : { uri, mimeType: p.media_type, blob: p.data },
      };
    }
    if (p.path) return { type: 'resource_link', uri, name: p.name, mimeType: p.media_type, size: p.size };
    return { type: 'text', text: flattenParts([p]) };
  });
}
