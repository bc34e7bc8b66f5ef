/**
 * `regnet sweep CONFIG`: sample, train and evaluate every model of a sweep config, one CSV row each.
 * Rerun to resume (same --out-dir); --shard / Slurm / Kubernetes variables split it over machines; --workers splits it
 * over local processes.
 */
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { ENGINE_CHOICES, type EngineChoice } from '../engine/types.js';
import { loadSweepConfig, type ResolvedSweep } from '../sweep/config.js';
import { runSweep, type TrainFn } from '../sweep/run.js';
import { resolveShard } from '../sweep/shard.js';
import { runWorkers } from '../sweep/workers.js';
import { UsageError } from '../util/errors.js';
import { addAlias, addProgressOption, parseChoice, parseIntOption, type ProgressMode } from './options.js';
import { onInterrupt } from '../util/interrupt.js';

interface SweepCliOptions {
  outDir?: string;
  engine?: EngineChoice;
  threads?: number;
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
  progress: ProgressMode;
}

async function defaultTrainer(): Promise<TrainFn> {
  const mod = await import('../train/run.js');
  return mod.trainModel;
}

/** Stop on the first Ctrl-C (the model in flight checkpoints); a second one 2 s later forces exit. */
export function register(program: Command): void {
  const cmd = program
    .command('sweep')
    .description('sample, train and evaluate the models of a sweep config (configs/sweeps/), one row each in OUT_DIR/sweep.csv; rerun to resume')
    .argument('<config>', 'sweep config: a JSON file or a name in configs/sweeps/')
    .option('--out-dir <dir>', 'output folder (default: runs/<sweep name>)');
  addAlias(cmd, '--out <dir>', 'outDir');
  cmd
    .option('--engine <name>', `override the config's engine (${ENGINE_CHOICES.join(', ')})`, parseChoice('--engine', ENGINE_CHOICES))
    .option('--threads <n>', 'engine threads per process', parseIntOption('--threads', 1))
    .option('--retries <n>', 'extra tries for a model whose training fails', parseIntOption('--retries', 0), 0)
    .option('--shard <i/n>', 'run only models with index % n == i (default: from SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX)')
    .option('--shards <n>', 'shard count for JOB_COMPLETION_INDEX (else REGNET_SHARDS) or a Slurm array', parseIntOption('--shards', 1))
    .option('--workers <k>', 'run K local worker processes (shards i/K) and merge into OUT_DIR/sweep.csv', parseIntOption('--workers', 1, 256), 1)
    .option('--n <n>', "override the config's number of models", parseIntOption('--n', 1))
    .option('--epochs <n>', "override the schedule's epochs", parseIntOption('--epochs', 1))
    .option('--steps <n>', "override the schedule's steps", parseIntOption('--steps', 1))
    .option('--limit-train <n>', 'train on this many images', parseIntOption('--limit-train', 1))
    .option('--limit-val <n>', 'evaluate on this many images', parseIntOption('--limit-val', 1))
    .option('--keep-checkpoints', 'keep OUT_DIR/checkpoints/<id>/ after a model finishes');
  addProgressOption(cmd, 'none', 'per-model training progress on stderr: auto (a bar on a terminal, else lines), plain (lines) or none')
    .action(async (configArg: string, o: SweepCliOptions) => {
      const sweep = loadSweepConfig(configArg, o);
      const outDir = o.outDir ?? join('runs', sweep.config.name);
      const log = (line: string) => process.stderr.write(`${line}\n`);
      const interrupt = onInterrupt('stopping after the current step (Ctrl-C again to force)', 2000);
      try {
        if (o.workers > 1) await runLocalWorkers(configArg, outDir, o, interrupt.signal, log);
        else await runOneShard(sweep, outDir, o, interrupt.signal, log);
      } finally {
        interrupt.dispose();
      }
    });
}

/** --workers K: K child processes, one shard each, then their CSVs merged; the exit code tells how it went. */
async function runLocalWorkers(configArg: string, outDir: string, options: SweepCliOptions, signal: AbortSignal, log: (line: string) => void): Promise<void> {
  if (options.shard !== undefined || options.shards !== undefined) throw new UsageError('--workers cannot be combined with --shard/--shards');
  const threads = options.threads ?? Math.max(1, Math.floor(availableParallelism() / options.workers));
  const childArgs = ['--threads', String(threads), '--retries', String(options.retries), '--progress', 'none'];
  for (const [flag, value] of [['--engine', options.engine], ['--n', options.n], ['--epochs', options.epochs], ['--steps', options.steps], ['--limit-train', options.limitTrain], ['--limit-val', options.limitVal]] as const) {
    if (value !== undefined) childArgs.push(flag, String(value));
  }
  if (options.keepCheckpoints) childArgs.push('--keep-checkpoints');
  const result = await runWorkers({ config: configArg, outDir, workers: options.workers, childArgs, signal, log });
  if (result.merged) log(`merged ${result.merged.rows.length} rows into ${result.merged.out}${result.merged.missing?.length ? ` (${result.merged.missing.length} models still to run)` : ''}`);
  if (signal.aborted || result.codes.includes(130)) process.exitCode = 130;
  else if (result.codes.some((code) => code !== 0)) {
    log(`worker exit codes: ${result.codes.join(', ')}`);
    process.exitCode = result.codes.find((code) => code !== 0)!;
  }
}

/** This process's shard (all models without --shard or a scheduler's index), trained in turn. */
async function runOneShard(sweep: ResolvedSweep, outDir: string, options: SweepCliOptions, signal: AbortSignal, log: (line: string) => void): Promise<void> {
  const shard = resolveShard({ shard: options.shard, shards: options.shards });
  if (shard) log(`shard ${shard.index}/${shard.count} (${shard.source})`);
  const killAfter = Number(process.env.REGNET_SWEEP_KILL_AFTER ?? NaN);
  const summary = await runSweep({
    sweep,
    outDir,
    shard,
    retries: options.retries,
    trainer: await defaultTrainer(),
    signal,
    progress: options.progress,
    keepCheckpoints: options.keepCheckpoints,
    log,
    // test hook: die like `kill -9` right after the N-th row is on disk
    onRow: (_row, written) => {
      if (written >= killAfter) process.kill(process.pid, 'SIGKILL');
    },
  });
  log(
    `${summary.file}: ${summary.rows}/${summary.total} models (${summary.ok} ok, ${summary.diverged} diverged, ${summary.failed} failed; ` +
      `${summary.trained} trained now, ${summary.skipped} already done)${summary.interrupted ? ', interrupted' : ''}`,
  );
  if (summary.interrupted) process.exitCode = 130;
}
