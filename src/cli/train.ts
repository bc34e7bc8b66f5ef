/**
 * `regnet train`: train a zoo model, a RegNet given by parameters, or a row of a sampled-configs CSV on
 * a real dataset; checkpoints, exact --resume, results files. Ctrl-C or SIGTERM (preemption) finishes the
 * current step, writes a checkpoint and exits 130; a second one exits at once.
 */
import type { Command } from 'commander';
import { ModelSpecSchema } from '../arch/spec.js';
import type { EngineChoice } from '../engine/types.js';
import { hasCheckpoint, readCheckpointState } from '../train/checkpoint.js';
import { HyperSchema, type Hyper } from '../train/hyper.js';
import { trainModel } from '../train/run.js';
import type { TrainRequest, TrainResult } from '../train/types.js';
import { UsageError } from '../util/errors.js';
import { fmtSI } from '../util/format.js';
import { addModelParamOptions, resolveModel, type ModelArgOptions } from './model-args.js';
import { INTERRUPTED_EXIT_CODE, onInterrupt } from '../util/interrupt.js';
import { addEngineOptions } from './engine-options.js';
import { parseChoice, parseIntOption } from './options.js';
import { parseSchemaNumber } from './schema-option.js';

/** Flags named like HyperSchema's fields take their types from it; --wd is weightDecay. */
interface TrainOptions extends ModelArgOptions, Partial<Pick<Hyper, 'epochs' | 'steps' | 'batchSize' | 'lr' | 'momentum' | 'labelSmoothing' | 'warmupEpochs' | 'limitTrain' | 'limitVal'>> {
  dataset?: string;
  dataDir?: string;
  classMap?: string;
  engine: EngineChoice;
  threads?: number;
  device?: string;
  wd?: Hyper['weightDecay'];
  augment?: boolean;
  recipe?: string;
  seed?: number;
  inChans?: number;
  stem?: 'small' | 'imagenet';
  res?: number;
  imgSize?: number;
  checkpoint?: string;
  resume?: boolean;
  resultsDir: string;
  json?: boolean;
  progress: 'auto' | 'plain' | 'none';
}

const PROGRESS = ['auto', 'plain', 'none'] as const;
const H = HyperSchema.shape;

export function register(program: Command): void {
  const cmd = program
    .command('train')
    .description('train a model on a dataset (MNIST by default), evaluate top-1/top-5, record results')
    .argument('[model]', 'zoo name, e.g. regnetx_002 or resnet18');
  addModelParamOptions(cmd)
    .option('--dataset <name>', 'mnist (bundled), fashion-mnist, cifar10, cifar100, folder, imagenet (default: mnist)')
    .option('--data-dir <dir>', 'dataset folder (CIFAR binary batches, image folders, IDX files, or ImageNet with train/ and val/)')
    .option('--class-map <file>', "imagenet: timm's class map (one class name per line, index = line number) instead of the 1000 sorted wnids");
  addEngineOptions(cmd)
    .option('--recipe <name|file>', 'digits, cifar, quick, imagenet, or a JSON file (default: by dataset)')
    .option('--epochs <n>', 'epochs (overrides the recipe)', parseSchemaNumber('--epochs', H.epochs))
    .option('--steps <n>', 'total optimiser steps (overrides --epochs)', parseSchemaNumber('--steps', H.steps))
    .option('--batch-size <n>', 'batch size', parseSchemaNumber('--batch-size', H.batchSize))
    .option('--lr <x>', 'peak learning rate', parseSchemaNumber('--lr', H.lr))
    .option('--momentum <x>', 'SGD momentum', parseSchemaNumber('--momentum', H.momentum))
    .option('--wd <x>', 'weight decay (conv and FC weights only)', parseSchemaNumber('--wd', H.weightDecay))
    .option('--label-smoothing <x>', 'label smoothing', parseSchemaNumber('--label-smoothing', H.labelSmoothing))
    .option('--warmup-epochs <x>', 'linear warm-up length in epochs (fractions allowed)', parseSchemaNumber('--warmup-epochs', H.warmupEpochs))
    .option('--augment', 'random crop + flip (the recipe decides by default)')
    .option('--no-augment', 'no augmentation')
    .option('--limit-train <n>', 'train on a class-stratified subset of N images', parseSchemaNumber('--limit-train', H.limitTrain))
    .option('--limit-val <n>', 'evaluate on a fixed class-stratified subset of N test images', parseSchemaNumber('--limit-val', H.limitVal))
    .option('--seed <n>', 'seed of the initial weights, data order and augmentation (default 0)', parseIntOption('--seed', 0))
    .option('--in-chans <n>', 'input channels: 3 replicates grayscale images (default 3)', parseIntOption('--in-chans', 1, 3))
    .option('--stem <s>', 'small (3x3 s1, default below 64 px) or imagenet', parseChoice('--stem', ['small', 'imagenet'] as const))
    .option('--res <n>', 'input resolution (default: the dataset image size; others are resized bilinearly; imagenet: 224)', parseIntOption('--res', 8))
    .option('--img-size <n>', 'the same as --res (timm\'s name)', parseIntOption('--img-size', 8))
    .option('--checkpoint <dir>', 'write a checkpoint there after every epoch (and on Ctrl-C)')
    .option('--resume', 'continue from --checkpoint (the model and settings come from it when no model is named)')
    .option('--results-dir <dir>', 'where results-<dataset>.csv and runs.csv go', 'results')
    .option('--progress <mode>', 'auto (bar on a terminal), plain lines, none', parseChoice('--progress', PROGRESS), 'auto')
    .option('--json', 'print the result as JSON on stdout')
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
  if (o.res !== undefined && o.imgSize !== undefined && o.res !== o.imgSize) throw new UsageError(`--res ${o.res} and --img-size ${o.imgSize} disagree (they are one setting)`);
  set('res', o.res ?? o.imgSize);
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
      classMap: o.classMap ?? saved.classMap,
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
    classMap: o.classMap,
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
