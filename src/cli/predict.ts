/**
 * `regnet predict MODEL --weights FILE --input FILE`: eval-mode logits of a timm checkpoint on the
 * NCHW float32 tensor `input` of a safetensors file; the network is built at the input's resolution.
 * `--images PATH...` instead: image files and folders through timm's eval preprocessing (predict-images.ts).
 */
import { InvalidArgumentError, type Command } from 'commander';
import { compileOn } from '../engine/select.js';
import type { CompiledNet } from '../engine/types.js';
import { readSafetensors, writeSafetensors } from '../io/safetensors.js';
import { netForCheckpoint } from '../train/checkpoint-net.js';
import { expandImagePaths } from '../data/folder.js';
import { UsageError } from '../util/errors.js';
import { addEngineOptions, type EngineCliOptions } from './engine-options.js';
import { checkWritableFile } from '../util/writable.js';
import { addModelParamOptions, resolveModel, type ModelArgOptions } from './model-args.js';
import { STEMS } from '../arch/spec.js';
import { addAlias, parseChoice, parseIntOption, STEM_HELP } from './options.js';
import { formatImagePredictions, imagePredictions, predictImageFiles } from './predict-images.js';
import { addPreprocessOptions, normalisation, type PreprocessCliOptions } from './preprocess-options.js';

export type { EngineCliOptions } from './engine-options.js';

export function parseBool(field: string) {
  return (text: string): boolean => {
    const t = text.trim().toLowerCase();
    if (['true', '1', 'yes', 'on'].includes(t)) return true;
    if (['false', '0', 'no', 'off'].includes(t)) return false;
    throw new InvalidArgumentError(`${field} must be true or false.`);
  };
}

/** Options shared by the commands that run a checkpoint (only those the command does not have yet). */
export function addCheckpointRunOptions(cmd: Command): Command {
  const has = (flag: string) => cmd.options.some((o) => o.long === flag);
  addEngineOptions(cmd, { device: 'cpu' });
  if (!has('--num-classes'))
    cmd.option('--num-classes <n>', "classifier outputs (default: the checkpoint's)", parseIntOption('--num-classes', 1));
  if (!has('--stem')) cmd.option('--stem <s>', STEM_HELP, parseChoice('--stem', STEMS));
  if (!has('--strict'))
    cmd.option('--strict <bool>', 'false: report name/shape differences and load what fits', parseBool('--strict'), true);
  return cmd;
}

export interface CheckpointNetOptions extends ModelArgOptions {
  numClasses?: number;
  stem?: 'imagenet' | 'small';
  strict: boolean;
}

/** Eval-mode logits for n samples, `batch` at a time. */
export function predictBatched(model: CompiledNet, x: Float32Array, n: number, batch: number): Float32Array {
  const per = x.length / n;
  const k = model.net.numClasses;
  const out = new Float32Array(n * k);
  for (let s = 0; s < n; s += batch) {
    const m = Math.min(batch, n - s);
    out.set(model.predict(x.subarray(s * per, (s + m) * per), m), s * k);
  }
  return out;
}

interface PredictOptions extends CheckpointNetOptions, EngineCliOptions, PreprocessCliOptions {
  weights: string;
  /** exactly one of input and images */
  input?: string;
  images?: string[];
  json?: boolean;
  out?: string;
  batchSize: number;
}

/** The float32 NCHW tensor `input` of a safetensors file. */
export function readInputTensor(path: string): { data: Float32Array; n: number; c: number; h: number; w: number } {
  const f = readSafetensors(path, { floatToF32: true });
  const t = f.tensors.get('input');
  if (!t) throw new UsageError(`${path}: no tensor named 'input' (has: ${[...f.tensors.keys()].slice(0, 5).join(', ') || 'none'})`);
  if (!(t.data instanceof Float32Array)) throw new UsageError(`${path}: tensor 'input' is ${t.dtype}; expected a float tensor`);
  if (t.shape.length !== 4 || t.shape.some((d) => d < 1)) {
    throw new UsageError(`${path}: tensor 'input' has shape [${t.shape.join(',')}]; expected NCHW [N,C,H,W]`);
  }
  const [n, c, h, w] = t.shape as [number, number, number, number];
  return { data: t.data, n, c, h, w };
}

