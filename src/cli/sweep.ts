/**
 * `regnet sweep CONFIG`: sample, train and evaluate every model of a sweep config, one CSV row each.
 * Rerun to resume (same --out-dir); --shard / Slurm / Kubernetes variables split it over machines; --workers splits it
 * over local processes.
 */
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Option, type Command } from 'commander';
import type { EngineChoice } from '../engine/types.js';
import { loadSweepConfig, type ResolvedSweep, type SweepFlags } from '../sweep/config.js';
import { checkSweepSetup } from '../sweep/preflight.js';
import { runSweep, type TrainFn } from '../sweep/run.js';
import { readShardRecord, resolveShard, writeShardRecord } from '../sweep/shard.js';
import { runWorkers, watchParent, WORKER_FLAG } from '../sweep/workers.js';
import { HyperSchema } from '../train/hyper.js';
import { UsageError } from '../util/errors.js';
import { addEngineOptions, parseDevice } from './engine-options.js';
import { checkWritableDir } from '../util/writable.js';
import { addAlias, addProgressOption, parseIntOption, type ProgressMode } from './options.js';
import { onInterrupt } from '../util/interrupt.js';
import { parseSchemaNumber } from './schema-option.js';

interface SweepCliOptions {
  outDir?: string;
  engine?: EngineChoice;
  threads?: number;
  device?: string;
  /** --workers: one device per worker */
  devices?: string[];
  retries: number;
  shard?: string;
  shards?: number;
  workers: number;
  n?: number;
  epochs?: number;
  steps?: number;
  limitTrain?: number;
  limitVal?: number;
  keepCheckpoints?: boolean;
  resultsDir?: string;
  progress: ProgressMode;
  /** a child of --workers (hidden): its parent holds the folder lock, and it stops when the parent is gone */
  worker?: boolean;
}

async function defaultTrainer(): Promise<TrainFn> {
  const mod = await import('../train/run.js');
  return mod.trainModel;
}

/** Stop on the first Ctrl-C (the model in flight checkpoints); a second one 2 s later forces exit. */
export function register(program: Command): void {
  const cmd = program
    .command('sweep')
    .description(
      'sample, train and evaluate the models of a sweep config (configs/sweeps/), one row each in OUT_DIR/sweep.csv; rerun to resume',
    )
    .argument('<config>', 'sweep config: a JSON file or a name in configs/sweeps/')
    .option('--out-dir <dir>', 'output folder (default: runs/<sweep name>)');
  addAlias(cmd, '--out <dir>', 'outDir');
  addEngineOptions(cmd, {
    engineUnset: "the config's",
    threadsUnset: "the config's, else all cores; with --workers K, cores / K each",
  })
    .option(
      '--devices <list>',
      'one device per --workers process, e.g. cuda:0,cuda:1 (--workers defaults to their number)',
      (text: string) => text.split(',').map((d) => parseDevice(d)),
    )
    .option('--retries <n>', 'extra tries for a model whose training fails', parseIntOption('--retries', 0), 0)
    .option('--shard <i/n>', 'run only models with index % n == i (default: from SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX)')
    .option('--shards <n>', 'shard count for JOB_COMPLETION_INDEX (else REGNET_SHARDS) or a Slurm array', parseIntOption('--shards', 1))
    .option(
      '--workers <k>',
      'run K local worker processes (shards i/K) and merge into OUT_DIR/sweep.csv',
      parseIntOption('--workers', 1, 256),
      1,
    )
    .option('--n <n>', "override the config's number of models", parseIntOption('--n', 1))
    .option('--epochs <n>', "override the schedule's epochs", parseSchemaNumber('--epochs', HyperSchema.shape.epochs))
    .option('--steps <n>', "override the schedule's steps", parseSchemaNumber('--steps', HyperSchema.shape.steps))
    .option('--limit-train <n>', 'train on this many images', parseSchemaNumber('--limit-train', HyperSchema.shape.limitTrain))
    .option('--limit-val <n>', 'evaluate on this many images', parseSchemaNumber('--limit-val', HyperSchema.shape.limitVal))
    .option('--keep-checkpoints', 'keep OUT_DIR/checkpoints/<model>/ after a model finishes')
    .option('--results-dir <dir>', 'also merge each model into DIR/results-<dataset>.csv, as regnet train does (with inference throughput)')
    .addOption(new Option(WORKER_FLAG, 'a worker process of --workers').hideHelp());
  addProgressOption(
    cmd,
    'none',
    'per-model training progress on stderr: auto (a bar on a terminal, else lines), plain (lines) or none',
  ).action(async (configArg: string, o: SweepCliOptions) => {
    const workers = checkDeviceOptions(o);
    const sweep = loadForRun(configArg, o, workers);
    const outDir = o.outDir ?? join('runs', sweep.config.name);
    checkWritableDir(outDir, '--out-dir');
    const log = (line: string) => process.stderr.write(`${line}\n`);
    const interrupt = onInterrupt('stopping after the current step (Ctrl-C again to force)', 2000);
    const stop = new AbortController();
    interrupt.signal.addEventListener('abort', () => stop.abort(), { once: true });
    const unwatch = o.worker
      ? watchParent(() => {
          log('the sweep parent process is gone: stopping after the current step');
          stop.abort();
        })
      : () => {};
    try {
      if (workers > 1) await runLocalWorkers(sweep, configArg, outDir, { ...o, workers }, stop.signal, log);
      else await runOneShard(sweep, outDir, o, stop.signal, log);
    } finally {
      unwatch();
      interrupt.dispose();
    }
  });
}

