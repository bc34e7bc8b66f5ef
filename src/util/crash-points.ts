/**
 * Crash tests: REGNET_TEST_CRASH_AT=<point>[@<k>] kills this process with SIGKILL (as a preemption or
 * the OOM killer would) the k-th time (default: the first) it reaches that point. An environment variable
 * only the tests set. Points: `write:<file name>` (an atomic write of that file, after its temp file is
 * complete and before the rename), the checkpoint save's `before-commit`, `after-commit-record`,
 * `mid-commit`, `after-commit`, and the sweep's `sweep-after-row` (a row on disk, its checkpoint not yet
 * removed).
 */
const reached = new Map<string, number>();

export function crashPoint(point: string): void {
  const spec = process.env.REGNET_TEST_CRASH_AT;
  if (!spec) return;
  const at = spec.lastIndexOf('@');
  const name = at > 0 ? spec.slice(0, at) : spec;
  if (name !== point) return;
  const k = at > 0 ? Number(spec.slice(at + 1)) : 1;
  const n = (reached.get(point) ?? 0) + 1;
  reached.set(point, n);
  if (n === k) process.kill(process.pid, 'SIGKILL');
}
