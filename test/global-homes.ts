// vitest globalSetup: the person's own agent settings — `~/.claude`, `~/.claude.json`, `~/.codex`,
// `~/.gemini` of the user running the suite — are byte-for-byte the same after the suite as before
// it (issue 18: every test gives the agents an isolated home; baton never writes there). The run
// fails (exit 1), naming what changed, when anything under them was added, removed or rewritten.
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

const ROOTS = ['.claude', '.claude.json', '.codex', '.gemini'];
/** A bound on what is read: the person's folders may be large. */
const MAX_FILES = 20_000;

function snapshot(): Map<string, string> {
  const out = new Map<string, string>();
  const visit = (path: string) => {
    if (out.size >= MAX_FILES) return;
    const st = lstatSync(path);
    if (st.isSymbolicLink()) out.set(path, `link ${readlinkSync(path)}`);
    else if (st.isDirectory()) {
      out.set(path, `dir ${st.mode.toString(8)}`);
      for (const name of readdirSync(path).sort()) visit(join(path, name));
    } else if (st.isFile()) {
      const sum = createHash('sha256').update(readFileSync(path)).digest('hex');
      out.set(path, `file ${st.mode.toString(8)} ${sum}`);
    } else out.set(path, `other ${st.mode.toString(8)}`);
  };
  for (const r of ROOTS) {
    const p = join(homedir(), r);
    if (existsSync(p)) visit(p);
  }
  return out;
}

export default function setup(): () => void {
  const before = snapshot();
  return () => {
    const after = snapshot();
    const changed: string[] = [];
    for (const [p, v] of before)
      if (after.get(p) !== v) changed.push(after.has(p) ? `changed ${p}` : `removed ${p}`);
    for (const p of after.keys()) if (!before.has(p)) changed.push(`added ${p}`);
    if (changed.length) {
      // (vitest reports an error thrown here but still exits 0: the run fails here itself.)
      process.stderr.write(
        `\nFAIL the suite changed the person's own agent settings (${changed.length}):\n${changed.slice(0, 30).join('\n')}\n`,
      );
      process.exit(1);
    }
  };
}
