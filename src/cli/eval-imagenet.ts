/**
 * `regnet eval MODEL --weights FILE --data-dir VAL_DIR`: top-1/top-5 of a timm checkpoint on an
 * ImageNet-style class-folder split with timm's eval preprocessing, merged into
 * results/results-<name>.csv in timm's format. src/cli/eval.ts dispatches here when --weights is given.
 */
import { InvalidArgumentError, type Command } from 'commander';
import cliProgress from 'cli-progress';
import { join } from 'node:path';
import { mkdirSync } from 'node:fs';
import { numel, paramSpecs } from '../arch/params.js';
import { folderEvalBatches, IMAGENET_MEAN, IMAGENET_STD, listImageFolder, type Interpolation } from '../data/folder.js';
import type { CompiledNet } from '../engine/types.js';
import { mergeResults } from '../results/timm.js';
import { UsageError } from '../util/errors.js';
import { addModelParamOptions } from './model-args.js';
import { parseChoice, parseFloatOption, parseIntOption } from './options.js';
import { addCheckpointRunOptions, compileOn, netForCheckpoint, type CheckpointNetOptions, type EngineCliOptions, type Writer } from './predict.js';

export interface ImageFolderEvalOptions {
  /** a compiled network whose input resolution is imgSize x imgSize */
  model: CompiledNet;
  dataDir: string;
  imgSize: number;
  cropPct: number;
  interpolation: Interpolation;
  mean: number[];
  std: number[];
  batch: number;
  /** evaluate only the first N images of the listing */
  limit?: number;
  onProgress?: (done: number, total: number, top1: number) => void;
}

export interface ImageFolderEvalResult {
  n: number;
  correct1: number;
  correct5: number;
  /** percent */
  top1: number;
  top5: number;
  classes: string[];
  seconds: number;
}

/**
 * Rank of `label` in one row of logits: classes with a larger logit, plus equal logits at a smaller
 * index (the order a stable arg-sort gives).
 */
export function labelRank(logits: Float32Array, offset: number, k: number, label: number): number {
  const v = logits[offset + label]!;
  let rank = 0;
  for (let j = 0; j < k; j++) {
    const u = logits[offset + j]!;
    if (u > v || (u === v && j < label)) rank++;
  }
  return rank;
}

/** Streamed, batched eval over a class-folder split (class index = sorted folder position). */
export async function evalImageFolder(o: ImageFolderEvalOptions): Promise<ImageFolderEvalResult> {
  const net = o.model.net;
  if (net.res[0] !== o.imgSize || net.res[1] !== o.imgSize) {
    throw new UsageError(`eval: the network is built for ${net.res[0]}x${net.res[1]} but --img-size is ${o.imgSize}`);
  }
  if (net.inChans !== 3) throw new UsageError(`eval: image folders are RGB; the network takes ${net.inChans} channels`);
  const listing = listImageFolder(o.dataDir);
  const k = net.numClasses;
  if (listing.classes.length > k) {
    throw new UsageError(`${o.dataDir}: ${listing.classes.length} class folders but the model has ${k} outputs (use --num-classes or a matching checkpoint)`);
  }
  const total = Math.min(listing.files.length, o.limit ?? Infinity);
  const t0 = performance.now();
  let n = 0, c1 = 0, c5 = 0;
  const it = folderEvalBatches(o.dataDir, o.batch, {
    imgSize: o.imgSize,
    cropPct: o.cropPct,
    interpolation: o.interpolation,
    mean: o.mean,
    std: o.std,
    limit: o.limit,
  });
  // decode the next batch (sharp, on libuv threads) while the engine runs this one
  let pending = it.next();
  for (;;) {
    const r = await pending;
    if (r.done) break;
    pending = it.next();
    const b = r.value;
    const logits = o.model.predict(b.x, b.n);
    for (let i = 0; i < b.n; i++) {
      const rank = labelRank(logits, i * k, k, b.y[i]!);
      if (rank < 1) c1++;
      if (rank < 5) c5++;
    }
    n += b.n;
    o.onProgress?.(n, total, (100 * c1) / n);
  }
  return {
    n,
    correct1: c1,
    correct5: c5,
    top1: n ? (100 * c1) / n : 0,
    top5: n ? (100 * c5) / n : 0,
    classes: listing.classes,
    seconds: (performance.now() - t0) / 1000,
  };
}

