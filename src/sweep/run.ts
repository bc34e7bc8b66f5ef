/**
 * Running a sweep: lock the folder for this shard (sweep/lock.ts), list the models (sampled
 * deterministically for the seed, a samples file's rows, baselines, or an explicit list:
 * src/sweep/models.ts), keep this shard's, skip those with a final row, train the rest one by one and
 * rewrite the shard's CSV after each model. Rows are matched to models by the model's canonical name, so
 * a list that grows (a larger n, another baseline) keeps its finished rows. Killing the process at any
 * point loses at most the model in flight, and that one resumes from its checkpoint
 * (OUT/checkpoints/<model name>/) on the next run. A model's exceptions become 'failed' rows and the
 * sweep goes on; errors of the environment or the config (SetupError: no dataset, no engine, a bad
 * recipe) stop the sweep and are never recorded as results. `regnet train` with several models runs here too.
 */
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { TrainRequest, TrainResult } from '../train/types.js';
import { removeStaleTemps, writeFileAtomic } from '../util/atomic.js';
import { crashPoint } from '../util/crash-points.js';
import { SetupError, UsageError } from '../util/errors.js';
import { Rng } from '../util/rng.js';
import { baseRequest, runIdentity, type ResolvedSweep } from './config.js';
import { lockSweepFolder } from './lock.js';
import { sweepEntriesInterruptible, type SweepModel } from './models.js';
import { baseRow, dedupeRows, failedRow, isFinal, readRows, resultRow, rowKey, writeRows, type RowContext, type SweepRow } from './rows.js';
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
  /** the shard's models, in sweep order */
  models: SweepModel[];
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

  const models = all.filter((model) => inShard(model.id, shard));
  const mine = new Set(models.map((model) => model.name));
  const rows = gatherRows(own, named(rowsElsewhere(outDir, fileName, sweep.hash, log)), mine);
  if (options.preflight && models.some((model) => !isDone(rows.get(model.name), retries))) await options.preflight();
  options.beforeFirstWrite?.();
  writeSidecar(outDir, sweep, all);
  const flush = () => writeRows(file, [...rows.values()]);
  if (rows.size !== own.length || ownOnDisk.some((row) => !row.model)) flush();
  // checkpoints of finished models left by a run killed between the row and their removal
  if (!options.keepCheckpoints) {
    for (const model of models) {
      const status = rows.get(model.name)?.status;
      if (status && isFinal(status)) rmSync(checkpointDirOf(outDir, model), { recursive: true, force: true });
    }
  }

  const config = sweep.config;
  const run: ShardRun = {
    options,
    models,
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
    total: models.length,
    rows: 0,
    trained: 0,
    ok: 0,
    diverged: 0,
    failed: 0,
    skipped: 0,
    interrupted: false,
  };
  for (const model of models) {
    if (options.signal?.aborted) {
      summary.interrupted = true;
      break;
    }
    const previous = rows.get(model.name);
    if (isDone(previous, retries)) {
      summary.skipped++;
      continue;
    }
    const row = await trainWithRetries(run, model, previous?.attempts ?? 0);
    if (!row) {
      // interrupted: no row, the checkpoint stays for the next run
      summary.interrupted = true;
      break;
    }
    rows.set(model.name, row);
    flush();
    crashPoint('sweep-after-row');
    summary.trained++;
    if (!options.keepCheckpoints) rmSync(checkpointDirOf(outDir, model), { recursive: true, force: true });
    log(
      `model ${model.id} (${model.name}): ${row.status}${row.status === 'failed' ? ` (${row.error})` : `, top1 ${row.top1}%, ${row.train_seconds}s`}`,
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
    if (mine.has(row.model) || own.includes(row)) rows.set(rowKey(row), row);
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
      { name: config.name, config_hash: sweep.hash, seed: config.seed, n, config, space: sweep.space, models: models.map((m) => m.name) },
      null,
      2,
    ) + '\n',
  );
}

/** A model's checkpoint folder; canonical names are safe file names (letters, digits, '_', '-', '.'). */
function checkpointDirOf(outDir: string, model: SweepModel): string {
  return join(outDir, 'checkpoints', model.name);
}

/**
 * Train one model, trying again from scratch after a throw while tries are left. Returns its row (a
 * 'failed' one when the last try threw), or undefined when the run was interrupted.
 */
async function trainWithRetries(run: ShardRun, model: SweepModel, previousAttempts: number): Promise<SweepRow | undefined> {
  const { options, retries, log } = run;
  const config = options.sweep.config;
  const seed = modelSeed(options.sweep, model);
  const checkpointDir = checkpointDirOf(options.outDir, model);
  let attempts = previousAttempts;
  for (;;) {
    attempts++;
    const resume = existsSync(checkpointDir) && readdirSync(checkpointDir).length > 0;
    const request: TrainRequest = {
      ...run.request,
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
      `model ${model.id} (${run.models.indexOf(model) + 1}/${run.models.length}${options.shard ? ` of shard ${options.shard.index}/${options.shard.count}` : ''}): ` +
        `${model.name}${Number.isFinite(design.flops) ? `, ${(design.flops / 1e6).toFixed(1)} MFLOPs` : ''}` +
        `${resume ? ', resuming from checkpoint' : ''}${attempts > 1 ? `, attempt ${attempts}` : ''}`,
    );
    const pendingRow = baseRow(model, run.rowContext, seed, attempts);
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
      log(`model ${model.id} (${model.name}) failed (attempt ${attempts}): ${(e as Error).message?.split('\n')[0] ?? String(e)}`);
      if (attempts < 1 + retries) continue;
      return failedRow(pendingRow, e, config.engine);
    }
  }
}

/** Tally the final statuses of the shard's models and the rows in the file. */
function countStatuses(summary: SweepSummary, rows: Map<string, SweepRow>, mine: Set<string>): void {
  for (const row of rows.values()) {
    if (!mine.has(row.model)) continue;
    if (row.status === 'ok') summary.ok++;
    else if (row.status === 'diverged') summary.diverged++;
    else summary.failed++;
  }
  summary.rows = rows.size;
}
