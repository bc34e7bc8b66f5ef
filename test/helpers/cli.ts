/** Run the CLI from source (through tsx) in a child process. */
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * node's arguments that run `regnet` from source; the loader is an absolute path, so the CLI also runs
 * from a working folder outside the repository.
 */
export const CLI_NODE_ARGS = ['--import', fileURLToPath(import.meta.resolve('tsx')), join(ROOT, 'src/cli/main.ts')];

export interface CliResult {
  code: number;
  /** the signal that ended the process, if one did */
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** `regnet ARGS` to its end. `timeoutMs` (default 2 minutes): 0 for no limit. */
export function runCli(
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {},
): CliResult {
  const r = spawnSync(process.execPath, [...CLI_NODE_ARGS, ...args], {
    cwd: opts.cwd ?? ROOT,
    env: { ...process.env, ...opts.env },
    input: opts.input,
    encoding: 'utf8',
    timeout: opts.timeoutMs ?? 120_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  return { code: r.status ?? -1, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

/**
 * `regnet ARGS` started in the repository root, for tests that signal it while it runs: stdin and
 * stdout ignored, stderr piped. `detached` puts it in its own process group (its pid is the group id).
 */
export function spawnCli(args: string[], opts: { env?: NodeJS.ProcessEnv; detached?: boolean } = {}) {
  return spawn(process.execPath, [...CLI_NODE_ARGS, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...opts.env },
    detached: opts.detached ?? false,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
}

export { ROOT };
