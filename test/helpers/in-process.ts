/**
 * Run the CLI inside this process (src/cli/index.ts `main`), with stdout and stderr captured: tens of
 * milliseconds a command instead of a second for a fresh node + tsx. The bad-input suite runs its cases
 * this way in a child process (test/helpers/bad-input-runner.ts): in the test process itself the capture
 * would also swallow the test runner's reports.
 */
import { main } from '../../src/cli/index.js';

export interface InProcessResult {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

/** `regnet ARGS` in `cwd`; a bug that escapes main() shows as code 1 with its stack on stderr. */
export async function runInProcess(args: string[], cwd: string): Promise<InProcessResult> {
  const writeOut = process.stdout.write;
  const writeErr = process.stderr.write;
  const before = process.cwd();
  let stdout = '';
  let stderr = '';
  const capture = (into: 'out' | 'err') =>
    ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
      if (into === 'out') stdout += text;
      else stderr += text;
      const done = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
      done?.();
      return true;
    }) as typeof process.stdout.write;
  const started = performance.now();
  let code: number;
  process.exitCode = undefined;
  process.chdir(cwd);
  process.stdout.write = capture('out');
  process.stderr.write = capture('err');
  try {
    code = await main(['node', 'regnet', ...args]);
  } catch (e) {
    code = 1;
    stderr += `${(e as Error)?.stack ?? String(e)}\n`;
  } finally {
    process.stdout.write = writeOut;
    process.stderr.write = writeErr;
    process.chdir(before);
    process.exitCode = undefined;
  }
  return { code, stdout, stderr, ms: performance.now() - started };
}
