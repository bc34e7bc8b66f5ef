/**
 * `regnet eval`: top-1/top-5 of trained weights. `--checkpoint DIR` re-evaluates a `regnet train`
 * checkpoint on its dataset's test split. Other sources (e.g. timm weights on an image folder) plug in
 * as further branches of `evalAction` with their own options.
 */
import type { Command } from 'commander';
import type { EngineChoice } from '../engine/types.js';
import { evaluateCheckpoint, type CheckpointEvalResult } from '../train/eval-checkpoint.js';
import { HyperSchema } from '../train/hyper.js';
import { UsageError } from '../util/errors.js';
import { addEngineOptions } from './engine-options.js';
import { addPrecisionOptions, precisionEngineOptions, type PrecisionCliOptions } from './amp-options.js';
import { checkWritableDir } from '../util/writable.js';
import { addWeightsEvalOptions, runWeightsEval, type WeightsEvalOptions } from './eval-imagenet.js';
import { addModelParamOptions, resolveModel, type ModelArgOptions } from './model-args.js';
import { addAlias, addProgressOption, parseIntOption, type ProgressMode } from './options.js';
import { parseSchemaNumber } from './schema-option.js';

export interface EvalOptions extends ModelArgOptions, PrecisionCliOptions {
  checkpoint?: string;
  /** evaluate the checkpoint's EMA weights (model_ema.safetensors) */
  ema?: boolean;
  dataDir?: string;
  engine: EngineChoice;
  threads?: number;
  device?: string;
  batchSize?: number;
  limitVal?: number;
  resultsDir?: string;
  /** --no-bench: no inference-throughput measurement for the results row */
  bench?: boolean;
  progress: ProgressMode;
  json?: boolean;
}

/** The options every eval source shares; a source adds its own on the returned command. */
export function addEvalCommonOptions(cmd: Command): Command {
  addModelParamOptions(cmd).option('--data-dir <dir>', 'dataset folder (default: the one recorded in the checkpoint)');
  addEngineOptions(cmd)
    .option('--batch-size <n>', 'evaluation batch size', parseSchemaNumber('--batch-size', HyperSchema.shape.evalBatchSize))
    .option(
      '--limit-val <n>',
      'evaluate on a fixed class-stratified subset of N test images',
      parseSchemaNumber('--limit-val', HyperSchema.shape.limitVal),
    )
    .option('--results-dir <dir>', 'also merge the result into <dir>/results-<dataset>.csv')
    .option('--no-bench', 'do not measure inference throughput for the results row (a few seconds after evaluation)')
    .option('--json', 'print the result as JSON on stdout');
  addAlias(cmd, '--batch <n>', 'batchSize', parseIntOption('--batch', 1));
  addPrecisionOptions(cmd);
  return addProgressOption(cmd);
}

export function register(program: Command): void {
  const cmd = program
    .command('eval')
    .description('evaluate trained weights: top-1/top-5 on the test split')
    .argument('[model]', 'model name (checked against the checkpoint; optional with --checkpoint)');
  addEvalCommonOptions(cmd)
    .option('--checkpoint <dir>', 'a regnet train checkpoint folder')
    .option('--ema', 'with --checkpoint: evaluate the EMA weights of a run trained with --ema (results row: weights=ema)');
  // timm weights on an image folder: --weights FILE --data-dir VAL_DIR (src/cli/eval-imagenet.ts)
  addWeightsEvalOptions(cmd).action(async (model: string | undefined, o: EvalOptions) => evalAction(model, o));
}

export async function evalAction(model: string | undefined, o: EvalOptions): Promise<void> {
  const numeric = precisionEngineOptions(o, o.engine, o.device);
  if ((o as { weights?: string }).weights) {
    if (o.checkpoint) throw new UsageError('regnet eval: give either --checkpoint DIR or --weights FILE, not both');
    await runWeightsEval(model, { ...(o as unknown as WeightsEvalOptions), amp: numeric.amp, channelsLast: numeric.channelsLast });
    return;
  }
  if (o.checkpoint) {
    if (o.resultsDir !== undefined) checkWritableDir(o.resultsDir, '--results-dir');
    if ((o as { classMap?: string }).classMap)
      throw new UsageError('--class-map goes with --weights; a checkpoint keeps the class map it was trained with');
    const named = model || o.depth !== undefined || o.config !== undefined;
    const r = await evaluateCheckpoint({
      checkpointDir: o.checkpoint,
      ema: o.ema === true,
      expectModel: named ? resolveModel(model, o) : undefined,
      dataDir: o.dataDir,
      engine: o.engine,
      threads: o.threads,
      device: o.device,
      ...numeric,
      batchSize: o.batchSize,
      limitVal: o.limitVal,
      progress: o.progress,
      resultsDir: o.resultsDir,
      bench: o.bench !== false && Boolean(o.resultsDir),
    });
    printEval(r, o.json);
    return;
  }
  throw new UsageError(
    'regnet eval: give --checkpoint DIR (a folder written by regnet train --checkpoint) or --weights FILE --data-dir VAL_DIR',
  );
}

export function printEval(r: CheckpointEvalResult, json?: boolean): void {
  if (json) {
    process.stdout.write(JSON.stringify(r, null, 2) + '\n');
    return;
  }
  process.stdout.write(
    `${r.model} on ${r.dataset} (${r.engine}, ${r.imgSize}px, step ${r.globalStep}): top1 ${r.top1.toFixed(2)}%  top5 ${r.top5.toFixed(2)}%  (${r.n} images, ${r.seconds.toFixed(1)} s)\n`,
  );
}
