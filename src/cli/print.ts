import type { AgentInfo } from '../agents/catalog.js';
import type { RunEvent, RunSummary } from '../engine/types.js';
import { formatDuration } from '../duration.js';

const tty = process.stdout.isTTY === true;
const paint = (code: string) => (text: string) =>
  tty && !process.env.NO_COLOR ? `\x1b[${code}m${text}\x1b[0m` : text;
export const dim = paint('2');
export const bold = paint('1');
export const red = paint('31');
export const green = paint('32');
export const yellow = paint('33');
export const cyan = paint('36');

/** Writes a line to stdout. The CLI is the one place allowed to print. */
export function out(line = ''): void {
  process.stdout.write(`${line}\n`);
}

/** Writes a line to stderr. */
export function err(line: string): void {
  process.stderr.write(`${line}\n`);
}

const STATUS_COLOR: Record<string, (s: string) => string> = {
  completed: green,
  failed: red,
  timed_out: red,
  cancelled: yellow,
  interrupted: yellow,
  waiting: cyan,
};

/** A status word, coloured. */
export function statusWord(status: string): string {
  return (STATUS_COLOR[status] ?? ((s: string) => s))(status);
}

function age(iso: string): string {
  return formatDuration(Date.now() - Date.parse(iso));
}

/** One line per run for `baton ls`. */
export function formatRunLine(r: RunSummary): string {
  const name = r.label ? `${r.run_id} (${r.label})` : r.run_id;
  return `${name.padEnd(30)} ${statusWord(r.status.padEnd(11))} ${r.agent.padEnd(12)} ${dim(age(r.created_at).padStart(7))}  ${dim(r.cwd)}${r.role ? `  role ${r.role}` : ''}`;
}

/** The human view of one run for `baton show`. */
export function formatRun(r: RunSummary): string {
  const lines = [
    `${bold(r.run_id)}${r.label ? ` (${r.label})` : ''}  ${statusWord(r.status)}`,
    `agent     ${r.agent}`,
    ...(r.role ? [`role      ${r.role}`] : []),
    `cwd       ${r.cwd}`,
    `session   ${r.session_id}${r.agent_session_id ? dim(`  (agent's own: ${r.agent_session_id})`) : ''}`,
    `policy    ${r.policy}`,
    `created   ${r.created_at}${r.ended_at ? `   ended ${r.ended_at}` : ''}`,
    `events    ${r.last_seq}`,
  ];
  if (r.waiting_for) {
    lines.push(`${cyan('waiting')}   ${r.waiting_for.title}`);
    for (const o of r.waiting_for.options) lines.push(`          - ${o.option_id} (${o.kind}) ${o.name}`);
    lines.push(`          deadline ${r.waiting_for.deadline}`);
  }
  if (r.result) {
    lines.push(`stop      ${r.result.stop_reason ?? ''}`);
    if (r.result.usage) lines.push(`usage     ${JSON.stringify(r.result.usage)}`);
    if (r.result.structured !== undefined) lines.push(`structured ${JSON.stringify(r.result.structured)}`);
    if (r.result.structured_error)
      lines.push(red(`structured error: ${r.result.structured_error.errors.join('; ')}`));
    lines.push(
      '',
      r.result.text + (r.result.text_truncated ? dim(' …(truncated; baton logs shows all)') : ''),
    );
  }
  if (r.error) {
    lines.push(red(`error     ${r.error.code}: ${r.error.message}`));
    if (r.error.stderr_tail) lines.push(dim(r.error.stderr_tail.trimEnd()));
  }
  return lines.join('\n');
}

function clip(text: string, max: number): string {
  const one = text.replace(/\s+/g, ' ').trim();
  return one.length > max ? `${one.slice(0, max)}…` : one;
}

/** The human view of one event for `baton logs` and `baton run`. Undefined for events not worth a line. */
export function formatEvent(e: RunEvent): string | undefined {
  const d = e.data as Record<string, unknown>;
  switch (e.type) {
    case 'status':
      return dim(`· ${d.status}${d.reason ? `: ${d.reason}` : ''}`);
    case 'message':
      return d.role === 'user' ? `${bold('you')}: ${d.text}` : String(d.text);
    case 'thought':
      return dim(`thinking: ${clip(String(d.text), 300)}`);
    case 'tool_call':
      return `${cyan('→')} ${d.title ?? d.tool_call_id}${d.kind ? dim(` [${d.kind}]`) : ''}${d.status ? dim(` ${d.status}`) : ''}`;
    case 'tool_update':
      return d.status ? dim(`  ↳ ${d.tool_call_id} ${d.status}`) : undefined;
    case 'plan': {
      const entries = (d.entries as { content: string; status: string }[] | undefined) ?? [];
      const mark = (s: string) => (s === 'completed' ? '[x]' : s === 'in_progress' ? '[~]' : '[ ]');
      return ['plan:', ...entries.map((x) => `  ${mark(x.status)} ${x.content}`)].join('\n');
    }
    case 'permission_request': {
      const options = (d.options as { option_id: string }[] | undefined) ?? [];
      return yellow(`? permission: ${d.title} (${options.map((o) => o.option_id).join(' / ')})`);
    }
    case 'permission_resolved':
      return dim(`  answered ${d.option_id ?? d.outcome} by ${d.by}${d.note ? ` (${d.note})` : ''}`);
    case 'usage':
      return undefined;
    case 'stderr':
      return dim(`stderr: ${String(d.text).trimEnd()}`);
    case 'result':
      return undefined;
    case 'error':
      return red(`error ${d.code}: ${d.message}`);
    default:
      return dim(`${e.type}: ${clip(JSON.stringify(d), 200)}`);
  }
}

/** The table of `baton agents` / `baton doctor`. */
export function formatAgents(agents: AgentInfo[], withFix: boolean): string {
  const lines: string[] = [];
  for (const a of agents) {
    const state = a.ready ? green('ready') : red(a.installed ? 'not ready' : 'not installed');
    lines.push(`${a.name.padEnd(12)} ${state.padEnd(tty ? 22 : 13)} ${dim(a.version ?? '')}`);
    lines.push(`${''.padEnd(12)} ${dim(a.description)}`);
    if (withFix && a.credentials) lines.push(`${''.padEnd(12)} ${dim(`credentials: ${a.credentials}`)}`);
    if (withFix && !a.ready) {
      if (a.problem) lines.push(`${''.padEnd(12)} ${yellow(a.problem)}`);
      lines.push(`${''.padEnd(12)} ${yellow(`fix: ${a.fix ?? ''}`)}`);
    }
    if (withFix) for (const w of a.warnings ?? []) lines.push(`${''.padEnd(12)} ${yellow(`warning: ${w}`)}`);
  }
  return lines.join('\n');
}
