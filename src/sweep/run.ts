/**
 * Running a sweep: lock the folder for this shard (sweep/lock.ts), sample the models (deterministic for
 * the seed), keep this shard's, skip those with a final row, train the rest one by one and rewrite the
 * shard's CSV after each model. Killing the process at any point loses at most the model in flight, and
 * that one resumes from its checkpoint (OUT/checkpoints/<id>/) on the next run. A model's exceptions
 * become 'failed' rows and the sweep goes on; errors of the environment or the config (SetupError: no
 * dataset, no engine, a bad recipe) stop the sweep and are never recorded as results.
 */
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { ModelSpec } from '../arch/spec.js';
import type { Sample } from '../space/sampler.js';
import { sampleSpace, sampleSpaceAsync } from '../space/sampler.js';
import type { TrainRequest, TrainResult } from '../train/types.js';
import { removeStaleTemps, writeFileAtomic } from '../util/atomic.js';
import { crashPoint } from '../util/crash-points.js';
import { SetupError, UsageError } from '../util/errors.js';
import { Rng } from '../util/rng.js';
import { baseRequest, type ResolvedSweep } from './config.js';
import { baseRow, dedupeRows, failedRow, isFinal, readRows, resultRow, writeRows, type RowContext, type SweepRow } from './rows.js';
import { lockSweepFolder } from './lock.js';
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

/** The sampled models of the whole sweep (every shard computes the same list). */
export function sweepModels(sweep: ResolvedSweep): Sample[] {
  return sampleSpace(sweep.space, { n: sweep.config.n, seed: sweep.config.seed }).samples;
}

/** sweepModels that Ctrl-C and SIGTERM can stop during a long sampling: undefined once `signal` aborts. */
export async function sweepModelsInterruptible(sweep: ResolvedSweep, signal?: AbortSignal): Promise<Sample[] | undefined> {
  return (await sampleSpaceAsync(sweep.space, { n: sweep.config.n, seed: sweep.config.seed, signal }))?.samples;
}

export function sampleToSpec(s: Sample): ModelSpec {
  if (s.kind === 'regnet') {
    return {
      kind: 'regnet', depth: s.depth, w0: s.w0, wa: s.wa, wm: s.wm, groupSize: s.group_size,
      bottleRatio: s.bottle_ratio, seRatio: s.se_ratio, groupMinRatio: 0, act: 'relu', norm: 'bn', stemWidth: 32,
    };
  }
  return {
    kind: 'anynet',
    stages: s.stage_widths.map((w, i) => ({
      width: w, depth: s.stage_depths[i]!, groupWidth: s.stage_group_widths[i]!, bottleRatio: s.stage_bottle_ratios[i]!,
    })),
    seRatio: s.se_ratio, act: 'relu', norm: 'bn', stemWidth: 32,
  };
}

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
  models: Sample[];
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
  const own = readOwnRows(file, sweep);
  const sampled = await sweepModelsInterruptible(sweep, options.signal);
  if (!sampled) return { file, total: 0, rows: own.length, trained: 0, ok: 0, diverged: 0, failed: 0, skipped: 0, interrupted: true };
  const models = sampled.filter((sample) => inShard(sample.id, shard));
  const mine = new Set(models.map((sample) => sample.id));
  const rows = gatherRows(own, rowsElsewhere(outDir, fileName, sweep.hash, log), mine);
  if (options.preflight && models.some((sample) => !isDone(rows.get(sample.id), retries))) await options.preflight();
  writeSidecar(outDir, sweep);
  const flush = () => writeRows(file, [...rows.values()]);
  if (rows.size !== own.length) flush();
  // checkpoints of finished models left by a run killed between the row and their removal
  if (!options.keepCheckpoints) {
    for (const id of mine) if (rows.has(id) && isFinal(rows.get(id)!.status)) rmSync(checkpointDirOf(outDir, id), { recursive: true, force: true });
  }

  const config = sweep.config;
  const run: ShardRun = {
    options,
    models,
    retries,
    log,
    request: baseRequest(sweep),
    rowContext: { space: sweep.space.name, sweep: config.name, hash: sweep.hash, seed: config.seed, dataset: config.dataset, res: sweep.space.res },
  };
  const summary: SweepSummary = { file, total: models.length, rows: 0, trained: 0, ok: 0, diverged: 0, failed: 0, skipped: 0, interrupted: false };
  for (const sample of models) {
    if (options.signal?.aborted) {
      summary.interrupted = true;
      break;
    }
    const previous = rows.get(sample.id);
    if (isDone(previous, retries)) {
      summary.skipped++;
      continue;
    }
    const row = await trainWithRetries(run, sample, previous?.attempts ?? 0);
    if (!row) {
      // interrupted: no row, the checkpoint stays for the next run
      summary.interrupted = true;
      break;
    }
    rows.set(sample.id, row);
    flush();
    crashPoint('sweep-after-row');
    summary.trained++;
    if (!options.keepCheckpoints) rmSync(checkpointDirOf(outDir, sample.id), { recursive: true, force: true });
    log(`model ${sample.id}: ${row.status}${row.status === 'failed' ? ` (${row.error})` : `, top1 ${row.top1}%, ${row.train_seconds}s`}`);
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
      `${file} holds rows of another sweep config (hash ${foreign.config_hash}, this config ${sweep.hash}): use another --out folder`,
    );
  }
  return own;
}

