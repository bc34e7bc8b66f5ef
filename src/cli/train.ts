/**
 * `regnet train`: train zoo models, a RegNet given by parameters, or rows of sampled-configs CSVs on a
 * real dataset; checkpoints, exact --resume, results files. One model trains here; several train one
 * after another through the sweep runner (src/cli/train-many.ts). Ctrl-C or SIGTERM (preemption)
 * finishes the current step, writes a checkpoint and exits 130; a second one exits at once.
 */
import { InvalidArgumentError, type Command } from 'commander';
import { canonicalAa } from '../data/randaugment.js';
import { ModelSpecSchema, STEMS, type Stem } from '../arch/spec.js';
import type { EngineChoice } from '../engine/types.js';
import { hasCheckpoint, readCheckpointState } from '../train/checkpoint.js';
import { HyperSchema, OPTIMIZERS, type Hyper } from '../train/hyper.js';
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
import { distributedFromEnv } from '../engine/torch/dist.js';
import type { DistributedSpec } from '../engine/types.js';
import { LAUNCHED_ENV, launchLocalRanks, threadsPerRank } from '../train/launch.js';

/** Flags named like HyperSchema's fields take their types from it; --wd is weightDecay. */
export interface TrainOptions
  extends
    ModelListOptions,
    PrecisionCliOptions,
    Partial<
      Pick<
        Hyper,
        | 'epochs'
        | 'steps'
        | 'batchSize'
        | 'lr'
        | 'momentum'
        | 'labelSmoothing'
        | 'warmupEpochs'
        | 'limitTrain'
        | 'limitVal'
        | 'opt'
        | 'ema'
        | 'emaDecay'
        | 'mixup'
        | 'cutmix'
        | 'mixupProb'
        | 'mixupSwitchProb'
        | 'dropPath'
        | 'gradAccumSteps'
      >
    > {
  dataset?: string;
  dataDir?: string;
  classMap?: string;
  engine: EngineChoice;
  threads?: number;
  device?: string;
  wd?: Hyper['weightDecay'];
  augment?: boolean;
  /** timm's RandAugment string, checked (canonical form) */
  aa?: string;
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
  /** start this many local data-parallel ranks */
  nprocPerNode?: number;
  /** data-parallel: synchronised BatchNorm */
  syncBn?: boolean;
}

const H = HyperSchema.shape;