/** --devices: as many workers as devices (a --workers K must agree), never beside --device; returns the worker count. */
function checkDeviceOptions(o: SweepCliOptions): number {
  if (o.devices === undefined) return o.workers;
  if (o.device !== undefined) throw new UsageError('--devices gives each worker its device: leave out --device');
  if (o.worker || o.shard !== undefined || o.shards !== undefined)
    throw new UsageError('--devices goes with --workers, not --shard/--shards');
  const workers = o.workers > 1 ? o.workers : o.devices.length;
  if (workers !== o.devices.length) {
    throw new UsageError(`--devices: ${o.devices.length} device(s) for --workers ${workers}: give one device per worker`);
  }
  return workers;
}

/**
 * The sweep as this process runs it. A --workers parent resolves it as its children will (their thread
 * count: --threads, else the config's, else the cores split; the device kind), so its checks and the
 * hash it logs are the children's.
 */
function loadForRun(configArg: string, o: SweepCliOptions, workers: number): ResolvedSweep {
  if (workers <= 1) return loadSweepConfig(configArg, o);
  const flags: SweepFlags = { ...o, device: o.device ?? o.devices?.[0] };
  const sweep = loadSweepConfig(configArg, flags);
  return sweep.config.threads !== undefined ? sweep : loadSweepConfig(configArg, { ...flags, threads: workerThreads(workers) });
}

/** Threads of each --workers child when neither --threads nor the config says: the cores split between them. */
function workerThreads(workers: number): number {
  return Math.max(1, Math.floor(availableParallelism() / workers));
}

/** --workers K: K child processes, one shard each, then their CSVs merged; the exit code tells how it went. */
async function runLocalWorkers(
  sweep: ResolvedSweep,
  configArg: string,
  outDir: string,
  options: SweepCliOptions,
  signal: AbortSignal,
  log: (line: string) => void,
): Promise<void> {
  if (options.shard !== undefined || options.shards !== undefined || options.worker)
    throw new UsageError('--workers cannot be combined with --shard/--shards');
  // the environment (dataset, data_dir, recipe, engine) is checked before any worker starts; each worker
  // checks the rest (the dataset's files, the engine starting) before its first model
  const devices = options.devices ?? (sweep.config.device !== undefined ? [sweep.config.device] : []);
  await checkSweepSetup(sweep, 'quick', devices);
  // --threads, else the config's, else the cores split (loadForRun put it in the config)
  const threads = sweep.config.threads ?? workerThreads(options.workers);
  const childArgs = ['--threads', String(threads), '--retries', String(options.retries), '--progress', 'none'];
  for (const [flag, value] of [
    ['--engine', options.engine],
    ['--device', options.device],
    ['--n', options.n],
    ['--epochs', options.epochs],
    ['--steps', options.steps],
    ['--limit-train', options.limitTrain],
    ['--limit-val', options.limitVal],
  ] as const) {
    if (value !== undefined) childArgs.push(flag, String(value));
  }
  if (options.keepCheckpoints) childArgs.push('--keep-checkpoints');
  if (options.resultsDir !== undefined) childArgs.push('--results-dir', options.resultsDir);
  const result = await runWorkers({
    config: configArg,
    outDir,
    workers: options.workers,
    childArgs,
    workerArgs: options.devices ? (i) => ['--device', options.devices![i]!] : undefined,
    signal,
    log,
  });
  if (result.merged)
    log(
      `merged ${result.merged.rows.length} rows into ${result.merged.out}${result.merged.missing?.length ? ` (${result.merged.missing.length} models still to run)` : ''}`,
    );
  if (signal.aborted || result.codes.includes(130)) process.exitCode = 130;
  else if (result.codes.some((code) => code !== 0)) {
    log(`worker exit codes: ${result.codes.join(', ')}`);
    process.exitCode = result.codes.find((code) => code !== 0)!;
  }
}

/** This process's shard (all models without --shard or a scheduler's index), trained in turn. */
async function runOneShard(
  sweep: ResolvedSweep,
  outDir: string,
  options: SweepCliOptions,
  signal: AbortSignal,
  log: (line: string) => void,
): Promise<void> {
  const shard = resolveShard({ shard: options.shard, shards: options.shards }, process.env, readShardRecord(outDir, sweep.hash));
  if (shard) log(`shard ${shard.index}/${shard.count} (${shard.source})`);
  const killAfter = Number(process.env.REGNET_SWEEP_KILL_AFTER ?? NaN);
  const summary = await runSweep({
    sweep,
    outDir,
    shard,
    parentPid: options.worker ? process.ppid : undefined,
    preflight: () => checkSweepSetup(sweep),
    beforeFirstWrite: () => {
      // what enters the hash from this machine, once the folder is ours and the setup checked
      const { threads, device } = sweep.config;
      log(`config ${sweep.hash}: ${threads ?? availableParallelism()} thread(s), device ${device ?? 'cpu'}`);
      // a Slurm array's layout, so that a rerun of one task runs its shard of the same count
      writeShardRecord(outDir, sweep.hash, shard);
    },
    retries: options.retries,
    trainer: await defaultTrainer(),
    signal,
    progress: options.progress,
    keepCheckpoints: options.keepCheckpoints,
    resultsDir: options.resultsDir,
    log,
    // test hook: die like `kill -9` right after the N-th row is on disk
    onRow: (_row, written) => {
      if (written >= killAfter) process.kill(process.pid, 'SIGKILL');
    },
  });
  log(
    `${summary.file}: ${summary.rows}/${summary.total} ${(sweep.config.repeats ?? 1) > 1 ? `trainings (${sweep.config.repeats} per model)` : 'models'} (${summary.ok} ok, ${summary.diverged} diverged, ${summary.failed} failed; ` +
      `${summary.trained} trained now, ${summary.skipped} already done)${summary.interrupted ? ', interrupted' : ''}`,
  );
  if (summary.interrupted) process.exitCode = 130;
}
