/**
 * `regnet bench MODEL...`: inference or training throughput (median samples/s and step time after
 * warm-up) on one engine, in the pytorch-image-models benchmark CSV format.
 * --json prints one object for one model and one batch size, an array otherwise.
 */
import type { Command } from 'commander';
import type { BuildOptions } from '../arch/spec.js';
import { benchJson, runBench, type BenchPlanItem } from '../bench/bench.js';
import type { Mode } from '../bench/measure.js';
import { selectEngine } from '../engine/select.js';
import type { EngineChoice, EngineInfo } from '../engine/types.js';
import { benchCsvName, formatBenchRow, writeBenchCsv, benchmarkColumns } from '../results/timm.js';
import { join } from 'node:path';
import { numerics } from '../engine/types.js';
import { checkWritableDir } from '../util/writable.js';
import { addPrecisionOptions, precisionEngineOptions, type PrecisionCliOptions } from './amp-options.js';
import { UsageError } from '../util/errors.js';
import { checkBatchTensor, LIMITS } from '../util/limits.js';
import { checkWritableFile } from '../util/writable.js';
import { renderTable } from '../util/table.js';
import { addEngineOptions } from './engine-options.js';
import { addModelListOptions, addModelParamOptions, buildResolved, resolveModelList, type ModelListOptions } from './model-args.js';
import {
  addAlias,
  addNetworkOptions,
  addProgressOption,
  networkBuildOptions,
  parseChoice,
  parseFloatOption,
  parseIntOption,
  type NetworkCliOptions,
  type ProgressMode,
} from './options.js';

/** `8` or `8,16,32` -> [8, 16, 32]; each a positive integer, no duplicates. */
export function parseBatchList(text: string, field = '--batch-size'): number[] {
  const parts = text.split(',').map((s) => s.trim());
  const out: number[] = [];
  for (const p of parts) {
    if (!/^\d+$/.test(p) || Number(p) < 1 || !Number.isSafeInteger(Number(p))) {
      throw new UsageError(`${field}: '${text}' is not a list of positive integers such as 8 or 8,16,32`);
    }
    if (out.includes(Number(p))) throw new UsageError(`${field}: batch size ${p} is listed twice`);
    if (Number(p) > LIMITS.batch) throw new UsageError(`${field}: batch size ${p} is above the limit of ${LIMITS.batch}`);
    out.push(Number(p));
  }
  return out;
}

export function describeEngine(i: EngineInfo): string {
  const { precision, layout } = numerics(i);
  const extra = `${precision !== 'fp32' ? `, amp ${precision}` : ''}${layout === 'nhwc' ? ', channels-last' : ''}`;
  return `engine: ${i.engine} (${i.version}, ${i.threads} thread${i.threads === 1 ? '' : 's'}, ${i.device}${extra})`;
}

interface BenchOptions extends ModelListOptions, NetworkCliOptions, PrecisionCliOptions {
  mode: Mode;
  batchSize: string;
  engine: EngineChoice;
  threads?: number;
  device?: string;
  warmup: number;
  iters?: number;
  seconds?: number;
  seed: number;
  json?: boolean;
  out?: string;
  outDir?: string;
  progress: ProgressMode;
}

export function register(program: Command): void {
  const cmd = program
    .command('bench')
    .description('measure inference or training throughput (timm benchmark CSV format)')
    .argument('[models...]', 'zoo names, e.g. resnet50 regnetx_032 (or --configs FILE.csv [--rows 0,3-5], or --depth/--w0/...)');
  addModelListOptions(addModelParamOptions(cmd, 'list'))
    .option(
      '--mode <m>',
      'infer (forward, eval mode) or train (full SGD step)',
      parseChoice('--mode', ['infer', 'train'] as const),
      'infer',
    )
    .option('--batch-size <n[,n...]>', 'batch size(s)', '32');
  addAlias(cmd, '--batch <n[,n...]>', 'batchSize');
  addNetworkOptions(cmd);
  addEngineOptions(cmd)
    .option('--warmup <n>', 'untimed steps first', parseIntOption('--warmup', 0), 3)
    .option('--iters <n>', 'timed steps (default 10)', parseIntOption('--iters', 1))
    .option('--seconds <s>', 'time budget for the timed steps instead of --iters', parseFloatOption('--seconds', 0))
    .option('--seed <n>', 'seed of the random inputs and labels', parseIntOption('--seed', 0), 0)
    .option('--json', 'print JSON: one object for one model and batch, else an array')
    .option('--out <file.csv>', 'also write a timm benchmark-<mode>-style CSV (atomic)')
    .option(
      '--out-dir <dir>',
      "also write the CSV there, named as timm's benchmark files: benchmark-<mode>[-amp-<dtype>][-nhwc]-<engine>-<res>px.csv",
    );
  addPrecisionOptions(cmd);
  addProgressOption(cmd, 'auto', 'progress lines on stderr: auto, plain or none').action(async (models: string[], o: BenchOptions) => {
    if (o.iters !== undefined && o.seconds !== undefined) throw new UsageError('give --iters or --seconds, not both');
    if (o.seconds !== undefined && !(o.seconds > 0)) throw new UsageError('--seconds must be > 0');
    const batches = parseBatchList(o.batchSize, '--batch-size');
    for (const batch of batches) checkBatchTensor(batch, o.inChans, o.imgSize, o.imgSize, { batch: '--batch-size', res: '--img-size' });
    if (o.out) checkWritableFile(o.out, '--out');
    if (o.out && o.outDir) throw new UsageError('give --out FILE or --out-dir DIR, not both');
    if (o.outDir) checkWritableDir(o.outDir, '--out-dir');
    const numeric = precisionEngineOptions(o, o.engine, o.device);
    const bo: BuildOptions = networkBuildOptions(o);
    // resolve (and test-build) every model before the engine starts, so bad names fail fast
    const resolved = resolveModelList(models, o);
    const plan: BenchPlanItem[] = resolved.map((m) => {
      buildResolved(m, bo);
      return { name: m.name, build: () => buildResolved(m, bo) };
    });
    const progress = o.progress === 'none' ? undefined : (l: string) => process.stderr.write(`bench: ${l}\n`);
    const engine = await selectEngine(o.engine, { threads: o.threads, device: o.device, ...numeric }, { inference: o.mode === 'infer' });
    try {
      const info = describeEngine(engine.info);
      if (o.json || o.progress === 'none') process.stderr.write(info + '\n');
      else process.stdout.write(info + '\n');
      const recs = await runBench(engine, plan, {
        mode: o.mode,
        batches,
        warmup: o.warmup,
        iters: o.iters,
        seconds: o.seconds,
        seed: o.seed,
        onProgress: progress,
      });
      const outFile =
        o.out ??
        (o.outDir && recs.length
          ? join(o.outDir, benchCsvName(o.mode, { engine: engine.info.engine, imgSize: recs[0]!.row.img_size, ...numerics(engine.info) }))
          : undefined);
      if (outFile)
        writeBenchCsv(
          outFile,
          recs.map((r) => r.row),
        );
      if (o.json) {
        const objs = recs.map(benchJson);
        process.stdout.write(JSON.stringify(objs.length === 1 ? objs[0] : objs, null, 2) + '\n');
      } else {
        const cols = benchmarkColumns(o.mode);
        const rows = recs.map((r) => {
          const f = formatBenchRow(r.row);
          return cols.map((c) => f[c]!);
        });
        process.stdout.write(renderTable(cols, rows) + '\n');
      }
      if (outFile) process.stderr.write(`wrote ${outFile}\n`);
    } finally {
      engine.close?.();
    }
  });
}
