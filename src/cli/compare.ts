/**
 * `regnet compare A B [C...]`: one table with structure, exact params/flops/acts, measured throughput on
 * one engine (models measured alternately), published reference top-1 and the user's own results, each
 * model relative to the first. `--no-bench` skips measuring (instant).
 */
import { existsSync, statSync } from 'node:fs';
import type { Command } from 'commander';
import { compareRows, measureModels, renderCompareCsv, renderCompareJson, renderCompareMarkdown, renderComparePlot, renderCompareTable, type CompareModel, type CompareRow, type PlotY, type Throughput } from '../bench/compare.js';
import { selectEngine } from '../engine/select.js';
import type { EngineChoice, EngineInfo } from '../engine/types.js';
import { isZooName } from '../arch/zoo.js';
import { writeFileAtomic } from '../util/atomic.js';
import { UsageError } from '../util/errors.js';
import { checkBatchTensor } from '../util/limits.js';
import { checkWritableFile } from '../util/writable.js';
import { describeEngine } from './bench.js';
import { addEngineOptions } from './engine-options.js';
import { buildResolved, resolveModel, type ResolvedModel } from './model-args.js';
import { parseChoice, parseFloatOption, parseIntOption } from './options.js';

/** Defaults sized so two ImageNet-size models finish within a minute on a 2-core machine. */
export const COMPARE_DEFAULTS = { res: 224, batch: 8, warmup: 1, seconds: 8, minIters: 1 } as const;

type Format = 'table' | 'csv' | 'json' | 'markdown';

interface CompareOptions {
  config?: string;
  row?: string;
  res: number;
  batch: number;
  numClasses: number;
  engine: EngineChoice;
  threads?: number;
  device?: string;
  warmup: number;
  iters?: number;
  seconds?: number;
  seed: number;
  train?: boolean;
  bench: boolean;
  format: Format;
  out?: string;
  resultsDir: string;
  plot?: string;
  plotY: PlotY;
  quiet?: boolean;
}

export function register(program: Command): void {
  const cmd = program
    .command('compare')
    .description('compare models side by side: structure, params/flops/acts, measured throughput, reference and own top-1')
    .argument('[models...]', 'zoo names, e.g. resnet50 regnetx_032')
    .option('--config <file.csv>', 'a sampled-configs CSV (from regnet sample); with --row adds its rows')
    .option('--row <id[,id...]>', 'row id(s) in --config')
    .option('--res <n>', 'input resolution', parseIntOption('--res', 1), COMPARE_DEFAULTS.res)
    .option('--batch <n>', 'batch size for the throughput measurement', parseIntOption('--batch', 1), COMPARE_DEFAULTS.batch)
    .option('--num-classes <n>', 'classifier classes', parseIntOption('--num-classes', 1), 1000);
  addEngineOptions(cmd)
    .option('--warmup <n>', 'untimed rounds first', parseIntOption('--warmup', 0), COMPARE_DEFAULTS.warmup)
    .option('--iters <n>', 'timed rounds (default: rounds start while --seconds lasts, at least one)', parseIntOption('--iters', 1))
    .option('--seconds <s>', `time budget of the timed rounds, all models together (default ${COMPARE_DEFAULTS.seconds})`, parseFloatOption('--seconds', 0))
    .option('--seed <n>', 'seed of the random inputs', parseIntOption('--seed', 0), 0)
    .option('--train', 'also measure training throughput (full SGD steps)')
    .option('--no-bench', 'complexity and reference numbers only (no engine, instant)')
    .option('--format <f>', 'table, csv, json or markdown', parseChoice('--format', ['table', 'csv', 'json', 'markdown'] as const), 'table')
    .option('--out <file>', 'write the output to a file (atomic) instead of stdout')
    .option('--results-dir <dir>', 'where your results-*.csv files are', 'results')
    .option('--plot <file.svg>', 'draw top-1 (or throughput) against flops over the zoo reference curves')
    .option('--plot-y <y>', 'accuracy or throughput', parseChoice('--plot-y', ['accuracy', 'throughput'] as const), 'accuracy')
    .option('-q, --quiet', 'no progress lines')
    .action(async (names: string[], o: CompareOptions) => {
      checkOptionCombinations(o);
      checkPaths(o);
      const models = resolveCompareModels(names, o);
      const measured = o.bench ? await measureOnEngine(models, o) : undefined;
      const rows = compareRows(models, { resultsDir: o.resultsDir, throughput: measured?.throughput, batch: o.batch, engine: measured?.engine });
      writeOutput(renderRows(rows, o.format), o.out);
      if (o.plot) writePlot(o.plot, rows, models, o.plotY);
    });
}

