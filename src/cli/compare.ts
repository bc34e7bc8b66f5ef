/**
 * `regnet compare A B [C...]`: one table with structure, exact params/flops/acts, measured throughput on
 * one engine (models measured alternately), published reference top-1 and the user's own results, each
 * model relative to the first. The networks are built as `regnet train` builds them for `--dataset`
 * (same --img-size, --num-classes, --in-chans and --stem defaults), and own results must be of the same
 * network on that dataset at that size. `--no-bench` skips measuring (instant).
 */
import { existsSync, statSync } from 'node:fs';
import type { Command } from 'commander';
import type { Stem } from '../arch/spec.js';
import {
  compareRows,
  measureModels,
  renderCompareCsv,
  renderCompareJson,
  renderCompareMarkdown,
  renderComparePlot,
  renderCompareTable,
  type CompareModel,
  type CompareRow,
  type CompareSetting,
  type PlotY,
  type Throughput,
} from '../bench/compare.js';
import { DATASET_GEOMETRY } from '../data/types.js';
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
import { otherBuilds } from '../results/own-results.js';
import { readConfigs } from '../results/samples.js';
import {
  addAlias,
  addNetworkOptions,
  addProgressOption,
  AliasOption,
  networkBuildOptions,
  parseChoice,
  parseFloatOption,
  parseIntOption,
  type ProgressMode,
} from './options.js';

/** Defaults sized so two ImageNet-size models finish within a minute on a 2-core machine. */
export const COMPARE_DEFAULTS = { dataset: 'imagenet', batch: 8, warmup: 1, seconds: 8, minIters: 1 } as const;

type Format = 'table' | 'csv' | 'json' | 'markdown';

interface CompareOptions {
  configs?: string;
  rows?: string;
  dataset: string;
  imgSize?: number;
  numClasses?: number;
  inChans?: number;
  stem?: Stem;
  batchSize: number;
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
  progress: ProgressMode;
}

const known = Object.keys(DATASET_GEOMETRY).join(', ');

export function register(program: Command): void {
  const cmd = program
    .command('compare')
    .description('compare models side by side: structure, params/flops/acts, measured throughput, reference and own top-1')
    .argument('[models...]', 'zoo names, e.g. resnet50 regnetx_032')
    .option('--configs <file.csv>', 'a sampled-configs CSV (from regnet sample): adds its rows (all, or --rows)')
    .option('--rows <ids>', 'row ids of --configs: 3, 0,3-5 (ranges of numeric ids)');
  addAlias(cmd, '--config <file.csv>', 'configs');
  addAlias(cmd, '--row <ids>', 'rows');
  cmd.option(
    '--dataset <name>',
    `whose results to show and what the networks are built for (${known}, or a results-<name>.csv name)`,
    COMPARE_DEFAULTS.dataset,
  );
  addNetworkOptions(cmd, {
    imgSize: "the dataset's: imagenet 224, (fashion-)mnist 28, cifar 32, folder 128",
    numClasses: "the dataset's",
    inChans: '3, as regnet train',
  }).option('--batch-size <n>', 'batch size of the throughput measurement', parseIntOption('--batch-size', 1), COMPARE_DEFAULTS.batch);
  addAlias(cmd, '--batch <n>', 'batchSize', parseIntOption('--batch', 1));
  addEngineOptions(cmd)
    .option('--warmup <n>', 'untimed rounds first', parseIntOption('--warmup', 0), COMPARE_DEFAULTS.warmup)
    .option('--iters <n>', 'timed rounds (default: rounds start while --seconds lasts, at least one)', parseIntOption('--iters', 1))
    .option(
      '--seconds <s>',
      `time budget of the timed rounds, all models together (default ${COMPARE_DEFAULTS.seconds})`,
      parseFloatOption('--seconds', 0),
    )
    .option('--seed <n>', 'seed of the random inputs', parseIntOption('--seed', 0), 0)
    .option('--train', 'also measure training throughput (full SGD steps)')
    .option('--no-bench', 'complexity and reference numbers only (no engine, instant)')
    .option('--format <f>', 'table, csv, json or markdown', parseChoice('--format', ['table', 'csv', 'json', 'markdown'] as const), 'table')
    .addOption(new AliasOption('--json', 'format', 'same as --format json').preset('json'))
    .option('--out <file>', 'write the output to this file (atomic) instead of stdout')
    .option('--results-dir <dir>', 'folder of your results-<dataset>[-<split>].csv files', 'results')
    .option('--plot <file.svg>', 'draw top-1 (or throughput) against flops; over the zoo reference curves for imagenet at 224 px')
    .option('--plot-y <y>', 'accuracy or throughput', parseChoice('--plot-y', ['accuracy', 'throughput'] as const), 'accuracy');
  addProgressOption(cmd, 'auto', 'measurement progress lines on stderr: auto, plain or none').action(
    async (names: string[], o: CompareOptions) => {
      checkOptionCombinations(o);
      checkPaths(o);
      const setting = compareSetting(o);
      if (o.bench)
        checkBatchTensor(o.batchSize, setting.inChans, setting.imgSize, setting.imgSize, { batch: '--batch-size', res: '--img-size' });
      const models = resolveCompareModels(names, o, setting);
      const measured = o.bench ? await measureOnEngine(models, o) : undefined;
      const rows = compareRows(models, {
        setting,
        resultsDir: o.resultsDir,
        throughput: measured?.throughput,
        batch: o.batchSize,
        engine: measured?.engine,
      });
      writeOutput(renderRows(rows, o.format), o.out);
      noteOtherBuilds(rows, o.resultsDir, setting);
      if (o.plot) writePlot(o.plot, rows, o.plotY);
    },
  );
}