/** --aa: 'none' or a RandAugment string in its canonical form; a bad one is a one-line error naming the form. */
function parseAa(text: string): string {
  try {
    return canonicalAa(text) ?? 'none';
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
}

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
    .option(
      '--opt <name>',
      `optimiser: ${OPTIMIZERS.join(', ')} (AdamW: torch's betas and eps, decoupled decay)`,
      parseChoice('--opt', OPTIMIZERS),
    )
    .option('--ema', 'keep an EMA of the weights and BN buffers; it is evaluated (its own results row) and saved beside them')
    .option('--no-ema', 'no weight EMA')
    .option('--ema-decay <x>', 'EMA decay per optimiser step (default 0.9998)', parseSchemaNumber('--ema-decay', H.emaDecay))
    .option('--mixup <alpha>', "mixup Beta(alpha, alpha), timm's batch mode (0: off)", parseSchemaNumber('--mixup', H.mixup))
    .option('--cutmix <alpha>', 'cutmix Beta(alpha, alpha) (0: off)', parseSchemaNumber('--cutmix', H.cutmix))
    .option('--mixup-prob <p>', 'probability that a batch is mixed (default 1)', parseSchemaNumber('--mixup-prob', H.mixupProb))
    .option(
      '--mixup-switch-prob <p>',
      'with mixup and cutmix both on: probability of cutmix for a mixed batch (default 0.5)',
      parseSchemaNumber('--mixup-switch-prob', H.mixupSwitchProb),
    )
    .option('--drop-path <r>', "stochastic depth rate (timm's per-block schedule up to r)", parseSchemaNumber('--drop-path', H.dropPath))
    .option(
      '--grad-accum-steps <k>',
      'micro-batches of --batch-size per optimiser step (default 1)',
      parseSchemaNumber('--grad-accum-steps', H.gradAccumSteps),
    )
    .option('--augment', 'random crop + flip (the recipe decides by default)')
    .option('--no-augment', 'no augmentation')
    .option(
      '--aa <policy>',
      "RandAugment, timm's string: rand-m9-mstd0.5 (also -n2, -p0.5, -mmax10, -inc1), or none (default: the recipe's)",
      parseAa,
    )
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
    .option('--json', 'print the result as JSON on stdout')
    .option(
      '--nproc-per-node <n>',
      'data-parallel: start N local ranks (torch engine, Gloo on CPU); --batch-size is per rank, the global batch N times it. Under torchrun-style RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT or srun (SLURM_PROCID, SLURM_NTASKS) every process is a rank without this flag',
      parseIntOption('--nproc-per-node', 1, 1024),
    )
    .option('--sync-bn', 'data-parallel: BatchNorm with the statistics of the global batch (all ranks), as SyncBatchNorm');
  addProgressOption(cmd).action(async (names: string[], o: TrainOptions) => {
    checkBeforeWork(o);
    const fromCli = (k: string) => cmd.getOptionValueSource(k) === 'cli';
    const models = resolveModelList(names, o, o.resume === true);
    const launched = process.env[LAUNCHED_ENV] === '1';
    const dist = distributedFromEnv();
    if ((o.nprocPerNode ?? 1) > 1 && !launched) {
      if (dist)
        throw new UsageError(
          `--nproc-per-node: this process is already rank ${dist.rank} of ${dist.world} (${dist.source} variables); drop --nproc-per-node or those variables`,
        );
      if (models.length > 1) throw new UsageError('--nproc-per-node: data-parallel training takes one model');
      buildRequest(models[0], o, fromCli);
      process.exitCode = await launchLocalRanks({ nproc: o.nprocPerNode! });
      return;
    }
    if (dist && models.length > 1) throw new UsageError(`data-parallel training (${dist.world} ranks) takes one model`);
    if (models.length > 1) {
      await trainMany(models, buildRequest(models[0], o, fromCli), o);
      return;
    }
    const req = buildRequest(models[0], o, fromCli, dist);
    const result = await runWithSigint(req);
    // data-parallel: rank 0 speaks for the job
    if (dist && dist.rank !== 0) {
      if (result.status === 'interrupted') process.exitCode = INTERRUPTED_EXIT_CODE;
      else if (result.status === 'diverged') process.exitCode = 1;
      return;
    }
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
export function buildRequest(
  model: ResolvedModel | undefined,
  o: TrainOptions,
  fromCli: (key: string) => boolean,
  dist?: DistributedSpec,
): TrainRequest {
  const overrides: Overrides = {};
  const set = <K extends keyof Overrides>(k: K, v: Overrides[K] | undefined) => {
    if (v !== undefined) overrides[k] = v;
  };
  set('epochs', o.epochs);
  set('steps', o.steps);
  // --batch-size is per rank; the request carries the global batch
  set('batchSize', o.batchSize !== undefined && dist ? o.batchSize * dist.world : o.batchSize);
  set('lr', o.lr);
  set('momentum', o.momentum);
  set('weightDecay', o.wd);
  set('labelSmoothing', o.labelSmoothing);
  set('warmupEpochs', o.warmupEpochs);
  if (fromCli('augment')) set('augment', o.augment);
  set('aa', o.aa);
  set('opt', o.opt);
  if (fromCli('ema')) set('ema', o.ema);
  set('emaDecay', o.emaDecay);
  set('mixup', o.mixup);
  set('cutmix', o.cutmix);
  set('mixupProb', o.mixupProb);
  set('mixupSwitchProb', o.mixupSwitchProb);
  set('dropPath', o.dropPath);
  set('gradAccumSteps', o.gradAccumSteps);
  set('inChans', o.inChans);
  set('stem', o.stem);
  set('res', o.imgSize);
  if (o.inChans !== undefined && o.inChans !== 1 && o.inChans !== 3) throw new UsageError(`--in-chans must be 1 or 3, got ${o.inChans}`);

  const common = {
    engine: o.engine,
    // data-parallel ranks on one node share its cores
    threads: o.threads ?? (dist ? threadsPerRank(dist.localWorld) : undefined),
    ...(dist ? { distributed: dist } : {}),
    ...(dist && o.syncBn ? { syncBn: true } : {}),
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
      threads: common.threads ?? saved.threads,
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
  // data-parallel: rank 0 speaks for the job
  const quiet = req.distributed !== undefined && req.distributed.rank !== 0;
  const intr = onInterrupt(quiet ? '' : 'finishing the current step and writing a checkpoint (Ctrl-C again to quit now)');
  try {
    return await trainModel({ ...req, signal: intr.signal });
  } finally {
    intr.dispose();
  }
}

/** What `regnet train` prints for one model. */
export const formatResult = formatTrainResult;
