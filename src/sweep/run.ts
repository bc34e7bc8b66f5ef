/**
 * Running a sweep: lock the folder for this shard (sweep/lock.ts), list the models (sampled
 * deterministically for the seed, a samples file's rows, baselines, or an explicit list:
 * src/sweep/models.ts), keep this shard's, skip those with a final row, train the rest one by one and
 * rewrite the shard's CSV after each model. With `repeats: K` each model trains K times (repeat 0..K-1,
 * each its own seed, row and checkpoint), and a config's `hyper` fields are drawn per model
 * (src/sweep/hyper.ts) and passed as overrides. Rows are matched to trainings by the model's canonical
 * name, repeat and sampled values (runKey), so a list that grows (a larger n or K, another baseline) keeps
 * its finished rows. Killing the process at any point loses at most the training in flight, and that one
 * resumes from its checkpoint (OUT/checkpoints/<model name>[.rK]/) on the next run. A model's exceptions
 * become 'failed' rows and the sweep goes on; errors of the environment or the config (SetupError: no
 * dataset, no engine, a bad recipe) stop the sweep and are never recorded as results. `regnet train` with
 * several models runs here too.
 */
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { TrainRequest, TrainResult } from '../train/types.js';
import { removeStaleTemps, writeFileAtomic } from '../util/atomic.js';
import { crashPoint } from '../util/crash-points.js';
import { SetupError, UsageError } from '../util/errors.js';
import { Rng } from '../util/rng.js';
import { baseRequest, runIdentity, type ResolvedSweep } from './config.js';
import { drawHyper, hyperOverrides, type HyperValues } from './hyper.js';
import { lockSweepFolder } from './lock.js';
import { sweepEntriesInterruptible, type SweepModel } from './models.js';
import {
  baseRow,
  dedupeRows,
  failedRow,
  isFinal,
  readRows,
  resultRow,
  rowKey,
  runKey,
  writeRows,
  type RowContext,
  type SweepRow,
} from './rows.js';
import { inShard, shardFileName, type Shard } from './shard.js';

export type TrainFn = (req: TrainRequest) => Promise<TrainResult>;

export interface RunSweepOptions {
  sweep: ResolvedSweep;
  outDir: string;
  shard?: Shard;
  /** extra tries for a model whose training throws (counted over reruns too) */
  retries?: number;
  trainer: TrainFn;
  signal?: AbortSignal;
  progress?: TrainRequest['progress'];
  keepCheckpoints?: boolean;
  log?: (line: string) => void;
  /** called after each row is on disk (the CLI's test hook uses it) */
  onRow?: (row: SweepRow, written: number) => void;
  /** a --workers child: the pid of its parent, which holds the folder lock */
  parentPid?: number;
  /**
   * Checks of the environment, run before anything is written when there is a model to train (not at
   * all when every model is done): a SetupError from it stops the sweep before any model.
   */
  preflight?: () => Promise<void>;
  /** called once the preflight passed (or was not needed), before the first file of the run is written */
  beforeFirstWrite?: () => void;
  /** every trainer result, as it comes (regnet train prints them) */
  onResult?: (result: TrainResult, model: SweepModel) => void;
  /** also merge each model's row into <dir>/results-<dataset>.csv (with inference throughput) */
  resultsDir?: string;
  /** measure inference throughput for the results row (default: when resultsDir is set) */
  bench?: boolean;
  /** errors that end the run instead of becoming a 'failed' row (e.g. a bad dataset: every model would fail alike) */
  fatal?: (error: unknown) => boolean;
}

export interface SweepSummary {
  file: string;
  /** models in this shard */
  total: number;
  /** rows in the file at the end */
  rows: number;
  trained: number;
  ok: number;
  diverged: number;
  failed: number;
  skipped: number;
  interrupted: boolean;
}

/** The seed a model trains with: fixed by the sweep seed and the model id, not by the shard. */
export function trainSeed(sweepSeed: number, id: number): number {
  return Rng.derive(sweepSeed, `train:${id}`).nextU32() & 0x7fffffff;
}

/**
 * The seed of one model: the config's train_seed when set; a baseline's from its name (its id moves
 * when n changes); any other model's from its id.
 */