export type Writer = (text: string) => void;
const stdoutWriter: Writer = (t) => void process.stdout.write(t);

export async function runPredict(model: string | undefined, o: PredictOptions, write: Writer = stdoutWriter): Promise<Float32Array> {
  if (o.out) checkWritableFile(o.out, '--out');
  if ((o.input === undefined) === (o.images === undefined))
    throw new UsageError('predict: give either --input FILE.safetensors or --images PATH...');
  const files = o.images && expandImagePaths(o.images);
  const inp = files ? { data: null, n: files.length, c: 3, h: o.imgSize, w: o.imgSize } : readInputTensor(o.input!);
  const { net, weights } = netForCheckpoint(resolveModel(model, o), o.weights, { chans: inp.c, h: inp.h, w: inp.w }, o);
  const { engine, model: compiled } = await compileOn(o, net, weights);
  let logits: Float32Array;
  try {
    if (files) logits = await predictImageFiles(compiled, files, { ...o, ...normalisation(o) }, o.batchSize);
    else logits = predictBatched(compiled, inp.data!, inp.n, o.batchSize);
  } finally {
    compiled.dispose();
    engine.close?.();
  }
  const k = net.numClasses;
  if (o.out) {
    writeSafetensors(o.out, new Map([['logits', { shape: [inp.n, k], data: logits }]]), { model: net.name, weights: o.weights });
  }
  if (files && (o.json || !o.out)) {
    const preds = imagePredictions(files, logits);
    const { imgSize, cropPct, interpolation } = o;
    write(
      o.json
        ? JSON.stringify({ model: net.name, img_size: imgSize, crop_pct: cropPct, interpolation, images: preds }) + '\n'
        : formatImagePredictions(preds),
    );
    return logits;
  }
  const rows = Array.from({ length: inp.n }, (_, i) => Array.from(logits.subarray(i * k, (i + 1) * k)));
  if (o.json) {
    write(JSON.stringify({ logits: rows }) + '\n');
  } else if (o.out) {
    write(`wrote logits [${inp.n}, ${k}] of ${net.name} (${engine.info.engine}) to ${o.out}\n`);
  } else {
    for (const r of rows) write(r.map((v) => v.toPrecision(7)).join(' ') + '\n');
  }
  return logits;
}

/** `write` receives what the command prints (tests capture it; default stdout). */
export function register(program: Command, write: Writer = stdoutWriter): void {
  const cmd = program
    .command('predict')
    .description("eval-mode logits of a timm checkpoint on the NCHW float32 tensor 'input' of a safetensors file, or on image files")
    .argument('[model]', 'zoo name, e.g. regnetx_002, resnet18');
  addModelParamOptions(cmd)
    .requiredOption('--weights <file.safetensors>', 'timm state_dict (or a regnet train checkpoint)')
    .option('--input <file.safetensors>', "file with tensor 'input' [N,C,H,W] float32 (already normalised)")
    .option(
      '--images <path...>',
      "JPEG/PNG files or folders of them, preprocessed as timm's validate.py (--img-size, --crop-pct, --interpolation, --mean, --std)",
    )
    .option(
      '--json',
      'print {"logits": [[...], ...]}; with --images, per image its file, logits and top5 (index, synset, name, logit, prob)',
    )
    .option('--out <file.safetensors>', "write the logits as tensor 'logits' [N, classes]")
    .option('--batch-size <n>', 'samples per forward pass', parseIntOption('--batch-size', 1), 32);
  addAlias(cmd, '--batch <n>', 'batchSize', parseIntOption('--batch', 1));
  addPreprocessOptions(cmd);
  addCheckpointRunOptions(cmd).action(async (model: string | undefined, o: PredictOptions) => {
    await runPredict(model, o, write);
  });
}
