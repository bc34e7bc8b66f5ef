/**
 * `regnet train`: train zoo models, a RegNet given by parameters, or rows of sampled-configs CSVs on a
 * real dataset; checkpoints, exact --resume, results files. One model trains here; several train one
 * after another through the sweep runner (src/cli/train-many.ts). Ctrl-C or SIGTERM (preemption)
 * finishes the current step, writes a checkpoint and exits 130; a second one exits at once.
 */
import type { Command } from 'commander';
import { ModelSpecSchema, STEMS, type Stem } from '../arch/spec.js';
import type { EngineChoice } from '../engine/types.js';
import { hasCheckpoint, readCheckpointState } from '../train/checkpoint.js';
import { HyperSchema, type Hyper } from '../train/hyper.js';
import { loadRecipe } from '../train/recipe.js';
import { trainModel } from '../train/run.js';
import type { TrainRequest, TrainResult } from '../train/types.js';
import { UsageError } from '../util/errors.js';
import { checkBatchTensor } from '../util/limits.js';
import { checkWritableDir } from '../util/writable.js';
import { canonicalName } from '../arch/identity.js';
import { addModelListOptions, addModelParamOptions, resolveModelList, type ModelListOptions, type ResolvedModel } from './model-args.js';
import { formatTrainResult, trainMany } from './train-many.js';
import { addAlias, addProgressOption, parseChoice, parseIntOption, STEM_HELP, type ProgressMode } from './options.js';
import { INTERRUPTED_EXIT_CODE, onInterrupt } from '../util/interrupt.js';
import { addEngineOptions } from './engine-options.js';
import { addPrecisionOptions, precisionEngineOptions, type PrecisionCliOptions } from './amp-options.js';
import { parseSchemaNumber } from './schema-option.js';

/** Flags named like HyperSchema's fields take their types from it; --wd is weightDecay. */
export interface TrainOptions
  extends
    ModelListOptions,
    PrecisionCliOptions,
    Partial<
      Pick<Hyper, 'epochs' | 'steps' | 'batchSize' | 'lr' | 'momentum' | 'labelSmoothing' | 'warmupEpochs' | 'limitTrain' | 'limitVal'>
    > {
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
  stem?: Stem;
  imgSize?: number;
  checkpoint?: string;
  resume?: boolean;
  resultsDir: string;
  /** --no-bench: no inference-throughput measurement after evaluation */
  bench: boolean;
  json?: boolean;
  progress: ProgressMode;
}

const H = HyperSchema.shape;

export function register(program: Command): void {
  const cmd = program
    .command('train')
    .description(
      'train models on a dataset (MNIST by default), evaluate top-1/top-5, record results; several models train one after another, resumably',
    )
    .argument('[models...]', 'zoo names, e.g. regnetx_002 resnet18 (add --configs FILE.csv for sampled configs)');
  addModelListOptions(addModelParamOptions(cmd, 'list'))
    .option('--dataset <name>', 'mnist (bundled), fashion-mnist, cifar10, cifar100, folder, imagenet (default: mnist)')
    .option('--data-dir <dir>', 'dataset folder (CIFAR binary batches, image folders, IDX files, or ImageNet with train/ and val/)')
    .option(
      '--class-map <file>',
      "imagenet: timm's class map (one class name per line, index = line number) instead of the 1000 sorted wnids",
    );
  addEngineOptions(cmd)
    .option('--recipe <name|file>', 'digits, cifar, quick, imagenet, or a JSON file (default: by dataset)')
    .option('--epochs <n>', 'epochs (overrides the recipe)', parseSchemaNumber('--epochs', H.epochs))
    .option('--steps <n>', 'total optimiser steps (overrides --epochs)', parseSchemaNumber('--steps', H.steps))
    .option('--batch-size <n>', 'batch size', parseSchemaNumber('--batch-size', H.batchSize))
    .option('--lr <x>', 'peak learning rate', parseSchemaNumber('--lr', H.lr))
    .option('--momentum <x>', 'SGD momentum', parseSchemaNumber('--momentum', H.momentum))
    .option('--wd <x>', 'weight decay (conv and FC weights only)', parseSchemaNumber('--wd', H.weightDecay))
    .option('--label-smoothing <x>', 'label smoothing', parseSchemaNumber('--label-smoothing', H.labelSmoothing))
    .option(
      '--warmup-epochs <x>',
      'linear warm-up length in epochs (fractions allowed)',
      parseSchemaNumber('--warmup-epochs', H.warmupEpochs),
    )
    .option('--augment', 'random crop + flip (the recipe decides by default)')
    .option('--no-augment', 'no augmentation')
    .option('--limit-train <n>', 'train on a class-stratified subset of N images', parseSchemaNumber('--limit-train', H.limitTrain))
    .option('--limit-val <n>', 'evaluate on a fixed class-stratified subset of N test images', parseSchemaNumber('--limit-val', H.limitVal))
    .option('--seed <n>', 'seed of the initial weights, data order and augmentation (default 0)', parseIntOption('--seed', 0))
    .option(
      '--img-size <n>',
      'input image size (px) (default: the dataset image size, imagenet 224; others are resized bilinearly)',
      parseIntOption('--img-size', 8),
    )
    .option('--in-chans <n>', 'input channels: 3 replicates grayscale images (default 3)', parseIntOption('--in-chans', 1, 3))
    .option('--stem <s>', STEM_HELP, parseChoice('--stem', STEMS));
  addPrecisionOptions(cmd);
  addAlias(cmd, '--res <n>', 'imgSize', parseIntOption('--res', 8));
  cmd
    .option(
      '--checkpoint <dir>',
      'write a checkpoint there after every epoch (and on Ctrl-C); with several models, the run folder (default runs/train-<hash>): rerun the command to resume',
    )
    .option('--resume', 'continue from --checkpoint (the model and settings come from it when no model is named)')
    .option('--results-dir <dir>', 'where results-<dataset>.csv and runs.csv go', 'results')
    .option('--no-bench', 'do not measure inference throughput after evaluation (a few seconds per model)')
    .option('--json', 'print the result as JSON on stdout');
  addProgressOption(cmd).action(async (names: string[], o: TrainOptions) => {
    checkBeforeWork(o);
    const fromCli = (k: string) => cmd.getOptionValueSource(k) === 'cli';
    const models = resolveModelList(names, o, o.resume === true);
    if (models.length > 1) {
      await trainMany(models, buildRequest(models[0], o, fromCli), o);
      return;
    }
    const req = buildRequest(models[0], o, fromCli);
    const result = await runWithSigint(req);
    if (result.alreadyFinished)
      process.stderr.write(
        `${req.checkpointDir}: already finished (step ${result.steps}); its saved result, nothing trained or written:\n`,
      );
    if (o.json) process.stdout.write(JSON.stringify(result, null, 2) + '\n');
    else process.stdout.write(formatResult(result) + '\n');
    if (result.status === 'interrupted') process.exitCode = INTERRUPTED_EXIT_CODE;
    else if (result.status === 'diverged') process.exitCode = 1;
  });
}