/** A progress bar on a terminal; a plain line every ~10% otherwise (logs, pipes). */
export function progressReporter(
  label: string,
  mode: 'auto' | 'plain' | 'none' = 'auto',
  stream: NodeJS.WriteStream = process.stderr,
): { update: (done: number, total: number, top1: number) => void; stop: () => void } {
  if (mode === 'none') return { update: () => undefined, stop: () => undefined };
  if (mode === 'auto' && stream.isTTY) {
    const bar = new cliProgress.SingleBar(
      { format: `${label} [{bar}] {value}/{total} {percentage}% | top1 {top1}% | eta {eta_formatted}`, stream, hideCursor: true },
      cliProgress.Presets.shades_classic,
    );
    let started = false;
    return {
      update(done, total, top1) {
        if (!started) {
          bar.start(total, 0, { top1: '0.00' });
          started = true;
        }
        bar.update(done, { top1: top1.toFixed(2) });
      },
      stop: () => started && bar.stop(),
    };
  }
  let nextTenth = 1;
  return {
    update(done, total, top1) {
      if (done * 10 >= nextTenth * total || done === total) {
        stream.write(`${label}: ${done}/${total} images, top1 so far ${top1.toFixed(2)}%\n`);
        nextTenth = Math.floor((done * 10) / total) + 1;
      }
    },
    stop: () => undefined,
  };
}

/** `--mean 0.485 0.456 0.406` or `--mean 0.485,0.456,0.406` (commander variadic: called per value). */
export function collectFloats(field: string) {
  return (text: string, prev: number[] | undefined): number[] => {
    const out = [...(prev ?? [])];
    for (const part of text.split(',')) {
      if (part.trim() === '') continue;
      const v = Number(part);
      if (!Number.isFinite(v)) throw new InvalidArgumentError(`${field} takes numbers, e.g. ${field} 0.485 0.456 0.406.`);
      out.push(v);
    }
    return out;
  };
}

export interface WeightsEvalOptions extends CheckpointNetOptions, EngineCliOptions {
  weights: string;
  dataDir: string;
  imgSize: number;
  cropPct: number;
  interpolation: Interpolation;
  mean?: number[];
  std?: number[];
  /** default 64; `batchSize` (regnet eval's --batch-size) is accepted too */
  batch?: number;
  batchSize?: number;
  limit?: number;
  /** default `results` */
  resultsDir?: string;
  resultsName: string;
  results: boolean;
  /** auto: bar on a terminal, plain lines otherwise */
  progress?: 'auto' | 'plain' | 'none';
  /** regnet eval's stratified --limit-val is for --checkpoint only */
  limitVal?: number;
  json?: boolean;
}

/** Add the options runWeightsEval reads; skips any flag the command already defines. */
export function addWeightsEvalOptions(cmd: Command): Command {
  const has = (flag: string) => cmd.options.some((o) => o.long === flag);
  const opt = (flag: string, ...rest: unknown[]) => {
    const long = /--[\w-]+/.exec(flag)![0];
    if (!has(long)) (cmd.option as (...a: unknown[]) => Command).call(cmd, flag, ...rest);
  };
  if (!has('--depth')) addModelParamOptions(cmd);
  opt('--weights <file.safetensors>', 'timm state_dict (safetensors) to evaluate');
  opt('--data-dir <dir>', 'validation split: one sub-folder per class (sorted names = class indices)');
  opt('--img-size <n>', 'eval resolution', parseIntOption('--img-size', 1), 224);
  opt('--crop-pct <x>', 'centre-crop fraction: resize the shorter side to floor(img_size / crop_pct)', parseFloatOption('--crop-pct', 0.01, 4), 0.875);
  opt('--interpolation <m>', 'resize kernel: bicubic, bilinear', parseChoice('--interpolation', ['bicubic', 'bilinear'] as const), 'bicubic');
  opt('--mean <x...>', 'normalisation mean per channel (default ImageNet 0.485 0.456 0.406)', collectFloats('--mean'));
  opt('--std <x...>', 'normalisation std per channel (default ImageNet 0.229 0.224 0.225)', collectFloats('--std'));
  if (!has('--batch-size')) opt('--batch <n>', 'images per forward pass (default 64)', parseIntOption('--batch', 1));
  opt('--limit <n>', 'only the first N images (results are then not merged)', parseIntOption('--limit', 1));
  opt('--results-dir <dir>', 'where results-<name>.csv lives (default: results)');
  opt('--results-name <name>', 'results file suffix: results-<name>.csv', 'imagenet');
  opt('--no-results', 'do not merge a row into the results CSV');
  opt('--progress <mode>', 'auto (bar on a terminal), plain lines, none', parseChoice('--progress', ['auto', 'plain', 'none'] as const), 'auto');
  opt('--json', 'print the result as JSON');
  addCheckpointRunOptions(cmd);
  return cmd;
}