/**
 * A model without own results here may have some for another build of it (another stem, size or channel
 * count, e.g. resnet18 trained on MNIST with the ImageNet stem): say which options show them, on stderr.
 */
function noteOtherBuilds(rows: CompareRow[], resultsDir: string, setting: CompareSetting): void {
  for (const r of rows) {
    if (r.top1 !== null) continue;
    const builds = otherBuilds(resultsDir, setting.dataset, {
      model: r.model,
      imgSize: setting.imgSize,
      stem: setting.stem,
      inChans: setting.inChans,
      params: r.params,
      flops: r.flops,
    });
    for (const b of builds) {
      const opts = [
        b.imgSize !== setting.imgSize ? `--img-size ${b.imgSize}` : '',
        b.stem !== null && b.stem !== setting.stem ? `--stem ${b.stem}` : '',
        b.inChans !== null && b.inChans !== setting.inChans ? `--in-chans ${b.inChans}` : '',
      ].filter(Boolean);
      const how = opts.length ? `compare with ${opts.join(' ')} to see it` : 'its parameter or flop count differs from this build';
      process.stderr.write(`compare: ${r.model} has own results in ${b.file} for another build of it (${how})\n`);
    }
  }
}

/** Flag combinations that cannot work, refused before any model is built. */
function checkOptionCombinations(options: CompareOptions): void {
  if (options.iters !== undefined && options.seconds !== undefined) throw new UsageError('give --iters or --seconds, not both');
  if (options.seconds !== undefined && !(options.seconds > 0)) throw new UsageError('--seconds must be > 0');
  if (options.plot && options.plotY === 'throughput' && !options.bench)
    throw new UsageError('--plot-y throughput needs the measurement; drop --no-bench');
  if (!options.bench && options.train) throw new UsageError('--train measures training throughput; it cannot be combined with --no-bench');
  if (options.rows !== undefined && !options.configs) throw new UsageError('--rows needs --configs FILE.csv');
  if (!/^[\w.-]+$/.test(options.dataset))
    throw new UsageError(`--dataset: '${options.dataset}' may only contain letters, digits, '_', '-', '.'`);
}

/** Output paths writable and --results-dir a folder, before anything is built or measured. */
function checkPaths(options: CompareOptions): void {
  if (options.out) checkWritableFile(options.out, '--out');
  if (options.plot) checkWritableFile(options.plot, '--plot');
  if (existsSync(options.resultsDir) && !statSync(options.resultsDir).isDirectory()) {
    throw new UsageError(`--results-dir ${options.resultsDir} is a file, not a folder`);
  }
}