export function modelSeed(sweep: ResolvedSweep, model: SweepModel): number {
  const c = sweep.config;
  if (c.train_seed !== undefined) return c.train_seed;
  return model.baseline ? Rng.derive(c.seed, `train:${model.name}`).nextU32() & 0x7fffffff : trainSeed(c.seed, model.id);
}

/**
 * The seed of one training of a model: repeat 0 trains with modelSeed; repeat r > 0 with train_seed + r
 * when the config fixes train_seed, else with a seed derived from the sweep seed, the model and r.
 */
export function runSeed(sweep: ResolvedSweep, model: SweepModel, repeat: number): number {
  if (repeat === 0) return modelSeed(sweep, model);
  const c = sweep.config;
  if (c.train_seed !== undefined) return c.train_seed + repeat;
  return Rng.derive(c.seed, `train:${model.baseline ? model.name : model.id}:repeat:${repeat}`).nextU32() & 0x7fffffff;
}

/** One training of the sweep: a model, its repeat and the recipe values sampled for the model. */
export interface SweepRun {
  model: SweepModel;
  repeat: number;
  hyper: HyperValues;
  /** runKey: matches the run to its row */
  key: string;
}

/** Every training of the sweep, in model order, repeats of a model together (the same on every shard). */
export function sweepRuns(sweep: ResolvedSweep, models: SweepModel[]): SweepRun[] {
  const repeats = sweep.config.repeats ?? 1;
  return models.flatMap((model) => {
    const hyper = drawHyper(sweep.config.hyper, sweep.config.seed, model.name);
    return Array.from({ length: repeats }, (_, repeat) => ({ model, repeat, hyper, key: runKey(model.name, repeat, hyper) }));
  });
}

export { sweepModels } from './models.js';

/**
 * Rows of the same sweep already in other CSVs of the folder (the merged sweep.csv, other shards):
 * a model finished anywhere is not trained again, and its row is carried into this file so nothing
 * is lost when the shard layout changes between runs.
 */
function rowsElsewhere(outDir: string, ownFile: string, hash: string, log: (l: string) => void): SweepRow[] {
  if (!existsSync(outDir)) return [];
  const out: SweepRow[] = [];
  for (const f of readdirSync(outDir).sort()) {
    if (f === ownFile || !/^sweep(\.shard-\d+-of-\d+)?\.csv$/.test(f)) continue;
    let rows: SweepRow[];
    try {
      rows = readRows(join(outDir, f));
    } catch (e) {
      log(`ignoring ${f}: ${(e as Error).message}`);
      continue;
    }
    out.push(...rows.filter((r) => r.config_hash === hash && isFinal(r.status)));
  }
  return out;
}

/** What training the shard's models needs, fixed for the whole run. */
interface ShardRun {
  options: RunSweepOptions;
  /** the shard's trainings, in sweep order */
  runs: SweepRun[];
  retries: number;
  log: (line: string) => void;
  request: ReturnType<typeof baseRequest>;
  rowContext: RowContext;
}

/** Run this shard of the sweep under its lock, taken before anything is read or written and held to the end. */
export async function runSweep(options: RunSweepOptions): Promise<SweepSummary> {
  const { sweep, outDir, shard } = options;
  const purpose = `sweep ${sweep.config.name}${shard ? ` shard ${shard.index}/${shard.count}` : ''}`;
  const lock = lockSweepFolder(outDir, shard, { purpose, parentPid: options.parentPid });
  try {
    return await runLocked(options);
  } finally {
    lock.release();
  }
}

