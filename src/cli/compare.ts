/**
 * `regnet compare A B [C...]`: one table with structure, exact params/flops/acts, measured throughput on
 * one engine (models measured alternately), published reference top-1 and the user's own results, each
 * model relative to the first. `--no-bench` skips measuring (instant).
 */
import type { Command } from 'commander';
import { compareRows, measureModels, renderCompareCsv, renderCompareJson, renderCompareMarkdown, renderComparePlot, renderCompareTable, type CompareModel, type PlotY, type Throughput } from '../bench/compare.js';
import { selectEngine } from '../engine/select.js';
import { ENGINE_CHOICES, type EngineChoice, type EngineInfo } from '../engine/types.js';
import { isZooName } from '../arch/zoo.js';
import { writeFileAtomic } from '../util/atomic.js';
import { UsageError } from '../util/errors.js';
import { describeEngine } from './bench.js';
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
  program
    .command('compare')
    .description('compare models side by side: structure, params/flops/acts, measured throughput, reference and own top-1')
    .argument('[models...]', 'zoo names, e.g. resnet50 regnetx_032')
    .option('--config <file.csv>', 'a sampled-configs CSV (from regnet sample); with --row adds its rows')
    .option('--row <id[,id...]>', 'row id(s) in --config')
    .option('--res <n>', 'input resolution', parseIntOption('--res', 1), COMPARE_DEFAULTS.res)
    .option('--batch <n>', 'batch size for the throughput measurement', parseIntOption('--batch', 1), COMPARE_DEFAULTS.batch)
    .option('--num-classes <n>', 'classifier classes', parseIntOption('--num-classes', 1), 1000)
    .option('--engine <e>', `compute engine: ${ENGINE_CHOICES.join(', ')}`, parseChoice('--engine', ENGINE_CHOICES), 'auto')
    .option('--threads <n>', 'engine threads (torch; default all cores)', parseIntOption('--threads', 1))
    .option('--device <d>', 'cpu, cuda or cuda:N (torch)')
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
      if (o.iters !== undefined && o.seconds !== undefined) throw new UsageError('give --iters or --seconds, not both');
      if (o.seconds !== undefined && !(o.seconds > 0)) throw new UsageError('--seconds must be > 0');
      if (o.plot && o.plotY === 'throughput' && !o.bench) throw new UsageError('--plot-y throughput needs the measurement; drop --no-bench');
      if (!o.bench && o.train) throw new UsageError('--train measures training throughput; it cannot be combined with --no-bench');
      if (o.row !== undefined && !o.config) throw new UsageError('--row needs --config FILE.csv');

      const resolved: ResolvedModel[] = names.map((n) => resolveModel(n, {}));
      if (o.config) {
        if (o.row === undefined) throw new UsageError('--config needs --row ID (or ID,ID,...)');
        const ids = o.row.split(',').map((s) => s.trim());
        if (ids.some((s) => s === '')) throw new UsageError(`--row: '${o.row}' has an empty id`);
        for (const id of ids) resolved.push(resolveModel(undefined, { config: o.config, row: id }));
      }
      if (resolved.length < 2) throw new UsageError('compare needs at least two models (zoo names, or --config FILE --row ID)');
      const bo = { res: o.res, numClasses: o.numClasses };
      const models: CompareModel[] = resolved.map((m) => ({ name: m.name, zoo: isZooName(m.name) ? m.name : undefined, net: buildResolved(m, bo) }));

      let throughput: Throughput[] | undefined;
      let info: EngineInfo | undefined;
      if (o.bench) {
        const progress = o.quiet ? undefined : (l: string) => process.stderr.write(`compare: ${l}\n`);
        const engine = await selectEngine(o.engine, { threads: o.threads, device: o.device }, { inference: !o.train });
        info = engine.info;
        process.stderr.write(describeEngine(info) + '\n');
        const budget = o.iters === undefined ? (o.seconds ?? COMPARE_DEFAULTS.seconds) : undefined;
        try {
          throughput = await measureModels(engine, models, {
            batch: o.batch,
            warmup: o.warmup,
            iters: o.iters,
            seconds: budget,
            minIters: COMPARE_DEFAULTS.minIters,
            train: !!o.train,
            seed: o.seed,
            onProgress: progress,
          });
        } finally {
          engine.close?.();
        }
      }
      const rows = compareRows(models, { resultsDir: o.resultsDir, throughput, batch: o.batch, engine: info });
      const text =
        o.format === 'json' ? renderCompareJson(rows) : o.format === 'csv' ? renderCompareCsv(rows) : o.format === 'markdown' ? renderCompareMarkdown(rows) : renderCompareTable(rows);
      if (o.out) {
        writeFileAtomic(o.out, text);
        process.stderr.write(`wrote ${o.out}\n`);
      } else {
        process.stdout.write(text);
      }
      if (o.plot) {
        const { svg, skipped } = renderComparePlot(rows, models, o.plotY);
        writeFileAtomic(o.plot, svg);
        if (skipped.length) process.stderr.write(`plot: no ${o.plotY === 'accuracy' ? 'top-1' : 'throughput'} for ${skipped.join(', ')}; not drawn\n`);
        process.stderr.write(`wrote ${o.plot}\n`);
      }
    });
}
