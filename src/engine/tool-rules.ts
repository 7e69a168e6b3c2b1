/**
 * The matcher behind a profile's `allow_tools` / `deny_tools`: case-insensitive globs on whole texts
 * (`*` matches any run of characters, `/` and newlines included), and a shell command line split
 * into its sub-commands, so that `npm test && rm -rf x` is judged as two commands.
 */

/** Most alternatives one glob's `{a,b}` may expand to; past it the rule cannot be judged. */
const MAX_ALTERNATIVES = 256;
/** Deepest nesting of `$(…)`, backticks and `( … )` that a command line may have to be judged. */
const MAX_DEPTH = 32;
/** Words that may stand before a command without changing what runs (dropped from `plain`). */
const LEADING_WORDS = new Set([
  '{',
  '}',
  '!',
  'if',
  'then',
  'else',
  'elif',
  'fi',
  'do',
  'done',
  'while',
  'until',
  'time',
  'command',
  'builtin',
  'exec',
  'nohup',
  'sudo',
  'env',
]);
/** Commands that run a string they are given as shell code: what they run cannot be judged. */
const EVALUATORS = new Set(['eval', 'source', '.']);
/** Unquoted brace expansion in a word (`{rm,-rf,x}`, `-r{f,}`, `{1..3}`), but not `${…}`. */
const BRACE_EXPANSION = /(^|[^$])\{[^{}]*(,|\.\.)[^{}]*\}/;
/** Unquoted glob characters: in a command name, the shell picks the program (`/bin/r[m]`). */
const GLOB_CHARS = /[*?[]/;
/** Shells: `<shell> -c CODE` runs a string as shell code. */
const SHELLS = new Set(['sh', 'bash', 'zsh', 'dash', 'ksh', 'mksh', 'ash', 'fish', 'csh', 'tcsh', 'busybox']);

type Token =
  | { t: 'char'; c: string }
  | { t: 'one' }
  | { t: 'star' }
  | { t: 'class'; negated: boolean; ranges: [string, string][] };

/** A compiled glob: true when the whole (lower-cased) text matches. */
type Matcher = (text: string) => boolean;

/** Expands `{a,b}` alternatives (nested ones too); undefined past {@link MAX_ALTERNATIVES}. */
function expandBraces(glob: string, budget = { left: MAX_ALTERNATIVES }): string[] | undefined {
  for (let i = 0; i < glob.length; i++) {
    if (glob[i] === '\\') {
      i++;
      continue;
    }
    if (glob[i] !== '{') continue;
    let depth = 0;
    const cuts = [i];
    let j = i;
    for (; j < glob.length; j++) {
      const ch = glob[j];
      if (ch === '\\') j++;
      else if (ch === '{') depth++;
      else if (ch === '}' && --depth === 0) break;
      else if (ch === ',' && depth === 1) cuts.push(j);
    }
    if (j >= glob.length || cuts.length === 1) continue; // a literal `{`
    cuts.push(j);
    const out: string[] = [];
    for (let k = 0; k + 1 < cuts.length; k++) {
      const alt = `${glob.slice(0, i)}${glob.slice((cuts[k] as number) + 1, cuts[k + 1])}${glob.slice(j + 1)}`;
      const more = expandBraces(alt, budget);
      if (!more) return undefined;
      out.push(...more);
    }
    return out;
  }
  if (--budget.left < 0) return undefined;
  return [glob];
}

function tokenize(glob: string): Token[] {
  const tokens: Token[] = [];
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] as string;
    if (c === '\\' && i + 1 < glob.length) tokens.push({ t: 'char', c: glob[++i] as string });
    else if (c === '*') {
      if (tokens[tokens.length - 1]?.t !== 'star') tokens.push({ t: 'star' });
    } else if (c === '?') tokens.push({ t: 'one' });
    else if (c === '[') {
      const close = glob.indexOf(']', i + 2);
      if (close < 0) {
        tokens.push({ t: 'char', c });
        continue;
      }
      let body = glob.slice(i + 1, close);
      const negated = body.startsWith('!') || body.startsWith('^');
      if (negated) body = body.slice(1);
      const ranges: [string, string][] = [];
      for (let k = 0; k < body.length; k++) {
        const from = body[k] as string;
        if (body[k + 1] === '-' && k + 2 < body.length) {
          ranges.push([from, body[k + 2] as string]);
          k += 2;
        } else ranges.push([from, from]);
      }
      tokens.push({ t: 'class', negated, ranges });
      i = close;
    } else tokens.push({ t: 'char', c });
  }
  return tokens;
}

