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

/**
 * A UsageError of the environment or the configuration (unknown dataset, missing data folder, bad
 * recipe, engine not available), not of one model: a batch of runs (a sweep) stops on it instead of
 * recording it against the model it happened to be training.
 */
export class SetupError extends UsageError {}

/** `e` as a SetupError when it is a user error or a system error (ENOENT, EACCES, ...); anything else unchanged. */
export function asSetupError(e: unknown): unknown {
  if (e instanceof SetupError) return e;
  if (e instanceof UsageError) return new SetupError(e.message, e.exitCode);
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  if (e instanceof Error && typeof code === 'string' && /^E[A-Z]+$/.test(code)) return new SetupError(e.message.split('\n')[0]!);
  return e;
}