/** Flag combinations that cannot work, refused before any model is built. */
function checkOptionCombinations(options: CompareOptions): void {
  if (options.iters !== undefined && options.seconds !== undefined) throw new UsageError('give --iters or --seconds, not both');
  if (options.seconds !== undefined && !(options.seconds > 0)) throw new UsageError('--seconds must be > 0');
  if (options.plot && options.plotY === 'throughput' && !options.bench) throw new UsageError('--plot-y throughput needs the measurement; drop --no-bench');
  if (!options.bench && options.train) throw new UsageError('--train measures training throughput; it cannot be combined with --no-bench');
  if (options.row !== undefined && !options.config) throw new UsageError('--row needs --config FILE.csv');
  if (options.bench) checkBatchTensor(options.batch, 3, options.res, options.res, { batch: '--batch', res: '--res' });
}

/** Output paths writable and --results-dir a folder, before anything is built or measured. */
function checkPaths(options: CompareOptions): void {
  if (options.out) checkWritableFile(options.out, '--out');
  if (options.plot) checkWritableFile(options.plot, '--plot');
  if (existsSync(options.resultsDir) && !statSync(options.resultsDir).isDirectory()) {
    throw new UsageError(`--results-dir ${options.resultsDir} is a file, not a folder`);
  }
}

/** The named models, then the --config rows, built at --res with --num-classes. */
function resolveCompareModels(names: string[], options: CompareOptions): CompareModel[] {
  const resolved: ResolvedModel[] = names.map((name) => resolveModel(name, {}));
  if (options.config) {
    if (options.row === undefined) throw new UsageError('--config needs --row ID (or ID,ID,...)');
    const ids = options.row.split(',').map((id) => id.trim());
    if (ids.some((id) => id === '')) throw new UsageError(`--row: '${options.row}' has an empty id`);
    for (const id of ids) resolved.push(resolveModel(undefined, { config: options.config, row: id }));
  }
  if (resolved.length < 2) throw new UsageError('compare needs at least two models (zoo names, or --config FILE --row ID)');
  const buildOptions = { res: options.res, numClasses: options.numClasses };
  return resolved.map((model) => ({ name: model.name, zoo: isZooName(model.name) ? model.name : undefined, net: buildResolved(model, buildOptions) }));
}

/** Throughput of every model on the chosen engine, measured alternately. */
async function measureOnEngine(models: CompareModel[], options: CompareOptions): Promise<{ throughput: Throughput[]; engine: EngineInfo }> {
  const progress = options.quiet ? undefined : (line: string) => process.stderr.write(`compare: ${line}\n`);
  const engine = await selectEngine(options.engine, { threads: options.threads, device: options.device }, { inference: !options.train });
  process.stderr.write(describeEngine(engine.info) + '\n');
  const budget = options.iters === undefined ? (options.seconds ?? COMPARE_DEFAULTS.seconds) : undefined;
  try {
    const throughput = await measureModels(engine, models, {
      batch: options.batch,
      warmup: options.warmup,
      iters: options.iters,
      seconds: budget,
      minIters: COMPARE_DEFAULTS.minIters,
      train: !!options.train,
      seed: options.seed,
      onProgress: progress,
    });
    return { throughput, engine: engine.info };
  } finally {
    engine.close?.();
  }
}

function renderRows(rows: CompareRow[], format: Format): string {
  if (format === 'json') return renderCompareJson(rows);
  if (format === 'csv') return renderCompareCsv(rows);
  if (format === 'markdown') return renderCompareMarkdown(rows);
  return renderCompareTable(rows);
}

/** To --out (atomically) when given, else to stdout. */
function writeOutput(text: string, out: string | undefined): void {
  if (out) {
    writeFileAtomic(out, text);
    process.stderr.write(`wrote ${out}\n`);
  } else {
    process.stdout.write(text);
  }
}

function writePlot(file: string, rows: CompareRow[], models: CompareModel[], plotY: PlotY): void {
  const { svg, skipped } = renderComparePlot(rows, models, plotY);
  writeFileAtomic(file, svg);
  if (skipped.length) process.stderr.write(`plot: no ${plotY === 'accuracy' ? 'top-1' : 'throughput'} for ${skipped.join(', ')}; not drawn\n`);
  process.stderr.write(`wrote ${file}\n`);
}