function matchesOne(token: Token, c: string): boolean {
  switch (token.t) {
    case 'char':
      return token.c === c;
    case 'one':
      return true;
    case 'class':
      return token.ranges.some(([a, b]) => c >= a && c <= b) !== token.negated;
    case 'star':
      return false;
  }
}

/** Wildcard matching with one backtrack point per star: O(text × glob), never exponential. */
function matchTokens(tokens: Token[], text: string): boolean {
  let p = 0;
  let s = 0;
  let starP = -1;
  let starS = 0;
  while (s < text.length) {
    const token = tokens[p];
    if (token?.t === 'star') {
      starP = p++;
      starS = s;
    } else if (token && matchesOne(token, text[s] as string)) {
      p++;
      s++;
    } else if (starP >= 0) {
      p = starP + 1;
      s = ++starS;
    } else return false;
  }
  while (tokens[p]?.t === 'star') p++;
  return p === tokens.length;
}

/**
 * Compiles a rule list into one matcher (case-insensitive, whole text, `*` crossing everything,
 * `?`, `[a-z]`, `[!x]`, `{a,b}`, `\` escapes). Undefined when a glob cannot be judged (too many
 * alternatives).
 */
export function compileGlobs(globs: readonly string[]): Matcher | undefined {
  const all: Token[][] = [];
  for (const glob of globs) {
    const alternatives = expandBraces(glob.toLowerCase());
    if (!alternatives) return undefined;
    for (const alt of alternatives) all.push(tokenize(alt));
  }
  return (text) => {
    const lower = text.toLowerCase();
    return all.some((tokens) => matchTokens(tokens, lower));
  };
}

/**
 * One simple command of a command line: `raw` as written (trimmed, comments dropped), and `plain`,
 * its words unquoted with leading keywords, wrappers (`sudo`, `env`, …) and `VAR=value` dropped.
 */
export type SubCommand = { raw: string; plain: string };

/** A command line that cannot be judged (unbalanced quoting, here-documents, `eval`, `sh -c` …). */
class Unjudgeable extends Error {}

/**
 * Splits a shell command line into its simple commands: at `&&`, `||`, `;`, `|`, `&` and new
 * lines, and the commands inside `$(…)`, backticks, `<(…)`/`>(…)` and `( … )` as commands of
 * their own. Undefined when the line cannot be judged: unbalanced quotes or parentheses, a
 * here-document, a command that runs a string as code (`eval`, `source`, `sh -c`), or a command
 * name that comes from a variable or substitution.
 */
export function splitCommandLine(line: string): SubCommand[] | undefined {
  const out: SubCommand[] = [];
  try {
    scanList(line, 0, undefined, out, 0);
  } catch (err) {
    if (err instanceof Unjudgeable) return undefined;
    throw err;
  }
  return out;
}

/**
 * `bare` holds each word's unquoted characters (quoted and escaped ones as NUL): what the shell
 * expands. A word it would rewrite (brace expansion anywhere, globs in the command name) is text
 * the rules would not see as it runs: the command cannot be judged.
 */
