/**
 * `regnet sweep CONFIG`: sample, train and evaluate every model of a sweep config, one CSV row each.
 * Rerun to resume; --shard / Slurm / Kubernetes variables split it over machines; --workers splits it
 * over local processes.
 */
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import type { EngineChoice } from '../engine/types.js';
import { loadSweepConfig } from '../sweep/config.js';
import { runSweep, type TrainFn } from '../sweep/run.js';
import { resolveShard } from '../sweep/shard.js';
import { HyperSchema } from '../train/hyper.js';
import { runWorkers } from '../sweep/workers.js';
import { UsageError } from '../util/errors.js';
import { addEngineOptions } from './engine-options.js';
import { parseChoice, parseIntOption } from './options.js';
import { parseSchemaNumber } from './schema-option.js';

interface SweepCliOptions {
  out?: string;
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
  progress: 'auto' | 'plain' | 'none';
}

async function defaultTrainer(): Promise<TrainFn> {
  const mod = await import('../train/run.js');
  return mod.trainModel;
}

/** Stop on the first Ctrl-C (the model in flight checkpoints); a second one 2 s later forces exit. */
function interruptController(): { signal: AbortSignal; dispose: () => void } {
  const ac = new AbortController();
  let first = 0;
  const onInt = () => {
    if (!ac.signal.aborted) {
      first = Date.now();
      process.stderr.write('interrupt: stopping after the current step (Ctrl-C again to force)\n');
      ac.abort();
    } else if (Date.now() - first > 2000) {
      process.exit(130);
    }
  };
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onInt);
  return {
    signal: ac.signal,
    dispose: () => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onInt);
    },
  };
}

export function register(program: Command): void {
  const cmd = program
    .command('sweep')
    .description('sample, train and evaluate the models of a sweep config (configs/sweeps/), one row each in OUT/sweep.csv; rerun to resume')
    .argument('<config>', 'sweep config: a JSON file or a name in configs/sweeps/')
    .option('--out <dir>', 'output folder (default: runs/<sweep name>)');
  addEngineOptions(cmd, { engineUnset: "the config's", threadsUnset: "the config's, else all cores; with --workers K, cores / K each", device: false })
    .option('--retries <n>', 'extra tries for a model whose training fails', parseIntOption('--retries', 0), 0)
    .option('--shard <i/n>', 'run only models with index % n == i (default: from SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX)')
    .option('--shards <n>', 'shard count for JOB_COMPLETION_INDEX (else REGNET_SHARDS) or a Slurm array', parseIntOption('--shards', 1))
    .option('--workers <k>', 'run K local worker processes (shards i/K) and merge into OUT/sweep.csv', parseIntOption('--workers', 1, 256), 1)
    .option('--n <n>', "override the config's number of models", parseIntOption('--n', 1))
    .option('--epochs <n>', "override the schedule's epochs", parseSchemaNumber('--epochs', HyperSchema.shape.epochs))
    .option('--steps <n>', "override the schedule's steps", parseSchemaNumber('--steps', HyperSchema.shape.steps))
    .option('--limit-train <n>', 'train on this many images', parseSchemaNumber('--limit-train', HyperSchema.shape.limitTrain))
    .option('--limit-val <n>', 'evaluate on this many images', parseSchemaNumber('--limit-val', HyperSchema.shape.limitVal))
    .option('--keep-checkpoints', 'keep OUT/checkpoints/<id>/ after a model finishes')
    .option('--progress <mode>', 'per-model training progress: auto, plain or none', parseChoice('--progress', ['auto', 'plain', 'none'] as const), 'none')
    .action(async (configArg: string, o: SweepCliOptions) => {
      const s = loadSweepConfig(configArg, o);
      const c = s.config;
      const outDir = o.out ?? join('runs', c.name);
      const log = (line: string) => process.stderr.write(`${line}\n`);
      const intr = interruptController();
      try {
        if (o.workers > 1) {
          if (o.shard !== undefined || o.shards !== undefined) throw new UsageError('--workers cannot be combined with --shard/--shards');
          const threads = o.threads ?? Math.max(1, Math.floor(availableParallelism() / o.workers));
          const childArgs = ['--threads', String(threads), '--retries', String(o.retries), '--progress', 'none'];
          for (const [flag, v] of [['--engine', o.engine], ['--n', o.n], ['--epochs', o.epochs], ['--steps', o.steps], ['--limit-train', o.limitTrain], ['--limit-val', o.limitVal]] as const) {
            if (v !== undefined) childArgs.push(flag, String(v));
          }
          if (o.keepCheckpoints) childArgs.push('--keep-checkpoints');
          const r = await runWorkers({ config: configArg, outDir, workers: o.workers, childArgs, signal: intr.signal, log });
          if (r.merged) log(`merged ${r.merged.rows.length} rows into ${r.merged.out}${r.merged.missing?.length ? ` (${r.merged.missing.length} models still to run)` : ''}`);
          if (intr.signal.aborted || r.codes.includes(130)) process.exitCode = 130;
          else if (r.codes.some((x) => x !== 0)) {
            log(`worker exit codes: ${r.codes.join(', ')}`);
            process.exitCode = r.codes.find((x) => x !== 0)!;
          }
          return;
        }
        const shard = resolveShard({ shard: o.shard, shards: o.shards });
        if (shard) log(`shard ${shard.index}/${shard.count} (${shard.source})`);
        const killAfter = Number(process.env.REGNET_SWEEP_KILL_AFTER ?? NaN);
        const sum = await runSweep({
          sweep: s,
          outDir,
          shard,
          retries: o.retries,
          trainer: await defaultTrainer(),
          signal: intr.signal,
          progress: o.progress,
          keepCheckpoints: o.keepCheckpoints,
          log,
          // test hook: die like `kill -9` right after the N-th row is on disk
          onRow: (_row, written) => {
            if (written >= killAfter) process.kill(process.pid, 'SIGKILL');
          },
        });
        log(
          `${sum.file}: ${sum.rows}/${sum.total} models (${sum.ok} ok, ${sum.diverged} diverged, ${sum.failed} failed; ` +
            `${sum.trained} trained now, ${sum.skipped} already done)${sum.interrupted ? ', interrupted' : ''}`,
        );
        if (sum.interrupted) process.exitCode = 130;
      } finally {
        intr.dispose();
      }
    });
}