async function runLocked(options: RunSweepOptions): Promise<SweepSummary> {
  const { sweep, outDir, shard } = options;
  const log = options.log ?? (() => {});
  const retries = options.retries ?? 0;
  const fileName = shardFileName(shard);
  const file = join(outDir, fileName);
  // temp files of writers killed mid-write (rows, the sidecar, a merge)
  removeStaleTemps(outDir);
  const ownOnDisk = readOwnRows(file, sweep);
  const all = await sweepEntriesInterruptible(sweep, options.signal);
  if (!all) return { file, total: 0, rows: ownOnDisk.length, trained: 0, ok: 0, diverged: 0, failed: 0, skipped: 0, interrupted: true };
  // rows written before rows named their model: the id tells which model (sampled ids are stable)
  const nameOf = new Map(all.map((m) => [m.id, m.name]));
  const named = (rows: SweepRow[]) => rows.map((row) => (row.model ? row : { ...row, model: nameOf.get(row.id) ?? '' }));
  const own = named(ownOnDisk);

  // a model's repeats stay on one shard
  const runs = sweepRuns(
    sweep,
    all.filter((model) => inShard(model.id, shard)),
  );
  const mine = new Set(runs.map((r) => r.key));
  const rows = gatherRows(own, named(rowsElsewhere(outDir, fileName, sweep.hash, log)), mine);
  if (options.preflight && runs.some((r) => !isDone(rows.get(r.key), retries))) await options.preflight();
  options.beforeFirstWrite?.();
  writeSidecar(outDir, sweep, all);
  const flush = () => writeRows(file, [...rows.values()]);
  if (rows.size !== own.length || ownOnDisk.some((row) => !row.model)) flush();
  // checkpoints of finished models left by a run killed between the row and their removal
  if (!options.keepCheckpoints) {
    for (const r of runs) {
      const status = rows.get(r.key)?.status;
      if (status && isFinal(status)) rmSync(checkpointDirOf(outDir, r), { recursive: true, force: true });
    }
  }

  const config = sweep.config;
  const run: ShardRun = {
    options,
    runs,
    retries,
    log,
    request: baseRequest(sweep),
    rowContext: {
      sweep: config.name,
      hash: sweep.hash,
      seed: config.seed,
      dataset: config.dataset,
      res: sweep.space?.res ?? config.res ?? 0,
      device: config.device ?? 'cpu',
      threads: runIdentity(config).threads,
    },
  };
  const summary: SweepSummary = {
    file,
    total: runs.length,
    rows: 0,
    trained: 0,
    ok: 0,
    diverged: 0,
    failed: 0,
    skipped: 0,
    interrupted: false,
  };
  for (const r of runs) {
    const model = r.model;
    if (options.signal?.aborted) {
      summary.interrupted = true;
      break;
    }
    const previous = rows.get(r.key);
    if (isDone(previous, retries)) {
      summary.skipped++;
      continue;
    }
    const row = await trainWithRetries(run, r, previous?.attempts ?? 0);
    if (!row) {
      // interrupted: no row, the checkpoint stays for the next run
      summary.interrupted = true;
      break;
    }
    rows.set(r.key, row);
    flush();
    crashPoint('sweep-after-row');
    summary.trained++;
    if (!options.keepCheckpoints) rmSync(checkpointDirOf(outDir, r), { recursive: true, force: true });
    log(
      `model ${model.id}${describeRun(r)} (${model.name}): ${row.status}${row.status === 'failed' ? ` (${row.error})` : `, top1 ${row.top1}%, ${row.train_seconds}s`}`,
    );
    options.onRow?.(row, summary.trained);
  }
  countStatuses(summary, rows, mine);
  return summary;
}

/** A model with a final row, or a failed one out of tries, is not trained again. */
function isDone(previous: SweepRow | undefined, retries: number): boolean {
  return previous !== undefined && (isFinal(previous.status) || previous.attempts >= 1 + retries);
}

/** This shard's rows on disk, which must all come from this sweep config. */
function readOwnRows(file: string, sweep: ResolvedSweep): SweepRow[] {
  const own = readRows(file);
  const foreign = own.find((row) => row.config_hash !== sweep.hash);
  if (foreign) {
    throw new UsageError(
      `${file} holds rows of another sweep config (hash ${foreign.config_hash}, this config ${sweep.hash}): use another output folder (sweep --out, train --checkpoint)`,
    );
  }
  return own;
}

/**
 * The rows this file keeps: its own (even of models no longer in this shard) and, after dedupeRows, the
 * final rows of this shard's models found elsewhere; keyed by model name (rowKey).
 */
function gatherRows(own: SweepRow[], elsewhere: SweepRow[], mine: Set<string>): Map<string, SweepRow> {
  const rows = new Map<string, SweepRow>();
  for (const row of dedupeRows([...own, ...elsewhere]).rows) {
    if (mine.has(rowKey(row)) || own.includes(row)) rows.set(rowKey(row), row);
  }
  return rows;
}