function subCommand(raw: string, words: string[], bare: string[]): SubCommand {
  let k = 0;
  while (
    k < words.length &&
    (LEADING_WORDS.has(words[k] as string) || /^[A-Za-z_][A-Za-z0-9_]*=/.test(words[k] as string))
  )
    k++;
  const rest = words.slice(k);
  const first = rest[0] ?? '';
  if (EVALUATORS.has(first) || /[$`]/.test(first)) throw new Unjudgeable();
  if (GLOB_CHARS.test(bare[k] ?? '') || bare.some((b) => BRACE_EXPANSION.test(b))) {
    throw new Unjudgeable();
  }
  rest.forEach((w, n) => {
    const name = w.slice(w.lastIndexOf('/') + 1);
    if (SHELLS.has(name) && rest.slice(n + 1).some((a) => /^-[a-z]*c[a-z]*$/i.test(a))) {
      throw new Unjudgeable();
    }
  });
  return { raw, plain: rest.join(' ') };
}

/**
 * Scans from `i` to `closer` (`)` or a backtick) or the end of the line, pushing each simple
 * command; returns the index of the closer.
 */
function scanList(
  s: string,
  from: number,
  closer: ')' | '`' | undefined,
  out: SubCommand[],
  depth: number,
): number {
  if (depth > MAX_DEPTH) throw new Unjudgeable();
  let i = from;
  let start = from;
  let words: string[] = [];
  let bares: string[] = [];
  let word: string | undefined;
  let bare = '';
  const endWord = () => {
    if (word !== undefined) {
      words.push(word);
      bares.push(bare);
    }
    word = undefined;
    bare = '';
  };
  // Quoted or escaped text: taken literally by the shell.
  const add = (text: string) => {
    word = (word ?? '') + text;
    bare += '\0';
  };
  // An unquoted character: the shell may expand it.
  const addBare = (c: string) => {
    word = (word ?? '') + c;
    bare += c;
  };
  const finish = (end: number, next: number) => {
    endWord();
    const raw = s.slice(start, end).trim();
    if (raw) out.push(subCommand(raw, words, bares));
    words = [];
    bares = [];
    start = next;
  };
  // A nested command list (`$(…)`, `<(…)`, backticks): its commands are pushed; returns past its closer.
  const nested = (open: number, close: ')' | '`') => {
    const end = scanList(s, open, close, out, depth + 1);
    if (s[end] !== close) throw new Unjudgeable();
    return end + 1;
  };
  const redirect = /<<<|<>|<&|>&|>>|>\||&>>|&>|<|>/y;
  while (i < s.length) {
    const c = s[i] as string;
    if (closer && c === closer) {
      finish(i, i);
      return i;
    }
    if (c === '\\') {
      if (i + 1 >= s.length) throw new Unjudgeable();
      if (s[i + 1] !== '\n') add(s[i + 1] as string);
      i += 2;
    } else if (c === "'") {
      const close = s.indexOf("'", i + 1);
      if (close < 0) throw new Unjudgeable();
      add(s.slice(i + 1, close));
      i = close + 1;
    } else if (c === '$' && (s[i + 1] === "'" || s[i + 1] === '"')) {
      // $'…' decodes escapes ($'-r\x66' is -rf), $"…" is translated: not the text we see.
      throw new Unjudgeable();
    } else if (c === '"') {
      i = scanDouble(s, i + 1, out, depth, add);
    } else if (c === '`') {
      const end = nested(i + 1, '`');
      add(s.slice(i, end));
      i = end;
    } else if ((c === '$' || c === '<' || c === '>') && s[i + 1] === '(') {
      const end = nested(i + 2, ')');
      add(s.slice(i, end));
      i = end;
    } else if (c === '<' && s[i + 1] === '<' && s[i + 2] !== '<') {
      throw new Unjudgeable(); // a here-document: its body is not a command we can see
    } else if (c === '#' && word === undefined) {
      const nl = s.indexOf('\n', i);
      const end = nl < 0 ? s.length : nl;
      // The comment is not part of the command.
      finish(i, end);
      i = end;
    } else if (c === '(') {
      finish(i, i);
      i = nested(i + 1, ')');
      start = i;
    } else if (c === ')') {
      throw new Unjudgeable();
    } else if (c === ';' || c === '\n' || c === '|' || (c === '&' && s[i + 1] !== '>')) {
      const op = /&&|\|\||;;|\|&|[;\n|&]/y;
      op.lastIndex = i;
      const m = op.exec(s) as RegExpExecArray;
      finish(i, i + m[0].length);
      i += m[0].length;
    } else if (c === '<' || c === '>' || c === '&') {
      redirect.lastIndex = i;
      const m = redirect.exec(s) as RegExpExecArray;
      endWord();
      words.push(m[0]);
      bares.push('');
      i += m[0].length;
    } else if (c === ' ' || c === '\t') {
      endWord();
      i++;
    } else {
      addBare(c);
      i++;
    }
  }
  if (closer) throw new Unjudgeable();
  finish(s.length, s.length);
  return s.length;
}

/** Scans a double-quoted string from after its `"`; returns past the closing quote. */
function scanDouble(
  s: string,
  from: number,
  out: SubCommand[],
  depth: number,
  add: (text: string) => void,
): number {
  let i = from;
  while (i < s.length) {
    const c = s[i] as string;
    if (c === '"') return i + 1;
    if (c === '\\' && i + 1 < s.length) {
      add('$`"\\\n'.includes(s[i + 1] as string) ? (s[i + 1] as string) : s.slice(i, i + 2));
      i += 2;
    } else if (c === '`' || (c === '$' && s[i + 1] === '(')) {
      const open = c === '`' ? i + 1 : i + 2;
      const close = c === '`' ? '`' : ')';
      const end = scanList(s, open, close, out, depth + 1);
      if (s[end] !== close) throw new Unjudgeable();
      add(s.slice(i, end + 1));
      i = end + 1;
    } else {
      add(c);
      i++;
    }
  }
  throw new Unjudgeable();
}

/** What a tool rule is judged on. */
export type ToolSubject = {
  /** The tool's kind (`execute`, `edit`, …), matched as a whole. */
  kind?: string;
  /** The tool's full titles, the first being the tool's own description (unclipped). */
  titles: string[];
  /** The full shell command line the tool runs, when it runs one. */
  command?: string;
};

/**
 * Judges a tool against a profile's rules. `deny`: a deny glob matches the kind, a whole title,
 * the whole command or any of its sub-commands. `allow` (when nothing is denied): an allow glob
 * matches the kind, or every sub-command of the command (each by itself), or — for a tool that
 * runs no command — its first title. `unsure`: there is a command but it cannot be split safely
 * (or a glob cannot be compiled), so no rule can say it is harmless: a person must decide.
 * Undefined: no rule applies.
 */
export function judgeToolRules(
  rules: { allow_tools?: string[]; deny_tools?: string[] },
  subject: ToolSubject,
): 'deny' | 'allow' | 'unsure' | undefined {
  const denyGlobs = rules.deny_tools ?? [];
  const allowGlobs = rules.allow_tools ?? [];
  if (denyGlobs.length === 0 && allowGlobs.length === 0) return undefined;
  const deny = compileGlobs(denyGlobs);
  const allow = compileGlobs(allowGlobs);
  const { kind, titles, command } = subject;
  const wholes = [kind, ...titles, command].filter((t): t is string => Boolean(t));
  if (deny && wholes.some(deny)) return 'deny';
  const subs = command === undefined ? undefined : splitCommandLine(command);
  const first = titles[0] ?? '';
  // "Bash: " before the command in claude's title: sub-commands are matched with and without it.
  const prefix = command && first.endsWith(command) ? first.slice(0, first.length - command.length) : '';
  const forms = (sub: SubCommand, plain: boolean) => {
    const texts = [sub.raw, `${prefix}${sub.raw}`];
    return plain ? [...texts, sub.plain, `${prefix}${sub.plain}`] : texts;
  };
  if (deny && subs?.some((sub) => forms(sub, true).some(deny))) return 'deny';
  if (!deny || (command !== undefined && !subs)) return 'unsure';
  if (!allow || allowGlobs.length === 0) return undefined;
  if (kind && allow(kind)) return 'allow';
  if (subs) {
    return subs.length > 0 && subs.every((sub) => forms(sub, false).some(allow)) ? 'allow' : undefined;
  }
  return first && allow(first) ? 'allow' : undefined;
}
