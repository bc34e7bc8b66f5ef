/**
 * Running a sweep: sample the models (deterministic for the seed), keep this shard's, skip those with a
 * final row, train the rest one by one and rewrite the shard's CSV after each model. Killing the
 * process at any point loses at most the model in flight, and that one resumes from its checkpoint
 * (OUT/checkpoints/<id>/) on the next run. Exceptions become 'failed' rows and the sweep goes on.
 */
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { ModelSpec } from '../arch/spec.js';
import type { Sample } from '../space/sampler.js';
import { sampleSpace } from '../space/sampler.js';
import type { TrainRequest, TrainResult } from '../train/types.js';
import { writeFileAtomic } from '../util/atomic.js';
import { UsageError } from '../util/errors.js';
import { Rng } from '../util/rng.js';
import { baseRequest, type ResolvedSweep } from './config.js';
import { baseRow, dedupeRows, failedRow, isFinal, readRows, resultRow, writeRows, type SweepRow } from './rows.js';
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

export async function runSweep(o: RunSweepOptions): Promise<SweepSummary> {
  const { sweep, outDir, shard } = o;
  const log = o.log ?? (() => {});
  const retries = o.retries ?? 0;
  const fileName = shardFileName(shard);
  const file = join(outDir, fileName);
  const cfg = sweep.config;

  const own = readRows(file);
  const foreign = own.find((r) => r.config_hash !== sweep.hash);
  if (foreign) {
    throw new UsageError(
      `${file} holds rows of another sweep config (hash ${foreign.config_hash}, this config ${sweep.hash}): use another --out folder`,
    );
  }
  // The sidecar records the resolved config, so any shard file can be traced to what produced it.
  writeFileAtomic(
    join(outDir, 'sweep.json'),
    JSON.stringify({ name: cfg.name, config_hash: sweep.hash, seed: cfg.seed, n: cfg.n, config: cfg, space: sweep.space }, null, 2) + '\n',
  );

  const models = sweepModels(sweep).filter((s) => inShard(s.id, shard));
  const mine = new Set(models.map((s) => s.id));
  const rows = new Map<number, SweepRow>();
  for (const r of dedupeRows([...own, ...rowsElsewhere(outDir, fileName, sweep.hash, log)]).rows) {
    if (mine.has(r.id) || own.includes(r)) rows.set(r.id, r);
  }
  const flush = () => writeRows(file, [...rows.values()]);
  if (rows.size !== own.length) flush();

  const ctx = { space: sweep.space.name, sweep: cfg.name, hash: sweep.hash, seed: cfg.seed, dataset: cfg.dataset, res: sweep.space.res };
  const base = baseRequest(sweep);
  const sum: SweepSummary = { file, total: models.length, rows: 0, trained: 0, ok: 0, diverged: 0, failed: 0, skipped: 0, interrupted: false };
  let written = 0;

  for (const s of models) {
    if (o.signal?.aborted) {
      sum.interrupted = true;
      break;
    }
    const prev = rows.get(s.id);
    if (prev && (isFinal(prev.status) || prev.attempts >= 1 + retries)) {
      sum.skipped++;
      continue;
    }
    const seed = trainSeed(cfg.seed, s.id);
    const ckpt = join(outDir, 'checkpoints', String(s.id));
    let attempts = prev?.attempts ?? 0;
    let row: SweepRow | undefined;
    while (!row) {
      attempts++;
      const resume = existsSync(ckpt) && readdirSync(ckpt).length > 0;
      const req: TrainRequest = {
        ...base,
        model: { name: `${cfg.name}-${s.id}`, spec: sampleToSpec(s) },
        seed,
        checkpointDir: ckpt,
        resume,
        progress: o.progress ?? 'none',
        signal: o.signal,
      };
      log(`model ${s.id} (${models.indexOf(s) + 1}/${models.length}${shard ? ` of shard ${shard.index}/${shard.count}` : ''}): ` +
        `${s.stage_widths.join('-')} x ${s.stage_depths.join('-')}, ${(s.flops / 1e6).toFixed(1)} MFLOPs` +
        `${resume ? ', resuming from checkpoint' : ''}${attempts > 1 ? `, attempt ${attempts}` : ''}`);
      const b = baseRow(s, ctx, seed, attempts);
      try {
        const r = await o.trainer(req);
        if (r.status === 'interrupted') {
          sum.interrupted = true;
          break;
        }
        row = resultRow(b, r);
      } catch (e) {
        if (o.signal?.aborted) {
          sum.interrupted = true;
          break;
        }
        // a crashed run's checkpoint may be what crashed it: retry from scratch
        rmSync(ckpt, { recursive: true, force: true });
        log(`model ${s.id} failed (attempt ${attempts}): ${(e as Error).message?.split('\n')[0] ?? String(e)}`);
        if (attempts < 1 + retries) continue;
        row = failedRow(b, e, cfg.engine);
      }
    }
    if (!row) break; // interrupted: no row, the checkpoint stays for the next run
    rows.set(s.id, row);
    flush();
    written++;
    sum.trained++;
    if (!o.keepCheckpoints) rmSync(ckpt, { recursive: true, force: true });
    log(`model ${s.id}: ${row.status}${row.status === 'failed' ? ` (${row.error})` : `, top1 ${row.top1}%, ${row.train_seconds}s`}`);
    o.onRow?.(row, written);
  }
  for (const r of rows.values()) {
    if (!mine.has(r.id)) continue;
    if (r.status === 'ok') sum.ok++;
    else if (r.status === 'diverged') sum.diverged++;
    else sum.failed++;
  }
  sum.rows = rows.size;
  return sum;
}
