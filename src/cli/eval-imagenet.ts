/**
 * `regnet eval MODEL --weights FILE --data-dir VAL_DIR`: the options, their checks and the printed
 * summary of evaluating a timm checkpoint on an ImageNet-style class-folder split; the evaluation and
 * the results-<name>.csv merge are src/train/eval-folder.ts. src/cli/eval.ts dispatches here when
 * --weights is given.
 */
import { InvalidArgumentError, type Command } from 'commander';
import { IMAGENET_MEAN, IMAGENET_STD, type Interpolation } from '../data/folder.js';
import { evaluateWeightsOnFolder, type WeightsEvalReport } from '../train/eval-folder.js';
import { UsageError } from '../util/errors.js';
import { addModelParamOptions, resolveModel } from './model-args.js';
import { parseChoice, parseFloatOption, parseIntOption } from './options.js';
import { addCheckpointRunOptions, type CheckpointNetOptions, type EngineCliOptions, type Writer } from './predict.js';

/** `--mean 0.485 0.456 0.406` or `--mean 0.485,0.456,0.406` (commander variadic: called per value). */
function collectFloats(field: string) {
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
  opt('--img-size <n>', 'input image size (px) of --weights evaluation', parseIntOption('--img-size', 1), 224);
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

/** Evaluate a checkpoint on a class-folder split; `write` gets the summary (default stdout), progress goes to stderr. */
export async function runWeightsEval(
  model: string | undefined,
  o: WeightsEvalOptions,
  write: Writer = (t) => void process.stdout.write(t),
): Promise<WeightsEvalReport> {
  if (!o.weights) throw new UsageError('eval: --weights FILE.safetensors is required');
  if (!o.dataDir) throw new UsageError('eval: --data-dir VAL_DIR is required with --weights');
  if (o.limitVal !== undefined) throw new UsageError('--limit-val applies to --checkpoint; with --weights use --limit N (the first N images)');
  if (!/^[\w.-]+$/.test(o.resultsName)) throw new UsageError(`--results-name: '${o.resultsName}' may only contain letters, digits, '_', '-', '.'`);
  const mean = channelStats('--mean', o.mean, IMAGENET_MEAN);
  const std = channelStats('--std', o.std, IMAGENET_STD);
  const r = await evaluateWeightsOnFolder({
    model: resolveModel(model, o),
    weights: o.weights,
    dataDir: o.dataDir,
    imgSize: o.imgSize,
    cropPct: o.cropPct,
    interpolation: o.interpolation,
    mean,
    std,
    batch: o.batch ?? o.batchSize ?? 64,
    limit: o.limit,
    results: o.results ? { dir: o.resultsDir ?? 'results', name: o.resultsName } : undefined,
    progress: o.progress,
    engine: o.engine,
    threads: o.threads,
    device: o.device,
    numClasses: o.numClasses,
    stem: o.stem,
    strict: o.strict,
  });
  if (o.json) {
    const { classes, ...rest } = r;
    write(JSON.stringify({ ...rest, num_classes: classes.length }) + '\n');
  } else {
    write(
      `${r.model} @${r.imgSize} crop ${r.cropPct} ${r.interpolation}: top1 ${r.top1.toFixed(3)}% top5 ${r.top5.toFixed(3)}% ` +
        `(${r.n} images, ${r.classes.length} classes, ${(r.n / Math.max(r.seconds, 1e-9)).toFixed(1)} img/s on ${r.engine})` +
        (r.resultsFile ? `; merged into ${r.resultsFile}` : o.limit !== undefined ? '; --limit: results not merged' : '') +
        '\n',
    );
  }
  return r;
}
