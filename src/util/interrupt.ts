/**
 * Ctrl-C and preemption: the first SIGINT or SIGTERM (a scheduler's preemption or time limit, `kill`)
 * aborts the returned signal, so the work stops after its current step and writes a checkpoint; a second
 * one, later than `forceAfterMs`, exits at once. Both signals act alike; the exit code is 130.
 */
export interface Interrupt {
  signal: AbortSignal;
  /** the signal that arrived first, if any */
  received(): NodeJS.Signals | undefined;
  dispose(): void;
}

export const INTERRUPTED_EXIT_CODE = 130;

export function onInterrupt(message: string, forceAfterMs = 0): Interrupt {
  const ac = new AbortController();
  let first: NodeJS.Signals | undefined;
  let at = 0;
  const handler = (sig: NodeJS.Signals) => {
    if (!first) {
      first = sig;
      at = Date.now();
      // an empty message says nothing (e.g. data-parallel ranks other than 0)
      if (message) process.stderr.write(`\n${sig === 'SIGTERM' ? 'SIGTERM' : 'interrupt'}: ${message}\n`);
      ac.abort();
    } else if (Date.now() - at >= forceAfterMs) {
      // a terminal's Ctrl-C reaches a whole process group at once: only a later signal forces the exit
      process.exit(INTERRUPTED_EXIT_CODE);
    }
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return {
    signal: ac.signal,
    received: () => first,
    dispose: () => {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
    },
  };
}