type Overrides = NonNullable<TrainRequest['overrides']>;

/** What can be checked before the dataset is read: output folders, the recipe file, the batch size. */
function checkBeforeWork(o: TrainOptions): void {
  precisionEngineOptions(o, o.engine, o.device);
  if (o.checkpoint !== undefined) checkWritableDir(o.checkpoint, '--checkpoint');
  checkWritableDir(o.resultsDir, '--results-dir');
  if (o.recipe !== undefined) loadRecipe(o.recipe);
  if (o.batchSize !== undefined && o.imgSize !== undefined)
    checkBatchTensor(o.batchSize, o.inChans ?? 3, o.imgSize, o.imgSize, { batch: '--batch-size', res: '--img-size' });
}

/** Flags -> TrainRequest; with --resume and no model, the checkpoint's own request is the base. */
export function buildRequest(model: ResolvedModel | undefined, o: TrainOptions, fromCli: (key: string) => boolean): TrainRequest {
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

  const common = {
    engine: o.engine,
    threads: o.threads,
    device: o.device,
    checkpointDir: o.checkpoint,
    resume: o.resume,
    resultsDir: o.resultsDir,
    progress: o.progress,
    bench: o.bench,
  };
  if (o.resume && !o.checkpoint) throw new UsageError('--resume needs --checkpoint DIR');
  if (o.resume && !model) {
    if (!hasCheckpoint(o.checkpoint!))
      throw new UsageError(`--resume: no checkpoint in ${o.checkpoint}; name a model to start a new run there`);
    const saved = readCheckpointState(o.checkpoint!).request;
    // the run's precision and layout unless flags say otherwise
    const engine = fromCli('engine') ? o.engine : saved.engine;
    const numeric = precisionEngineOptions(o, engine, o.device ?? saved.device);
    const amp = numeric.amp ?? saved.amp;
    const channelsLast = numeric.channelsLast ?? saved.channelsLast;
    return {
      ...common,
      model: { name: canonicalName(ModelSpecSchema.parse(saved.model.spec)), spec: ModelSpecSchema.parse(saved.model.spec) },
      dataset: o.dataset ?? saved.dataset,
      dataDir: o.dataDir ?? saved.dataDir,
      classMap: o.classMap ?? saved.classMap,
      recipe: o.recipe ?? saved.recipe,
      overrides: { ...(saved.overrides as Overrides | undefined), ...overrides },
      engine,
      threads: o.threads ?? saved.threads,
      device: o.device ?? saved.device,
      ...(amp ? { amp } : {}),
      ...(channelsLast ? { channelsLast } : {}),
      seed: o.seed ?? saved.seed,
      limitTrain: o.limitTrain ?? saved.limitTrain,
      limitVal: o.limitVal ?? saved.limitVal,
    };
  }
  if (!model)
    throw new UsageError(
      'name a model (e.g. regnetx_032), or give --configs FILE.csv, --depth --w0 --wa --wm --group-size, or --config FILE --row ID',
    );
  return {
    ...common,
    ...precisionEngineOptions(o, o.engine, o.device),
    model: { name: model.name, spec: model.spec },
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

/** What `regnet train` prints for one model. */
export const formatResult = formatTrainResult;
