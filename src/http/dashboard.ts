import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Hono } from 'hono';

/** The dashboard's files: `dist/dashboard` next to the compiled server (copied by the build). */
const DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'dashboard');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/** Everything the page may load comes from this server; it may not be framed. */
const HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  // Not no-referrer: with it Chromium sends `Origin: null` on the page's own form posts.
  'referrer-policy': 'same-origin',
  'x-frame-options': 'DENY',
  'cache-control': 'no-cache',
};

/**
 * Serves the dashboard (no external assets): `/` is the page, `/assets/*` its script and style.
 * Read once at start; the page itself holds no secret (it logs in with a cookie).
 */
export function serveDashboard<E extends object>(app: Hono<E>): void {
  const files = new Map<string, { body: Buffer; type: string }>();
  if (existsSync(DIR)) {
    for (const name of readdirSync(DIR)) {
      const type = TYPES[extname(name)];
      if (type) files.set(name, { body: readFileSync(join(DIR, name)), type });
    }
  }
  const send = (name: string) => {
    const f = files.get(name);
    if (!f) return new Response('dashboard not built: run npm run build', { status: 404 });
    return new Response(new Uint8Array(f.body), { headers: { 'content-type': f.type, ...HEADERS } });
  };
  app.get('/', () => send('index.html'));
  app.get('/assets/:name', (c) => send(c.req.param('name')));
}
