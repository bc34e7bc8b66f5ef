/**
 * `regnet eval MODEL --weights FILE --data-dir VAL_DIR`: the options, their checks and the printed
 * summary of evaluating a timm checkpoint on an ImageNet-style class-folder split; the evaluation and
 * the results-<name>.csv merge are src/train/eval-folder.ts. src/cli/eval.ts dispatches here when
 * --weights is given.
 */
import type { Command } from 'commander';
import type { Interpolation } from '../data/folder.js';
import type { AmpDtype } from '../engine/types.js';
import { evaluateWeightsOnFolder, type WeightsEvalReport } from '../train/eval-folder.js';
import { UsageError } from '../util/errors.js';
import { checkBatchTensor } from '../util/limits.js';
import { checkWritableDir } from '../util/writable.js';
import { addModelParamOptions, resolveModel } from './model-args.js';
import { parseChoice, parseIntOption } from './options.js';
import { addPreprocessOptions, normalisation } from './preprocess-options.js';
import { addCheckpointRunOptions, type CheckpointNetOptions, type EngineCliOptions, type Writer } from './predict.js';

export interface WeightsEvalOptions extends CheckpointNetOptions, EngineCliOptions {
  /** torch: mixed precision and NHWC, resolved (src/cli/amp-options.ts) */
  amp?: AmpDtype;
  channelsLast?: boolean;
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
  /** false (--no-bench): no inference-throughput measurement for the results row */
  bench?: boolean;
  /** auto: bar on a terminal, plain lines otherwise */
  progress?: 'auto' | 'plain' | 'none';
  classMap?: string;
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
  opt('--data-dir <dir>', 'validation split: one sub-folder per class (ImageNet wnids, or sorted names = class indices)');
  opt(
    '--class-map <file>',
    "timm's class map: one class name per line, index = line number (default: ImageNet's 1000 wnids when every folder is one, else sorted folders)",
  );
  addPreprocessOptions(cmd);
  if (!has('--batch-size')) opt('--batch <n>', 'images per forward pass (default 64)', parseIntOption('--batch', 1));
  opt('--limit <n>', 'only the first N images (results are then not merged)', parseIntOption('--limit', 1));
  opt('--results-dir <dir>', 'where results-<name>.csv lives (default: results)');
  opt('--results-name <name>', 'results file suffix: results-<name>.csv', 'imagenet');
  opt('--no-results', 'do not merge a row into the results CSV');
  opt('--no-bench', 'do not measure inference throughput for the results row (a few seconds after evaluation)');
  opt(
    '--progress <mode>',
    'auto (bar on a terminal), plain lines, none',
    parseChoice('--progress', ['auto', 'plain', 'none'] as const),
    'auto',
  );
  opt('--json', 'print the result as JSON');
  addCheckpointRunOptions(cmd);
  return cmd;
}

/** Evaluate a checkpoint on a class-folder split; `write` gets the summary (default stdout), progress goes to stderr. */
export async function runWeightsEval(
  model: string | undefined,
  o: WeightsEvalOptions,
  write: Writer = (t) => void process.stdout.write(t),
): Promise<WeightsEvalReport> {
  if (!o.weights) throw new UsageError('eval: --weights FILE.safetensors is required');
  if (!o.dataDir) throw new UsageError('eval: --data-dir VAL_DIR is required with --weights');
  if (o.limitVal !== undefined)
    throw new UsageError('--limit-val applies to --checkpoint; with --weights use --limit N (the first N images)');
  if (!/^[\w.-]+$/.test(o.resultsName))
    throw new UsageError(`--results-name: '${o.resultsName}' may only contain letters, digits, '_', '-', '.'`);
  if (o.results) checkWritableDir(o.resultsDir ?? 'results', '--results-dir');
  const batch = o.batch ?? o.batchSize ?? 64;
  checkBatchTensor(batch, 3, o.imgSize, o.imgSize, { batch: o.batch !== undefined ? '--batch' : '--batch-size', res: '--img-size' });
  const { mean, std } = normalisation(o);
  const r = await evaluateWeightsOnFolder({
    model: resolveModel(model, o),
    weights: o.weights,
    dataDir: o.dataDir,
    imgSize: o.imgSize,
    cropPct: o.cropPct,
    interpolation: o.interpolation,
    mean,
    std,
    batch,
    limit: o.limit,
    results: o.results ? { dir: o.resultsDir ?? 'results', name: o.resultsName } : undefined,
    bench: o.bench,
    progress: o.progress,
    engine: o.engine,
    threads: o.threads,
    device: o.device,
    amp: o.amp,
    channelsLast: o.channelsLast,
    numClasses: o.numClasses,
    stem: o.stem,
    strict: o.strict,
    classMap: o.classMap,
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
