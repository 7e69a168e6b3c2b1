/** Every error code baton returns to a caller (MCP `error.code`, CLI message prefix, exit codes). */
export const ERROR_CODES = [
  'INVALID_PARAMS',
  'INVALID_CONFIG',
  'RUN_NOT_FOUND',
  'SESSION_NOT_FOUND',
  'SESSION_NOT_RESUMABLE',
  'RESUME_NOT_SUPPORTED',
  'LABEL_TAKEN',
  'LABEL_AMBIGUOUS',
  'AGENT_NOT_FOUND',
  'AGENT_NOT_INSTALLED',
  'AGENT_NOT_READY',
  'AGENT_EXITED',
  'AGENT_ERROR',
  'AGENT_PROTOCOL_ERROR',
  'MODEL_NOT_AVAILABLE',
  'CWD_NOT_ALLOWED',
  'CWD_NOT_FOUND',
  'RUN_NOT_WAITING',
  'ALREADY_ANSWERED',
  'NOT_A_GIT_REPO',
  'GIT_ERROR',
  'NOT_APPROVER',
  'RUN_FINISHED',
  'OPTION_NOT_FOUND',
  'REQUEST_NOT_FOUND',
  'ARTIFACT_NOT_FOUND',
  'EVENT_NOT_FOUND',
  'NOT_SUPPORTED',
  'UNAUTHORIZED',
  'NOT_FOUND',
  'PAYLOAD_TOO_LARGE',
  'FORBIDDEN',
  'HOST_UNREACHABLE',
  'RATE_LIMITED',
  'DAEMON_UNAVAILABLE',
  'DAEMON_VERSION_MISMATCH',
  'TIMED_OUT',
  'INTERRUPTED',
  'STORE_ERROR',
  'INTERNAL',
] as const;

/** One of {@link ERROR_CODES}. */
export type ErrorCode = (typeof ERROR_CODES)[number];

/**
 * The one error class baton throws across layers. `code` is stable and machine-readable;
 * `message` says what went wrong and what to do about it.
 */
export class BatonError extends Error {
  readonly code: ErrorCode;
  readonly details?: Record<string, unknown>;

  constructor(
    code: ErrorCode,
    message: string,
    options?: { cause?: unknown; details?: Record<string, unknown> },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'BatonError';
    this.code = code;
    if (options?.details) this.details = options.details;
  }

  /** The wire shape used by every front end: `{ code, message }`. */
  toJSON(): { code: ErrorCode; message: string } {
    return { code: this.code, message: this.message };
  }
}

/** Converts anything thrown into a BatonError, keeping the original as `cause`. */
export function toBatonError(err: unknown): BatonError {
  if (err instanceof BatonError) return err;
  const message = err instanceof Error ? err.message : String(err);
  const code = (err as { code?: unknown } | null)?.code;
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new BatonError(
      'STORE_ERROR',
      `no space left to write baton's state (${message}); free space in BATON_HOME`,
      {
        cause: err,
      },
    );
  }
  if (typeof code === 'string' && code.startsWith('SQLITE_')) {
    return new BatonError(
      'STORE_ERROR',
      code === 'SQLITE_FULL'
        ? `the disk holding baton's database is full (${message}); free space in BATON_HOME`
        : `the database cannot be written (${code}: ${message})`,
      { cause: err },
    );
  }
  return new BatonError('INTERNAL', message, { cause: err });
}

/** The BatonError a wire answer `{ code, message }` stands for (unknown codes become INTERNAL). */
export function errorFromWire(error: { code?: unknown; message?: unknown }): BatonError {
  const code = (ERROR_CODES as readonly unknown[]).includes(error.code)
    ? (error.code as ErrorCode)
    : 'INTERNAL';
  return new BatonError(code, typeof error.message === 'string' ? error.message : 'unknown error');
}