/** The dataset's image size and classes unless given; 3 input channels and the stem by the shared rule, as regnet train. */
export function compareSetting(options: Pick<CompareOptions, 'dataset' | 'imgSize' | 'numClasses' | 'inChans' | 'stem'>): CompareSetting {
  const geometry = DATASET_GEOMETRY[options.dataset];
  const imgSize = options.imgSize ?? geometry?.imgSize;
  const numClasses = options.numClasses ?? geometry?.numClasses;
  if (imgSize === undefined || numClasses === undefined) {
    const missing = [imgSize === undefined ? '--img-size' : '', numClasses === undefined ? '--num-classes' : '']
      .filter(Boolean)
      .join(' and ');
    throw new UsageError(`--dataset ${options.dataset}: give ${missing} (known datasets: ${known})`);
  }
  const build = networkBuildOptions({ imgSize, numClasses, inChans: options.inChans ?? 3, stem: options.stem });
  return { dataset: options.dataset, imgSize, numClasses, inChans: build.inChans, stem: build.stem };
}

/** `3`, `0,3-5`: row ids of a configs file (a range needs numeric ids). */
export function parseRowIds(text: string): string[] {
  const ids: string[] = [];
  for (const part of text.split(',').map((p) => p.trim())) {
    if (part === '') throw new UsageError(`--rows: '${text}' has an empty id`);
    const range = /^(\d+)-(\d+)$/.exec(part);
    if (!range) {
      ids.push(part);
      continue;
    }
    const [from, to] = [Number(range[1]), Number(range[2])];
    if (to < from) throw new UsageError(`--rows: range '${part}' runs backwards`);
    for (let id = from; id <= to; id++) ids.push(String(id));
  }
  return ids;
}

/** The named models, then the --configs rows (all, or --rows), built for the compared setting. */
function resolveCompareModels(names: string[], options: CompareOptions, setting: CompareSetting): CompareModel[] {
  const resolved: ResolvedModel[] = names.map((name) => resolveModel(name, {}));
  if (options.configs) {
    const ids = options.rows === undefined ? readConfigs(options.configs).map((r) => r.id) : parseRowIds(options.rows);
    for (const id of ids) resolved.push(resolveModel(undefined, { config: options.configs, row: id }));
  }
  if (resolved.length < 1) throw new UsageError('compare needs models: zoo names, or --configs FILE [--rows IDS]');
  const buildOptions = { res: setting.imgSize, numClasses: setting.numClasses, inChans: setting.inChans, stem: setting.stem };
  return resolved.map((model) => ({
    name: model.name,
    zoo: isZooName(model.name) ? model.name : undefined,
    net: buildResolved(model, buildOptions),
  }));
}

/** Throughput of every model on the chosen engine, measured alternately. */
async function measureOnEngine(models: CompareModel[], options: CompareOptions): Promise<{ throughput: Throughput[]; engine: EngineInfo }> {
  const progress = options.progress === 'none' ? undefined : (line: string) => process.stderr.write(`compare: ${line}\n`);
  const engine = await selectEngine(options.engine, { threads: options.threads, device: options.device }, { inference: !options.train });
  process.stderr.write(describeEngine(engine.info) + '\n');
  const budget = options.iters === undefined ? (options.seconds ?? COMPARE_DEFAULTS.seconds) : undefined;
  try {
    const throughput = await measureModels(engine, models, {
      batch: options.batchSize,
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

function writePlot(file: string, rows: CompareRow[], plotY: PlotY): void {
  const { svg, skipped } = renderComparePlot(rows, plotY);
  writeFileAtomic(file, svg);
  if (skipped.length)
    process.stderr.write(`plot: no ${plotY === 'accuracy' ? 'top-1' : 'throughput'} for ${skipped.join(', ')}; not drawn\n`);
  process.stderr.write(`wrote ${file}\n`);
}