/** The sidecar records the resolved config and the model list, so any shard file can be traced to what produced it. */
function writeSidecar(outDir: string, sweep: ResolvedSweep, models: SweepModel[]): void {
  const config = sweep.config;
  const n = models.reduce((m, x) => Math.max(m, x.id + 1), 0);
  writeFileAtomic(
    join(outDir, 'sweep.json'),
    JSON.stringify(
      {
        name: config.name,
        config_hash: sweep.hash,
        seed: config.seed,
        n,
        repeats: config.repeats ?? 1,
        config,
        space: sweep.space,
        models: models.map((m) => m.name),
      },
      null,
      2,
    ) + '\n',
  );
}

/**
 * A training's checkpoint folder: the model's name (canonical names are safe file names: letters, digits,
 * '_', '-', '.'), with `.rK` for repeat K > 0.
 */
function checkpointDirOf(outDir: string, run: Pick<SweepRun, 'model' | 'repeat'>): string {
  return join(outDir, 'checkpoints', run.repeat > 0 ? `${run.model.name}.r${run.repeat}` : run.model.name);
}

/** ' repeat 1, lr=0.03' for log lines: empty for the first repeat of a sweep that samples nothing. */
function describeRun(r: SweepRun): string {
  const parts = [...(r.repeat > 0 ? [`repeat ${r.repeat}`] : []), ...Object.entries(r.hyper).map(([field, value]) => `${field}=${value}`)];
  return parts.length ? ` [${parts.join(', ')}]` : '';
}

/**
 * Train one model, trying again from scratch after a throw while tries are left. Returns its row (a
 * 'failed' one when the last try threw), or undefined when the run was interrupted.
 */
async function trainWithRetries(run: ShardRun, unit: SweepRun, previousAttempts: number): Promise<SweepRow | undefined> {
  const { options, retries, log } = run;
  const model = unit.model;
  const config = options.sweep.config;
  const seed = runSeed(options.sweep, model, unit.repeat);
  const checkpointDir = checkpointDirOf(options.outDir, unit);
  let attempts = previousAttempts;
  for (;;) {
    attempts++;
    const resume = existsSync(checkpointDir) && readdirSync(checkpointDir).length > 0;
    const request: TrainRequest = {
      ...run.request,
      overrides: { ...run.request.overrides, ...hyperOverrides(unit.hyper) },
      model: { name: model.name, spec: model.spec },
      seed,
      checkpointDir,
      resume,
      progress: options.progress ?? 'none',
      signal: options.signal,
      ...(options.resultsDir !== undefined ? { resultsDir: options.resultsDir } : {}),
      ...(options.bench !== undefined ? { bench: options.bench } : {}),
    };
    const design = model.design;
    log(
      `model ${model.id}${describeRun(unit)} (${run.runs.indexOf(unit) + 1}/${run.runs.length}${options.shard ? ` of shard ${options.shard.index}/${options.shard.count}` : ''}): ` +
        `${model.name}${Number.isFinite(design.flops) ? `, ${(design.flops / 1e6).toFixed(1)} MFLOPs` : ''}` +
        `${resume ? ', resuming from checkpoint' : ''}${attempts > 1 ? `, attempt ${attempts}` : ''}`,
    );
    const pendingRow = baseRow(model, run.rowContext, seed, attempts, unit);
    try {
      const result = await options.trainer(request);
      options.onResult?.(result, model);
      return result.status === 'interrupted' ? undefined : resultRow(pendingRow, result);
    } catch (e) {
      // the environment or the config, not this model: stop the sweep, keep the checkpoint, record nothing
      if (e instanceof SetupError) throw e;
      if (options.signal?.aborted) return undefined;
      if (options.fatal?.(e)) throw e;
      // a crashed run's checkpoint may be what crashed it: retry from scratch
      rmSync(checkpointDir, { recursive: true, force: true });
      log(
        `model ${model.id}${describeRun(unit)} (${model.name}) failed (attempt ${attempts}): ${(e as Error).message?.split('\n')[0] ?? String(e)}`,
      );
      if (attempts < 1 + retries) continue;
      return failedRow(pendingRow, e, config.engine);
    }
  }
}

/** Tally the final statuses of the shard's models and the rows in the file. */
function countStatuses(summary: SweepSummary, rows: Map<string, SweepRow>, mine: Set<string>): void {
  for (const row of rows.values()) {
    if (!mine.has(rowKey(row))) continue;
    if (row.status === 'ok') summary.ok++;
    else if (row.status === 'diverged') summary.diverged++;
    else summary.failed++;
  }
  summary.rows = rows.size;
}
