/**
 * `regnet train A B --configs F.csv ...` with several models: they train one after another through the
 * sweep runner (src/sweep/run.ts), the code path `regnet sweep` uses. The run folder (--checkpoint DIR,
 * default runs/train-<hash of the settings and the model list>) holds sweep.csv and the checkpoint of
 * the model in flight, so running the same command again skips the finished models and resumes the
 * interrupted one. Every model trains with the same recipe, flags and --seed, and its row goes to
 * <results-dir>/results-<dataset>[-<split>].csv as with one model.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { isZooName } from '../arch/zoo.js';
import { DATASET_NAMES } from '../data/types.js';
import { resolveSweep, type SweepConfig } from '../sweep/config.js';
import { fromSpec } from '../sweep/models.js';
import { runSweep, type SweepSummary } from '../sweep/run.js';
import { trainModel } from '../train/run.js';
import type { TrainRequest, TrainResult } from '../train/types.js';
import { UsageError } from '../util/errors.js';
import { fmtSI } from '../util/format.js';
import { INTERRUPTED_EXIT_CODE, onInterrupt } from '../util/interrupt.js';
import type { ResolvedModel } from './model-args.js';

export interface TrainManyOptions {
  /** the run folder (else runs/train-<hash>) */
  checkpoint?: string;
  json?: boolean;
}

/** The sweep config a multi-model train amounts to: no space, one seed for every model. */
export function trainSweepConfig(base: TrainRequest): SweepConfig {
  const { res, stem, inChans, ...training } = base.overrides ?? {};
  const dataset = DATASET_NAMES.find((name) => name === base.dataset);
  if (!dataset) throw new UsageError(`--dataset: '${base.dataset}' is not one of ${DATASET_NAMES.join(', ')}`);
  return {
    name: 'train',
    seed: base.seed,
    train_seed: base.seed,
    dataset,
    data_dir: base.dataDir,
    recipe: base.recipe,
    overrides: training,
    limit_train: base.limitTrain,
    limit_val: base.limitVal,
    engine: base.engine,
    threads: base.threads,
    device: base.device,
    res,
    stem,
    in_chans: inChans,
    constraints: {},
  };
}

/** The default run folder: the same settings and model list give the same folder, so a rerun resumes. */
export function defaultRunDir(hash: string, models: ResolvedModel[]): string {
  const h = createHash('sha256')
    .update([hash, ...models.map((m) => m.name)].join('\n'))
    .digest('hex')
    .slice(0, 12);
  return join('runs', `train-${h}`);
}

export async function trainMany(models: ResolvedModel[], base: TrainRequest, o: TrainManyOptions): Promise<SweepSummary> {
  const sweep = resolveSweep(trainSweepConfig(base));
  sweep.models = models.map((m, i) => fromSpec(i, m.spec, 'train', isZooName(m.name), m.name));
  const outDir = o.checkpoint ?? defaultRunDir(sweep.hash, models);
  const log = (line: string) => process.stderr.write(`${line}\n`);
  log(`training ${models.length} models one after another; run folder ${outDir} (rerun the same command to resume)`);
  const results: TrainResult[] = [];
  const interrupt = onInterrupt('finishing the current step and writing a checkpoint (Ctrl-C again to quit now)');
  let summary: SweepSummary;
  try {
    summary = await runSweep({
      sweep,
      outDir,
      trainer: trainModel,
      signal: interrupt.signal,
      progress: base.progress ?? 'auto',
      keepCheckpoints: o.checkpoint !== undefined,
      resultsDir: base.resultsDir,
      bench: base.bench,
      log,
      // a bad dataset, recipe or input size would fail every model alike: stop at the first
      fatal: (e) => e instanceof UsageError,
      onResult: (r) => {
        results.push(r);
        if (!o.json && r.status !== 'interrupted') process.stdout.write(formatTrainResult(r) + '\n');
      },
    });
  } finally {
    interrupt.dispose();
  }
  if (o.json)
    process.stdout.write(
      JSON.stringify(
        results.filter((r) => r.status !== 'interrupted'),
        null,
        2,
      ) + '\n',
    );
  log(
    `${summary.file}: ${summary.rows}/${summary.total} models (${summary.ok} ok, ${summary.diverged} diverged, ${summary.failed} failed; ` +
      `${summary.trained} trained now, ${summary.skipped} already done)${summary.interrupted ? ', interrupted' : ''}` +
      (base.resultsDir ? `; results in ${base.resultsDir}/` : ''),
  );
  if (summary.interrupted) process.exitCode = INTERRUPTED_EXIT_CODE;
  else if (summary.failed > 0 || summary.diverged > 0) process.exitCode = 1;
  return summary;
}

/** What `regnet train` prints for one finished model. */
export function formatTrainResult(r: TrainResult): string {
  const head = `${r.model} on ${r.dataset} (${r.engine}, ${r.imgSize}px): ${r.status}`;
  const acc = Number.isNaN(r.top1) ? '' : `  top1 ${r.top1.toFixed(2)}%  top5 ${r.top5.toFixed(2)}%`;
  const tail = `  ${r.epochs} epoch(s), ${r.steps} steps, ${r.trainSeconds.toFixed(1)} s, ${r.imagesPerSec.toFixed(0)} img/s, final loss ${r.finalLoss.toFixed(4)}`;
  const infer =
    r.inferSamplesPerSec !== undefined && Number.isFinite(r.inferSamplesPerSec)
      ? `, inference ${r.inferSamplesPerSec.toFixed(0)} samples/s`
      : '';
  const cx = `  params ${fmtSI(r.params)}, flops ${fmtSI(r.flops)}, acts ${fmtSI(r.acts)}${infer}`;
  return [head + acc, tail, cx].join('\n');
}
