/**
 * `regnet export MODEL --format onnx --out FILE.onnx`: a network (zoo name, RegNet parameters or a
 * configs row) with weights from a regnet training checkpoint (--checkpoint DIR), a timm state_dict
 * (--weights FILE) or the seeded initialiser (--seed), as an ONNX model: opset 17, input `input`
 * [batch, C, H, W] float32, output `logits` [batch, classes], BatchNorm in inference form, the
 * architecture and preprocessing in the doc string and metadata_props.
 */
import { existsSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Command } from 'commander';
import { initWeights } from '../arch/init.js';
import type { Network } from '../arch/ir.js';
import { numel, paramSpecs } from '../arch/params.js';
import type { WeightMap } from '../arch/weights.js';
import { DATASET_NORMALISATION } from '../data/norm.js';
import { IMAGENET_MEAN, IMAGENET_STD } from '../data/folder.js';
import { DATASET_NAMES, type DatasetName } from '../data/types.js';
import { compileOnnx, INPUT_NAME, OPSET, OUTPUT_NAME } from '../engine/onnx/graph.js';
import { readCheckpointState, readCheckpointTensors } from '../train/checkpoint.js';
import { netForCheckpoint } from '../train/checkpoint-net.js';
import { buildTrainNet, resultGeometry } from '../train/run.js';
import { writeFileAtomic } from '../util/atomic.js';
import { fmtSI } from '../util/format.js';
import { UsageError } from '../util/errors.js';
import { addModelParamOptions, buildResolved, resolveModel, type ModelArgOptions } from './model-args.js';
import { parseChoice, parseFloatOption, parseIntOption } from './options.js';
import { parseBool } from './predict.js';
import { collectFloats } from './preprocess-options.js';

export const EXPORT_FORMATS = ['onnx'] as const;

export interface ExportOptions extends ModelArgOptions {
  format: (typeof EXPORT_FORMATS)[number];
  out: string;
  checkpoint?: string;
  weights?: string;
  seed?: number;
  imgSize?: number;
  numClasses?: number;
  inChans?: number;
  stem?: 'imagenet' | 'small';
  strict: boolean;
  cropPct?: number;
  interpolation?: string;
  mean?: number[];
  std?: number[];
}

/** What an exported model records about the images it expects. */
export interface Preprocessing {
  img_size: number;
  crop_pct: number;
  interpolation: string;
  mean: number[];
  std: number[];
}

export interface ExportSource {
  net: Network;
  weights: WeightMap;
  preprocessing: Preprocessing;
  /** one line: where the weights came from */
  weightsFrom: string;
}

export function register(program: Command): void {
  const cmd = program
    .command('export')
    .description('export a network with its weights (checkpoint, timm weights or seeded init) to ONNX')
    .argument('[model]', 'zoo name, e.g. regnetx_002 (optional with --checkpoint)');
  addModelParamOptions(cmd)
    .option('--format <f>', `output format: ${EXPORT_FORMATS.join(', ')}`, parseChoice('--format', EXPORT_FORMATS), 'onnx')
    .requiredOption('--out <file.onnx>', 'where to write the model (atomically)')
    .option('--checkpoint <dir>', 'weights of a regnet train checkpoint folder')
    .option('--weights <file.safetensors>', 'weights of a timm state_dict (safetensors)')
    .option('--seed <n>', 'without --checkpoint/--weights: seed of the initial weights (default 0)', parseIntOption('--seed', 0))
    .option('--img-size <n>', "input resolution (default 224, or the checkpoint's)", parseIntOption('--img-size', 1))
    .option('--num-classes <n>', "classifier outputs (default 1000, or the checkpoint's)", parseIntOption('--num-classes', 1))
    .option('--in-chans <n>', "input channels (default 3, or the checkpoint's)", parseIntOption('--in-chans', 1))
    .option(
      '--stem <s>',
      "imagenet or small (3x3 s1, for 28-32 px) (default imagenet, or the checkpoint's)",
      parseChoice('--stem', ['imagenet', 'small'] as const),
    )
    .option('--strict <bool>', 'with --weights: false loads what fits and initialises the rest', parseBool('--strict'), true)
    .option(
      '--crop-pct <x>',
      "preprocessing to record: centre-crop fraction (default 0.875, or the checkpoint's)",
      parseFloatOption('--crop-pct', 0.01, 4),
    )
    .option(
      '--interpolation <m>',
      "preprocessing to record: resize kernel (default bicubic, or the checkpoint's)",
      parseChoice('--interpolation', ['bicubic', 'bilinear', 'nearest', 'none'] as const),
    )
    .option(
      '--mean <x...>',
      "preprocessing to record: mean per channel (default ImageNet's, or the checkpoint dataset's)",
      collectFloats('--mean'),
    )
    .option(
      '--std <x...>',
      "preprocessing to record: std per channel (default ImageNet's, or the checkpoint dataset's)",
      collectFloats('--std'),
    )
    .action((model: string | undefined, o: ExportOptions) => {
      const r = runExport(model, o);
      process.stdout.write(r.message + '\n');
    });
}

