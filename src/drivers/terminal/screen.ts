/** How often the screen is read. */
export const POLL_MS = 150;
/** A screen unchanged this long is "stable": a prompt on it means the program waits for input. */
export const DEFAULT_IDLE_MS = 800;
/** How long after a paste Enter is pressed (a TUI may take an Enter right after a paste as a newline). */
export const DEFAULT_ENTER_DELAY_MS = 60;
/** Screen snapshots are recorded at most this often. */
export const SNAPSHOT_MS = 1000;

/** A yes/no question on the last line: `Continue? [y/N]`, `(y/n)`, `[yes/no]`. */
export const CONFIRM = /(\[|\()\s*(y(?:es)?\s*\/\s*n(?:o)?)\s*(\]|\))\s*[:?]?\s*$/i;
/** Aider-style lettered choices on the last line: `Create new file? (Y)es/(N)o/(D)on't ask again [Yes]: `. */
export const LETTERED = /^(.*?)\s*\(Y\)es\/\(N\)o((?:\/\([A-Z]\)[^/[]+)*)\s*\[[^\]]*\]:\s*$/;
export const LETTER_KINDS: Record<string, 'allow_once' | 'allow_always' | 'reject_once' | 'reject_always'> = {
  y: 'allow_once',
  n: 'reject_once',
  a: 'allow_always',
  s: 'reject_always',
  d: 'reject_always',
};

/**
 * A question with lettered choices (as aider asks): the question and the choices, answered by
 * typing the letter; undefined when the line is not one.
 */
export function detectLettered(line: string): Menu | undefined {
  const m = LETTERED.exec(line.trim());
  if (!m) return undefined;
  const options = [...`(Y)es/(N)o${m[2] ?? ''}`.matchAll(/\(([A-Z])\)([^/[]*)/g)].map((c) => ({
    key: (c[1] ?? '').toLowerCase(),
    name: `${c[1]}${(c[2] ?? '').trim()}`,
  }));
  return { question: (m[1] ?? '').trim() || line.trim(), options };
}

/** A password prompt on the last line: `Password:`, `[sudo] password for me:`, `Enter passphrase for key …:`. */
export const PASSWORD_PROMPT = /(password|passphrase|passcode|\bpin\b)[^\n]*[:?]\s*$/i;

/** Shell-like prompts at the end of the cursor line: `>>> `, `$ `, `# `, `> `, `❯ `, `% `, `In [3]: `. */
export const PROMPT = /(^|\s)(>>>|\.\.\.|\$|#|>|❯|›|%|In \[\d+\]:)\s*$/;

/** One line of a numbered choice menu: `❯ 1. Yes`, `  2) No`, `● 1. Allow once`. */
export const MENU_LINE = /^\s*(?:[❯›>▸●]\s*)?([1-9])[.)]\s+(\S.*?)\s*$/;

/** A line without the box drawn around it (`│ … │`, as Gemini CLI frames its dialogs). */
export function unboxed(line: string): string {
  return line.replace(/^\s*(?:[│┃]\s?)+/, '').replace(/(?:\s*[│┃])+\s*$/, '');
}

/** A question with numbered choices, as agent TUIs show their permission prompts. */
export type Menu = { question: string; options: { key: string; name: string }[] };

/**
 * The last numbered menu on a screen with a question (a line ending in `?`) at most 12 lines above
 * it: `Do you want to create hello.txt?` / `❯ 1. Yes` / `2. Yes, and …` / `3. No`.
 */
export function detectMenu(screen: string, opts: { titled?: boolean } = {}): Menu | undefined {
  const lines = screen.split('\n').map(unboxed);
  for (let end = lines.length - 1; end >= 0; end--) {
    if (!MENU_LINE.test(lines[end] ?? '')) continue;
    let start = end;
    while (start > 0 && MENU_LINE.test(lines[start - 1] ?? '')) start--;
    const block = lines.slice(start, end + 1).map((l) => MENU_LINE.exec(l) as RegExpExecArray);
    // Choices numbered 1, 2, 3... in order.
    if (block.length < 2 || block.some((m, i) => m[1] !== String(i + 1))) {
      end = start;
      continue;
    }
    const options = block.map((m) => ({ key: m[1] ?? '', name: (m[2] ?? '').slice(0, 120) }));
    const above = lines.slice(Math.max(0, start - 12), start).map((l) => l.trim());
    const question = above.findLast((l) => l.endsWith('?'));
    if (question) return { question, options };
    // `titled`: a dialog whose heading is no question (Codex's "Hooks need review"): its first line.
    const heading = opts.titled ? above.find((l) => l.length > 0) : undefined;
    return heading ? { question: heading, options } : undefined;
  }
  return undefined;
}

/**
 * The permission kind of a menu choice, from its words; undefined for a choice that is neither
 * (Gemini CLI's "Modify with external editor" opens a dialog): it is not offered.
 */
export function choiceKind(name: string): 'allow_once' | 'allow_always' | 'reject_once' | undefined {
  if (/^(no|deny|reject|cancel|abort|don't)\b/i.test(name)) return 'reject_once';
  if (/external editor|^modify\b|^edit\b/i.test(name)) return undefined;
  if (/^(yes|allow|approve|accept|proceed|ok|continue|run)\b/i.test(name)) {
    return /always|don't ask|do not ask|for this session|auto-approve|all\b/i.test(name)
      ? 'allow_always'
      : 'allow_once';
  }
  return 'reject_once';
}

/** Strips ANSI escape sequences (for patterns on the raw screen). */
export function plain(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07|\x1b[()][A-Z0-9]/g, '');
}

/** The last non-empty lines of a screen. */
export function tailLines(screen: string, n: number): string[] {
  const lines = screen.replace(/\s+$/, '').split('\n');
  return lines.slice(-n);
}