/**
 * The rows this file keeps: its own (even of models no longer in this shard) and, after dedupeRows, the
 * final rows of this shard's models found elsewhere.
 */
function gatherRows(own: SweepRow[], elsewhere: SweepRow[], mine: Set<number>): Map<number, SweepRow> {
  const rows = new Map<number, SweepRow>();
  for (const row of dedupeRows([...own, ...elsewhere]).rows) {
    if (mine.has(row.id) || own.includes(row)) rows.set(row.id, row);
  }
  return rows;
}

/** The sidecar records the resolved config, so any shard file can be traced to what produced it. */
function writeSidecar(outDir: string, sweep: ResolvedSweep): void {
  const config = sweep.config;
  writeFileAtomic(
    join(outDir, 'sweep.json'),
    JSON.stringify({ name: config.name, config_hash: sweep.hash, seed: config.seed, n: config.n, config, space: sweep.space }, null, 2) + '\n',
  );
}

function checkpointDirOf(outDir: string, id: number): string {
  return join(outDir, 'checkpoints', String(id));
}

/**
 * Train one model, trying again from scratch after a throw while tries are left. Returns its row (a
 * 'failed' one when the last try threw), or undefined when the run was interrupted.
 */
async function trainWithRetries(run: ShardRun, sample: Sample, previousAttempts: number): Promise<SweepRow | undefined> {
  const { options, retries, log } = run;
  const config = options.sweep.config;
  const seed = trainSeed(config.seed, sample.id);
  const checkpointDir = checkpointDirOf(options.outDir, sample.id);
  let attempts = previousAttempts;
  for (;;) {
    attempts++;
    const resume = existsSync(checkpointDir) && readdirSync(checkpointDir).length > 0;
    const request: TrainRequest = {
      ...run.request,
      model: { name: `${config.name}-${sample.id}`, spec: sampleToSpec(sample) },
      seed,
      checkpointDir,
      resume,
      progress: options.progress ?? 'none',
      signal: options.signal,
    };
    log(`model ${sample.id} (${run.models.indexOf(sample) + 1}/${run.models.length}${options.shard ? ` of shard ${options.shard.index}/${options.shard.count}` : ''}): ` +
      `${sample.stage_widths.join('-')} x ${sample.stage_depths.join('-')}, ${(sample.flops / 1e6).toFixed(1)} MFLOPs` +
      `${resume ? ', resuming from checkpoint' : ''}${attempts > 1 ? `, attempt ${attempts}` : ''}`);
    const pendingRow = baseRow(sample, run.rowContext, seed, attempts);
    try {
      const result = await options.trainer(request);
      return result.status === 'interrupted' ? undefined : resultRow(pendingRow, result);
    } catch (e) {
      // the environment or the config, not this model: stop the sweep, keep the checkpoint, record nothing
      if (e instanceof SetupError) throw e;
      if (options.signal?.aborted) return undefined;
      // a crashed run's checkpoint may be what crashed it: retry from scratch
      rmSync(checkpointDir, { recursive: true, force: true });
      log(`model ${sample.id} failed (attempt ${attempts}): ${(e as Error).message?.split('\n')[0] ?? String(e)}`);
      if (attempts < 1 + retries) continue;
      return failedRow(pendingRow, e, config.engine);
    }
  }
}

/** Tally the final statuses of the shard's models and the rows in the file. */
function countStatuses(summary: SweepSummary, rows: Map<number, SweepRow>, mine: Set<number>): void {
  for (const row of rows.values()) {
    if (!mine.has(row.id)) continue;
    if (row.status === 'ok') summary.ok++;
    else if (row.status === 'diverged') summary.diverged++;
    else summary.failed++;
  }
  summary.rows = rows.size;
}
