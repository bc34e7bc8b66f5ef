/**
 * `regnet train`: train a zoo model, a RegNet given by parameters, or a row of a sampled-configs CSV on
 * a real dataset; checkpoints, exact --resume, results files. Ctrl-C or SIGTERM (preemption) finishes the
 * current step, writes a checkpoint and exits 130; a second one exits at once.
 */
import type { Command } from 'commander';
import { ModelSpecSchema, STEMS, type Stem } from '../arch/spec.js';
import { ENGINE_CHOICES, type EngineChoice } from '../engine/types.js';
import { hasCheckpoint, readCheckpointState } from '../train/checkpoint.js';
import { trainModel } from '../train/run.js';
import type { TrainRequest, TrainResult } from '../train/types.js';
import { UsageError } from '../util/errors.js';
import { fmtSI } from '../util/format.js';
import { addModelParamOptions, resolveModel, type ModelArgOptions } from './model-args.js';
import { addAlias, addProgressOption, parseChoice, parseFloatOption, parseIntOption, STEM_HELP, type ProgressMode } from './options.js';
import { INTERRUPTED_EXIT_CODE, onInterrupt } from '../util/interrupt.js';

interface TrainOptions extends ModelArgOptions {
  dataset?: string;
  dataDir?: string;
  engine: EngineChoice;
  threads?: number;
  device?: string;
  epochs?: number;
  steps?: number;
  batchSize?: number;
  lr?: number;
  momentum?: number;
  wd?: number;
  labelSmoothing?: number;
  warmupEpochs?: number;
  augment?: boolean;
  recipe?: string;
  limitTrain?: number;
  limitVal?: number;
  seed?: number;
  inChans?: number;
  stem?: Stem;
  imgSize?: number;
  checkpoint?: string;
  resume?: boolean;
  resultsDir: string;
  json?: boolean;
  progress: ProgressMode;
}

export function register(program: Command): void {
  const cmd = program
    .command('train')
    .description('train a model on a dataset (MNIST by default), evaluate top-1/top-5, record results')
    .argument('[model]', 'zoo name, e.g. regnetx_002 or resnet18');
  addModelParamOptions(cmd)
    .option('--dataset <name>', 'mnist (bundled), fashion-mnist, cifar10, cifar100, folder (default: mnist)')
    .option('--data-dir <dir>', 'dataset folder (CIFAR binary batches, image folders, or IDX files)')
    .option('--engine <name>', `compute engine: ${ENGINE_CHOICES.join(', ')}`, parseChoice('--engine', ENGINE_CHOICES), 'auto')
    .option('--threads <n>', 'engine threads (torch; default: all cores)', parseIntOption('--threads', 1))
    .option('--device <d>', 'cpu, cuda, cuda:N (torch)')
    .option('--recipe <name|file>', 'digits, cifar, quick, imagenet, or a JSON file (default: by dataset)')
    .option('--epochs <n>', 'epochs (overrides the recipe)', parseIntOption('--epochs', 1))
    .option('--steps <n>', 'total optimiser steps (overrides --epochs)', parseIntOption('--steps', 1))
    .option('--batch-size <n>', 'batch size', parseIntOption('--batch-size', 1))
    .option('--lr <x>', 'peak learning rate', parseFloatOption('--lr', Number.MIN_VALUE))
    .option('--momentum <x>', 'SGD momentum', parseFloatOption('--momentum', 0, 0.999))
    .option('--wd <x>', 'weight decay (conv and FC weights only)', parseFloatOption('--wd', 0))
    .option('--label-smoothing <x>', 'label smoothing', parseFloatOption('--label-smoothing', 0, 0.99))
    .option('--warmup-epochs <x>', 'linear warm-up length in epochs (fractions allowed)', parseFloatOption('--warmup-epochs', 0))
    .option('--augment', 'random crop + flip (the recipe decides by default)')
    .option('--no-augment', 'no augmentation')
    .option('--limit-train <n>', 'train on a class-stratified subset of N images', parseIntOption('--limit-train', 1))
    .option('--limit-val <n>', 'evaluate on a fixed class-stratified subset of N test images', parseIntOption('--limit-val', 1))
    .option('--seed <n>', 'seed of the initial weights, data order and augmentation (default 0)', parseIntOption('--seed', 0))
    .option('--img-size <n>', 'input image size (px) (default: the dataset image size; others are resized bilinearly)', parseIntOption('--img-size', 8))
    .option('--in-chans <n>', 'input channels: 3 replicates grayscale images (default 3)', parseIntOption('--in-chans', 1, 3))
    .option('--stem <s>', STEM_HELP, parseChoice('--stem', STEMS));
  addAlias(cmd, '--res <n>', 'imgSize', parseIntOption('--res', 8));
  cmd
    .option('--checkpoint <dir>', 'write a checkpoint there after every epoch (and on Ctrl-C)')
    .option('--resume', 'continue from --checkpoint (the model and settings come from it when no model is named)')
    .option('--results-dir <dir>', 'where results-<dataset>.csv and runs.csv go', 'results')
    .option('--json', 'print the result as JSON on stdout');
  addProgressOption(cmd)
    .action(async (model: string | undefined, o: TrainOptions) => {
      const req = buildRequest(model, o, (k) => cmd.getOptionValueSource(k) === 'cli');
      const result = await runWithSigint(req);
      if (o.json) process.stdout.write(JSON.stringify(result, null, 2) + '\n');
      else process.stdout.write(formatResult(result) + '\n');
      if (result.status === 'interrupted') process.exitCode = INTERRUPTED_EXIT_CODE;
      else if (result.status === 'diverged') process.exitCode = 1;
    });
}

