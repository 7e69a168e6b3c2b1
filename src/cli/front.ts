import { loadConfig, resolveHome } from '../config.js';
import { toBatonError } from '../errors.js';
import type { Baton } from '../ops/baton.js';
import { OwnerClient } from '../owner/client.js';
import { err, out } from './print.js';

/** Exit codes: 0 completed / ok, 1 the run did not complete or an operation failed, 2 bad input. */
const EXIT_BAD_INPUT = 2;
const BAD_INPUT_CODES = new Set([
  'INVALID_PARAMS',
  'INVALID_CONFIG',
  'RUN_NOT_FOUND',
  'AGENT_NOT_FOUND',
  'CWD_NOT_ALLOWED',
  'CWD_NOT_FOUND',
  'LABEL_TAKEN',
  'OPTION_NOT_FOUND',
  'SESSION_NOT_FOUND',
  'RESUME_NOT_SUPPORTED',
]);

/** Prints the error (one line on stderr, JSON on stdout with --json) and exits 2 for bad input, else 1. */
export function fail(e: unknown, json: boolean): never {
  const be = toBatonError(e);
  if (json) out(JSON.stringify({ error: be.toJSON() }));
  err(`baton: ${be.code}: ${be.message}`);
  process.exit(BAD_INPUT_CODES.has(be.code) ? EXIT_BAD_INPUT : 1);
}

/**
 * Runs a command body as a front of the owner of `BATON_HOME` (the daemon, started when none
 * runs), closing the connection afterwards and turning errors into exit codes. The config is
 * checked here first, so a bad one is reported with its key (INVALID_CONFIG) before anything
 * starts. A sub-agent's CLI (`BATON_PARENT_RUN`) says so to the owner: its runs are that run's
 * children, and `delegation.max_depth` holds.
 */
export async function withBaton(
  json: boolean,
  body: (baton: Baton) => Promise<number | void>,
): Promise<void> {
  let baton: OwnerClient | undefined;
  try {
    loadConfig();
    baton = new OwnerClient(
      resolveHome(),
      { kind: 'cli', parentRun: process.env.BATON_PARENT_RUN || undefined },
      { beforeStart: () => loadConfig() },
    );
    const code = await body(baton);
    baton.close();
    process.exit(code ?? 0);
  } catch (e) {
    baton?.close();
    fail(e, json);
  }
}

/**
 * Who answers from this command line: `cli` (a person) when stdin is a terminal and no agent of a
 * baton run started it, else `script` (a program, as approver "caller" accepts and "human" does not).
 */
export function cliChannel(): 'cli' | 'script' {
  return process.stdin.isTTY === true && !process.env.BATON_PARENT_RUN ? 'cli' : 'script';
}