function channelStats(field: string, v: number[] | undefined, dflt: number[]): number[] {
  if (!v || v.length === 0) return dflt;
  if (v.length === 1) return [v[0]!, v[0]!, v[0]!];
  if (v.length !== 3) throw new UsageError(`${field}: give 1 or 3 values (RGB), got ${v.length}`);
  if (field === '--std' && v.some((x) => x <= 0)) throw new UsageError('--std: values must be > 0');
  return v;
}

export interface WeightsEvalReport extends ImageFolderEvalResult {
  model: string;
  imgSize: number;
  cropPct: number;
  interpolation: Interpolation;
  params: number;
  engine: string;
  resultsFile?: string;
}

/** Evaluate a checkpoint on a class-folder split; `write` gets the summary (default stdout), progress goes to stderr. */
export async function runWeightsEval(
  model: string | undefined,
  o: WeightsEvalOptions,
  write: Writer = (t) => void process.stdout.write(t),
): Promise<WeightsEvalReport> {
  if (!o.weights) throw new UsageError('eval: --weights FILE.safetensors is required');
  if (!o.dataDir) throw new UsageError('eval: --data-dir VAL_DIR is required with --weights');
  if (o.limitVal !== undefined) throw new UsageError('--limit-val applies to --checkpoint; with --weights use --limit N (the first N images)');
  const batch = o.batch ?? o.batchSize ?? 64;
  const resultsDir = o.resultsDir ?? 'results';
  if (!/^[\w.-]+$/.test(o.resultsName)) throw new UsageError(`--results-name: '${o.resultsName}' may only contain letters, digits, '_', '-', '.'`);
  const mean = channelStats('--mean', o.mean, IMAGENET_MEAN);
  const std = channelStats('--std', o.std, IMAGENET_STD);
  listImageFolder(o.dataDir); // fail on a bad folder before compiling anything
  const { net, weights } = netForCheckpoint(model, o, o.weights, { chans: 3, h: o.imgSize, w: o.imgSize });
  const { engine, model: compiled } = await compileOn(o, net, weights);
  const progress = progressReporter(`eval ${net.name}`, o.progress);
  let r: ImageFolderEvalResult;
  try {
    r = await evalImageFolder({
      model: compiled,
      dataDir: o.dataDir,
      imgSize: o.imgSize,
      cropPct: o.cropPct,
      interpolation: o.interpolation,
      mean,
      std,
      batch,
      limit: o.limit,
      onProgress: progress.update,
    });
  } finally {
    progress.stop();
    compiled.dispose();
    engine.close?.();
  }
  const params = paramSpecs(net).filter((s) => s.trainable).reduce((a, s) => a + numel(s.shape), 0);
  const report: WeightsEvalReport = {
    ...r,
    model: net.name,
    imgSize: o.imgSize,
    cropPct: o.cropPct,
    interpolation: o.interpolation,
    params,
    engine: engine.info.engine,
  };
  if (o.results && o.limit === undefined) {
    mkdirSync(resultsDir, { recursive: true });
    report.resultsFile = join(resultsDir, `results-${o.resultsName}.csv`);
    mergeResults(report.resultsFile, [
      { model: net.name, img_size: o.imgSize, top1: r.top1, top5: r.top5, params, crop_pct: o.cropPct, interpolation: o.interpolation },
    ]);
  }
  if (o.json) {
    const { classes, ...rest } = report;
    write(JSON.stringify({ ...rest, num_classes: classes.length }) + '\n');
  } else {
    write(
      `${net.name} @${o.imgSize} crop ${o.cropPct} ${o.interpolation}: top1 ${r.top1.toFixed(3)}% top5 ${r.top5.toFixed(3)}% ` +
        `(${r.n} images, ${r.classes.length} classes, ${(r.n / Math.max(r.seconds, 1e-9)).toFixed(1)} img/s on ${engine.info.engine})` +
        (report.resultsFile ? `; merged into ${report.resultsFile}` : o.limit !== undefined ? '; --limit: results not merged' : '') +
        '\n',
    );
  }
  return report;
}