/** Mean/std for C input channels: 1 value is repeated (grey datasets fed as RGB), else C values. */
function perChannel(field: string, v: number[], chans: number): number[] {
  if (v.length === chans) return v;
  if (v.length === 1) return new Array<number>(chans).fill(v[0]!);
  throw new UsageError(`${field}: give 1 or ${chans} values (one per input channel), got ${v.length}`);
}

function checkpointSource(model: string | undefined, o: ExportOptions): ExportSource {
  const dir = o.checkpoint!;
  const state = readCheckpointState(dir);
  const req = state.request;
  const cfg = state.config;
  const named = model || o.depth !== undefined || o.config !== undefined;
  if (named) {
    const expect = resolveModel(model, o);
    if (expect.name !== req.model.name && JSON.stringify(expect.spec) !== JSON.stringify(req.model.spec)) {
      throw new UsageError(`${dir} holds ${req.model.name}, not ${expect.name}`);
    }
  }
  const fixed: Array<[string, unknown, unknown]> = [
    ['--num-classes', o.numClasses, cfg.numClasses],
    ['--in-chans', o.inChans, cfg.inChans],
    ['--stem', o.stem, cfg.stem],
  ];
  for (const [flag, given, saved] of fixed) {
    if (given !== undefined && given !== saved) throw new UsageError(`${flag} ${given}: ${dir} was trained with ${flag} ${saved}`);
  }
  const res = o.imgSize ?? cfg.res;
  const net = buildTrainNet(req, { ...cfg, res });
  const { weights } = readCheckpointTensors(dir, state, false);
  const norm = (DATASET_NAMES as readonly string[]).includes(req.dataset)
    ? DATASET_NORMALISATION[req.dataset as DatasetName]
    : { mean: IMAGENET_MEAN, std: IMAGENET_STD };
  const geo = resultGeometry({ name: req.dataset }, cfg);
  // exported at another size than trained: the images now need resizing, as the training pipeline would
  if (geo.interpolation === 'none' && res !== cfg.res) geo.interpolation = 'bilinear';
  return {
    net,
    weights,
    preprocessing: { img_size: res, crop_pct: geo.crop_pct, interpolation: geo.interpolation, mean: norm.mean, std: norm.std },
    weightsFrom: `regnet checkpoint ${dir} (${req.dataset}, step ${state.globalStep}, ${state.status})`,
  };
}

function imagenetPreprocessing(res: number): Preprocessing {
  return { img_size: res, crop_pct: 0.875, interpolation: 'bicubic', mean: IMAGENET_MEAN, std: IMAGENET_STD };
}

