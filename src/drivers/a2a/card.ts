import type { AgentCapabilities, AgentEntry, AgentInfo } from '../../agents/catalog.js';
import type { A2aAgentConfig } from './options.js';

/** A remote agent (driver a2a) as configured. */
export type RemoteAgent = {
  url: string;
  token?: string;
  tokenEnv?: string;
  headers: Record<string, string>;
};

/** Remote A2A agents: tasks continue by context id; permissions come back as input-required. */
export const A2A_CAPABILITIES: AgentCapabilities = {
  resume: true,
  permissions: true,
  structured_output: true,
  cancel: true,
  terminal: false,
};

/** The remote agent of a configured a2a agent. */
export function remoteOf(a: A2aAgentConfig): RemoteAgent {
  return {
    url: a.url,
    ...(a.token ? { token: a.token } : {}),
    ...(a.token_env ? { tokenEnv: a.token_env } : {}),
    headers: a.headers ?? {},
  };
}

/** The HTTP headers for a remote agent: its own, plus `Authorization: Bearer` from token or token_env. */
export function remoteHeaders(
  remote: RemoteAgent,
  env: NodeJS.ProcessEnv = process.env,
): Record<string, string> {
  const token = remote.token ?? (remote.tokenEnv ? env[remote.tokenEnv] : undefined);
  return { ...remote.headers, ...(token ? { Authorization: `Bearer ${token}` } : {}) };
}

/** Why a remote agent cannot be called now (its token variable is not set), with the fix. */
export function remoteProblem(
  remote: RemoteAgent,
  env: NodeJS.ProcessEnv,
): { code: 'AGENT_NOT_READY'; problem: string; fix: string } | undefined {
  const { tokenEnv, token } = remote;
  if (!token && tokenEnv && !env[tokenEnv]) {
    return {
      code: 'AGENT_NOT_READY',
      problem: `${tokenEnv} is not set (the bearer token of the remote agent at ${remote.url})`,
      fix: `set ${tokenEnv} in baton's environment to the remote baton's token`,
    };
  }
  return undefined;
}

/**
 * A remote agent is ready when its agent card can be fetched with its headers (5 s at most): the
 * card's version is reported; a refused token or an unreachable host is the problem, with the fix.
 */
export async function inspectRemote(
  entry: AgentEntry,
  remote: RemoteAgent,
  base: Omit<AgentInfo, 'installed' | 'ready'>,
  env: NodeJS.ProcessEnv,
): Promise<AgentInfo> {
  const problem = remoteProblem(remote, env);
  if (problem) return { ...base, installed: true, ready: false, problem: problem.problem, fix: problem.fix };
  const cardUrl = new URL(
    '.well-known/agent-card.json',
    remote.url.endsWith('/') ? remote.url : `${remote.url}/`,
  );
  try {
    const res = await fetch(cardUrl, {
      headers: { ...remoteHeaders(remote, env), 'A2A-Version': '1.0' },
      // A remote baton answers its card only after inspecting its own agents (each CLI's
      // --version): on a loaded 2-core machine that took over 5 s in CI. A host that refuses or is
      // unknown still fails at once.
      signal: AbortSignal.timeout(15_000),
    });
    if (res.status === 401 || res.status === 403) {
      return {
        ...base,
        installed: true,
        ready: false,
        problem: `${cardUrl.origin} refused the token (HTTP ${res.status})`,
        fix: `set agents.${entry.name}.token or token_env to the remote baton's token`,
      };
    }
    if (!res.ok) {
      return {
        ...base,
        installed: true,
        ready: false,
        problem: `no agent card at ${cardUrl.href} (HTTP ${res.status})`,
        fix: `check agents.${entry.name}.url (a baton serves its agents at http://host:port/a2a/<agent>/ with --a2a)`,
      };
    }
    const card = (await res.json()) as { version?: unknown };
    return {
      ...base,
      installed: true,
      ready: true,
      ...(typeof card.version === 'string' ? { version: card.version } : {}),
    };
  } catch (err) {
    return {
      ...base,
      installed: true,
      ready: false,
      problem: `cannot reach ${cardUrl.origin}: ${err instanceof Error ? err.message : String(err)}`,
      fix: `start the remote baton (baton serve --a2a) or fix agents.${entry.name}.url`,
    };
  }
}
