/**
 * `--workers K` on one machine: K child processes, each `regnet sweep CONFIG --shard i/K`, then one merge
 * into OUT/sweep.csv. The children are the same code path as a Slurm array, so the merged file equals
 * the sequential run's rows (same models, same per-model seeds). The parent holds the folder's lock
 * (sweep/lock.ts) for the whole run, each child its shard's. Children die with their parent: they watch
 * an IPC channel to it (and their parent pid), and when the parent is gone, even killed with SIGKILL,
 * they stop as on Ctrl-C: the model in flight writes its checkpoint, then they exit.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { removeStaleTemps } from '../util/atomic.js';
import { lockSweepFolder } from './lock.js';
import { mergeSweeps, type MergeResult } from './merge.js';
import { shardFileName } from './shard.js';

/** The hidden flag that makes `regnet sweep` a worker of a --workers parent. */
export const WORKER_FLAG = '--worker';

export interface WorkersOptions {
  /** the sweep config argument as the user gave it */
  config: string;
  outDir: string;
  workers: number;
  /** extra CLI arguments for every child (--engine, --threads, --retries, ...) */
  childArgs: string[];
  /** arguments for child i only (its --device) */
  workerArgs?: (i: number) => string[];
  signal?: AbortSignal;
  log?: (line: string) => void;
}

export interface WorkersResult {
  codes: number[];
  merged?: MergeResult;
}

/**
 * The entry file children run: the regnet CLI itself, src/cli/main.ts under tsx, dist/cli/main.js when
 * compiled (a path to spawn, not an import).
 */
export function workerEntry(): string {
  const here = fileURLToPath(import.meta.url);
  const entry = join(dirname(here), '..', 'cli', `main${extname(here)}`);
  if (!existsSync(entry)) throw new Error(`sweep worker entry not found: ${entry}`);
  return entry;
}

export async function runWorkers(o: WorkersOptions): Promise<WorkersResult> {
  const lock = lockSweepFolder(o.outDir, undefined, { purpose: `sweep --workers ${o.workers} (parent)` });
  try {
    // temp files of a merge killed mid-write
    removeStaleTemps(o.outDir);
    return await runChildren(o);
  } finally {
    lock.release();
  }
}

async function runChildren(o: WorkersOptions): Promise<WorkersResult> {
  const log = o.log ?? (() => {});
  const entry = workerEntry();
  const children: ChildProcess[] = [];
  const done: Array<Promise<number>> = [];
  for (let i = 0; i < o.workers; i++) {
    const args = [
      ...process.execArgv,
      entry,
      'sweep',
      o.config,
      '--out',
      o.outDir,
      '--shard',
      `${i}/${o.workers}`,
      WORKER_FLAG,
      ...o.childArgs,
      ...(o.workerArgs?.(i) ?? []),
    ];
    // the IPC channel is how a child learns that this process is gone
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
    children.push(child);
    const prefix = (chunk: Buffer) =>
      chunk
        .toString()
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => `[worker ${i}] ${l}\n`)
        .join('');
    child.stdout!.on('data', (c: Buffer) => process.stderr.write(prefix(c)));
    child.stderr!.on('data', (c: Buffer) => process.stderr.write(prefix(c)));
    done.push(
      new Promise((res) => {
        child.on('close', (code, sig) => res(code ?? (sig === 'SIGINT' ? 130 : 1)));
        child.on('error', (e) => {
          log(`worker ${i} could not start: ${e.message}`);
          res(1);
        });
      }),
    );
  }
  // Forward an interrupt: each child stops after checkpointing its model in flight.
  const onAbort = () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGINT');
  };
  o.signal?.addEventListener('abort', onAbort, { once: true });
  const codes = await Promise.all(done);
  o.signal?.removeEventListener('abort', onAbort);

  const inputs = [
    ...Array.from({ length: o.workers }, (_, i) => join(o.outDir, shardFileName({ index: i, count: o.workers, source: '' }))),
    join(o.outDir, 'sweep.csv'),
  ].filter((f) => existsSync(f));
  const merged = inputs.length ? mergeSweeps(inputs, join(o.outDir, 'sweep.csv')) : undefined;
  return { codes, merged };
}

/**
 * In a worker (started by runWorkers, with an IPC channel): call `onLost` once when the parent process is
 * gone (its channel closes, or this process is handed to another parent). From then on nobody reads this
 * process's output: writes to it must not kill the process before its checkpoint is written. Returns a
 * function that stops watching.
 */
export function watchParent(onLost: () => void): () => void {
  const parent = process.ppid;
  let lost = false;
  const fire = () => {
    if (lost) return;
    lost = true;
    for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {});
    onLost();
  };
  process.on('disconnect', fire);
  // the channel alone must not keep the worker alive once its work is done
  process.channel?.unref();
  const timer = setInterval(() => {
    if (process.ppid !== parent) fire();
  }, 500);
  timer.unref();
  // a worker always starts with a channel: none left means the parent died before this process got here
  if (!process.connected) fire();
  return () => {
    clearInterval(timer);
    process.off('disconnect', fire);
  };
}