/** The network, its weights and the preprocessing it expects, from the command's options. */
export function exportSource(model: string | undefined, o: ExportOptions): ExportSource {
  if (o.checkpoint && o.weights) throw new UsageError('give either --checkpoint DIR or --weights FILE, not both');
  if (o.seed !== undefined && (o.checkpoint || o.weights))
    throw new UsageError('--seed only applies without --checkpoint/--weights (it seeds the initial weights)');
  if (!o.weights && !o.strict) throw new UsageError('--strict applies to --weights only');
  let src: ExportSource;
  if (o.checkpoint) {
    src = checkpointSource(model, o);
  } else {
    const res = o.imgSize ?? 224;
    const inChans = o.inChans ?? 3;
    if (o.weights) {
      const { net, weights } = netForCheckpoint(
        resolveModel(model, o),
        o.weights,
        { chans: inChans, h: res, w: res },
        { ...o, stem: o.stem ?? 'imagenet' },
      );
      src = { net, weights, preprocessing: imagenetPreprocessing(res), weightsFrom: `timm weights ${o.weights}` };
    } else {
      const net = buildResolved(resolveModel(model, o), { res, numClasses: o.numClasses ?? 1000, inChans, stem: o.stem ?? 'imagenet' });
      const seed = o.seed ?? 0;
      src = {
        net,
        weights: initWeights(net, seed),
        preprocessing: imagenetPreprocessing(res),
        weightsFrom: `seeded initialisation (seed ${seed}; untrained)`,
      };
    }
  }
  const p = src.preprocessing;
  const chans = src.net.inChans;
  if (o.cropPct !== undefined) p.crop_pct = o.cropPct;
  if (o.interpolation !== undefined) p.interpolation = o.interpolation;
  p.mean = perChannel('--mean', o.mean?.length ? o.mean : p.mean, chans);
  p.std = perChannel('--std', o.std?.length ? o.std : p.std, chans);
  if (p.std.some((s) => !(s > 0))) throw new UsageError('--std: values must be > 0');
  return src;
}

function producerVersion(): string {
  try {
    return (createRequire(import.meta.url)('../../package.json') as { version?: string }).version ?? '';
  } catch {
    return '';
  }
}

/** doc_string and metadata_props of an exported model. */
export function exportMetadata(src: ExportSource): { docString: string; metadata: Record<string, string> } {
  const { net, preprocessing: p } = src;
  const [c, h, w] = net.nodes[0]!.out;
  const params = paramSpecs(net)
    .filter((s) => s.trainable)
    .reduce((a, s) => a + numel(s.shape), 0);
  const architecture = {
    name: net.name,
    family: net.family,
    spec: net.spec,
    in_chans: net.inChans,
    num_classes: net.numClasses,
    input_size: [c, h, w],
    stem: net.stem,
    params,
  };
  const resize =
    p.interpolation === 'none'
      ? `images of ${h}x${w} as they are`
      : `resize the shorter side to ${Math.floor(p.img_size / p.crop_pct)} (${p.interpolation}), centre crop ${p.img_size}`;
  const docString = [
    `${net.name} (${net.family}, ${fmtSI(params)} params) exported by regnet: ${INPUT_NAME} [batch, ${c}, ${h}, ${w}] float32 NCHW -> ${OUTPUT_NAME} [batch, ${net.numClasses}].`,
    `Preprocessing: ${resize}; pixels / 255, minus mean ${JSON.stringify(p.mean)}, divided by std ${JSON.stringify(p.std)}.`,
    `Weights: ${src.weightsFrom}.`,
    `Architecture (model spec): ${JSON.stringify(net.spec)}.`,
  ].join('\n');
  return {
    docString,
    metadata: {
      architecture: JSON.stringify(architecture),
      preprocessing: JSON.stringify(p),
      weights: src.weightsFrom,
    },
  };
}

export interface ExportResult {
  path: string;
  bytes: number;
  net: Network;
  message: string;
}

export function runExport(model: string | undefined, o: ExportOptions): ExportResult {
  if (o.format !== 'onnx') throw new UsageError(`--format: '${o.format}' is not one of ${EXPORT_FORMATS.join(', ')}`);
  if (o.out.endsWith('/') || (existsSync(o.out) && statSync(o.out).isDirectory()))
    throw new UsageError(`--out ${o.out}: is a folder; give a file name such as model.onnx`);
  const src = exportSource(model, o);
  const meta = exportMetadata(src);
  const bytes = compileOnnx(src.net, src.weights, { ...meta, producerVersion: producerVersion() });
  try {
    writeFileAtomic(o.out, bytes);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code) throw new UsageError(`--out ${o.out}: cannot write the file (${String(err.message).split('\n')[0]})`);
    throw e;
  }
  const mb = (bytes.length / 1e6).toFixed(1);
  return {
    path: o.out,
    bytes: bytes.length,
    net: src.net,
    message: `wrote ${o.out}: ${src.net.name} as ONNX (opset ${OPSET}, ${mb} MB), input ${INPUT_NAME} [batch, ${src.net.nodes[0]!.out.join(', ')}], output ${OUTPUT_NAME} [batch, ${src.net.numClasses}]; weights: ${src.weightsFrom}`,
  };
}