type Overrides = NonNullable<TrainRequest['overrides']>;

/** Flags -> TrainRequest; with --resume and no model, the checkpoint's own request is the base. */
export function buildRequest(model: string | undefined, o: TrainOptions, fromCli: (key: string) => boolean): TrainRequest {
  const overrides: Overrides = {};
  const set = <K extends keyof Overrides>(k: K, v: Overrides[K] | undefined) => {
    if (v !== undefined) overrides[k] = v;
  };
  set('epochs', o.epochs);
  set('steps', o.steps);
  set('batchSize', o.batchSize);
  set('lr', o.lr);
  set('momentum', o.momentum);
  set('weightDecay', o.wd);
  set('labelSmoothing', o.labelSmoothing);
  set('warmupEpochs', o.warmupEpochs);
  if (fromCli('augment')) set('augment', o.augment);
  set('inChans', o.inChans);
  set('stem', o.stem);
  set('res', o.imgSize);
  if (o.inChans !== undefined && o.inChans !== 1 && o.inChans !== 3) throw new UsageError(`--in-chans must be 1 or 3, got ${o.inChans}`);

  const hasModel = Boolean(model) || o.depth !== undefined || o.config !== undefined || o.w0 !== undefined;
  const common = {
    engine: o.engine,
    threads: o.threads,
    device: o.device,
    checkpointDir: o.checkpoint,
    resume: o.resume,
    resultsDir: o.resultsDir,
    progress: o.progress,
  };
  if (o.resume && !o.checkpoint) throw new UsageError('--resume needs --checkpoint DIR');
  if (o.resume && !hasModel) {
    if (!hasCheckpoint(o.checkpoint!)) throw new UsageError(`--resume: no checkpoint in ${o.checkpoint}; name a model to start a new run there`);
    const saved = readCheckpointState(o.checkpoint!).request;
    return {
      ...common,
      model: { name: saved.model.name, spec: ModelSpecSchema.parse(saved.model.spec) },
      dataset: o.dataset ?? saved.dataset,
      dataDir: o.dataDir ?? saved.dataDir,
      recipe: o.recipe ?? saved.recipe,
      overrides: { ...(saved.overrides as Overrides | undefined), ...overrides },
      engine: fromCli('engine') ? o.engine : saved.engine,
      threads: o.threads ?? saved.threads,
      device: o.device ?? saved.device,
      seed: o.seed ?? saved.seed,
      limitTrain: o.limitTrain ?? saved.limitTrain,
      limitVal: o.limitVal ?? saved.limitVal,
    };
  }
  const m = resolveModel(model, o);
  return {
    ...common,
    model: { name: m.name, spec: m.spec },
    dataset: o.dataset ?? 'mnist',
    dataDir: o.dataDir,
    recipe: o.recipe,
    overrides,
    seed: o.seed ?? 0,
    limitTrain: o.limitTrain,
    limitVal: o.limitVal,
  };
}

/** Run with Ctrl-C and SIGTERM wired to the request's AbortSignal (first: stop after this step; second: exit). */
export async function runWithSigint(req: TrainRequest): Promise<TrainResult> {
  const intr = onInterrupt('finishing the current step and writing a checkpoint (Ctrl-C again to quit now)');
  try {
    return await trainModel({ ...req, signal: intr.signal });
  } finally {
    intr.dispose();
  }
}

export function formatResult(r: TrainResult): string {
  const head = `${r.model} on ${r.dataset} (${r.engine}, ${r.imgSize}px): ${r.status}`;
  const acc = Number.isNaN(r.top1) ? '' : `  top1 ${r.top1.toFixed(2)}%  top5 ${r.top5.toFixed(2)}%`;
  const tail = `  ${r.epochs} epoch(s), ${r.steps} steps, ${r.trainSeconds.toFixed(1)} s, ${r.imagesPerSec.toFixed(0)} img/s, final loss ${r.finalLoss.toFixed(4)}`;
  const cx = `  params ${fmtSI(r.params)}, flops ${fmtSI(r.flops)}, acts ${fmtSI(r.acts)}`;
  return [head + acc, tail, cx].join('\n');
}
