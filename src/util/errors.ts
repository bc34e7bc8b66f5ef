/**
 * Errors a user can fix: bad flags, bad files, unknown names. The CLI prints their message on one
 * line and exits with code 2, without a stack trace. Anything else is a bug and keeps its stack.
 */
export class UsageError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode = 2) {
    super(message);
    this.name = 'UsageError';
    this.exitCode = exitCode;
  }
}

export function isUsageError(e: unknown): e is UsageError {
  return e instanceof UsageError;
}
