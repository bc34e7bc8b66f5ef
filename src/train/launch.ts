/**
 * `--nproc-per-node N`: this process becomes a launcher that starts N local ranks, each this same
 * command as a child process with torchrun's variables (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE,
 * MASTER_ADDR=127.0.0.1 and a free MASTER_PORT). Children run in their own process group so that a
 * terminal's Ctrl-C reaches them once, forwarded by the launcher (a second Ctrl-C forwards again: quit).
 * The launcher exits with the first failing rank's code; a rank that fails (not interrupted) takes the
 * others down, since they would wait for it in their next collective.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { availableParallelism } from 'node:os';
import { INTERRUPTED_EXIT_CODE } from '../util/interrupt.js';

/** Marks a child started by the launcher (it is a rank, not another launcher). */
export const LAUNCHED_ENV = 'REGNET_DIST_LAUNCHER';

/** A TCP port nobody listens on at 127.0.0.1 right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Engine threads per rank when --threads is not given: the cores shared out, at least 1. */
export function threadsPerRank(localWorld: number, cores = availableParallelism()): number {
  return Math.max(1, Math.floor(cores / Math.max(1, localWorld)));
}

export interface LaunchOptions {
  nproc: number;
  /** the command line to run as every rank (default: this process's) */
  argv?: string[];
  env?: NodeJS.ProcessEnv;
  port?: number;
}

/** Start the ranks and wait for all of them; resolves to the exit code the launcher should end with. */
export async function launchLocalRanks(o: LaunchOptions): Promise<number> {
  const port = o.port ?? (await freePort());
  const argv = o.argv ?? [...process.execArgv, ...process.argv.slice(1)];
  const children: ChildProcess[] = [];
  const codes: (number | null)[] = new Array(o.nproc).fill(null);
  let failed = false;
  const exits = Array.from({ length: o.nproc }, (_, rank) => {
    const child = spawn(process.execPath, argv, {
      stdio: 'inherit',
      detached: true,
      env: {
        ...(o.env ?? process.env),
        RANK: String(rank),
        WORLD_SIZE: String(o.nproc),
        LOCAL_RANK: String(rank),
        LOCAL_WORLD_SIZE: String(o.nproc),
        MASTER_ADDR: '127.0.0.1',
        MASTER_PORT: String(port),
        [LAUNCHED_ENV]: '1',
      },
    });
    children.push(child);
    return new Promise<void>((resolve) => {
      child.on('error', (e) => {
        process.stderr.write(`regnet: error: rank ${rank}: ${e.message}\n`);
        codes[rank] = 1;
        resolve();
      });
      child.on('exit', (code, signal) => {
        codes[rank] = code ?? (signal ? 128 + 9 : 1);
        if (codes[rank] !== 0 && codes[rank] !== INTERRUPTED_EXIT_CODE && !failed) {
          failed = true;
          // the others would wait for this rank in their next collective until the timeout
          for (const c of children) if (c !== child && c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
        }
        resolve();
      });
    });
  });
  const forward = (sig: NodeJS.Signals) => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill(sig);
  };
  const onExit = () => forward('SIGKILL');
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  process.on('exit', onExit);
  try {
    await Promise.all(exits);
  } finally {
    process.off('SIGINT', forward);
    process.off('SIGTERM', forward);
    process.off('exit', onExit);
  }
  // a real failure first, then an interruption, else success
  const bad = codes.find((c) => c !== 0 && c !== INTERRUPTED_EXIT_CODE && c !== 137);
  if (bad !== undefined && bad !== null) return bad;
  if (codes.some((c) => c === 137)) return 137;
  if (codes.some((c) => c === INTERRUPTED_EXIT_CODE)) return INTERRUPTED_EXIT_CODE;
  return 0;
}
