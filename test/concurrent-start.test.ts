import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { ROOT } from './helpers.js';

// Each child waits for the same instant, then opens (and migrates) the same new database.
const OPEN_AT_ONCE = `
const { Store } = await import(process.argv[1]);
const at = Number(process.argv[3]);
while (Date.now() < at) {}
try { new Store(process.argv[2]).close(); console.log('ok'); } catch (e) { console.log('ERR ' + e.message); }
`;

describe('several baton processes starting on a new BATON_HOME at once', () => {
  let home: string;
  afterEach(() => rmSync(home, { recursive: true, force: true }));

  it('all open the store; the migrations are applied exactly once', async () => {
    home = mkdtempSync(join(tmpdir(), 'baton-race-'));
    const at = Date.now() + 800;
    const outputs = await Promise.all(
      Array.from(
        { length: 8 },
        () =>
          new Promise<string>((resolve) => {
            const child = spawn(
              process.execPath,
              [
                '--input-type=module',
                '-e',
                OPEN_AT_ONCE,
                join(ROOT, 'dist', 'store', 'store.js'),
                home,
                String(at),
              ],
              { stdio: ['ignore', 'pipe', 'inherit'] },
            );
            let out = '';
            child.stdout.on('data', (d: Buffer) => (out += d.toString()));
            child.on('exit', () => resolve(out.trim()));
          }),
      ),
    );
    expect(outputs).toEqual(Array(8).fill('ok'));
    const db = new Database(join(home, 'baton.db'), { readonly: true });
    // Each migration file once (0001_init.sql → version 1, ...).
    const files = readdirSync(join(ROOT, 'src', 'store', 'migrations')).filter((f) => f.endsWith('.sql'));
    expect(files.length).toBeGreaterThan(1);
    expect(db.prepare('SELECT version FROM schema_migrations ORDER BY version').all()).toEqual(
      files.sort().map((f) => ({ version: Number(f.slice(0, 4)) })),
    );
    db.close();
  });
});
