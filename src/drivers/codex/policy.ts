import type { PermissionPolicy } from '../../engine/types.js';

/** Codex's approval policy and sandbox mode for one of baton's permission policies. */
export type CodexPolicy = {
  approvalPolicy: 'untrusted' | 'on-request';
  sandbox: 'read-only' | 'workspace-write';
};

/**
 * Maps a run's permission policy onto codex's own modes (see `CodexDriver` in index.ts). Never
 * `danger-full-access` and never `never`: whatever codex wants beyond its sandbox reaches baton.
 */
export function codexPolicyFor(policy: PermissionPolicy): CodexPolicy {
  switch (policy) {
    case 'ask':
    case 'auto_edit':
      return { approvalPolicy: 'untrusted', sandbox: 'workspace-write' };
    case 'allow_all':
      return { approvalPolicy: 'on-request', sandbox: 'workspace-write' };
    case 'deny_all':
      return { approvalPolicy: 'untrusted', sandbox: 'read-only' };
    default: {
      const never: never = policy;
      return never;
    }
  }
}
