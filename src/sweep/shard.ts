/**
 * Splitting a sweep over machines: shard I of N takes the models whose index % N == I. The shard comes
 * from --shard I/N, or from a Slurm job array (SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN of
 * SLURM_ARRAY_TASK_COUNT), or from a Kubernetes indexed Job (JOB_COMPLETION_INDEX of --shards N or
 * REGNET_SHARDS), so an array job needs no wrapper script.
 *
 * The first Slurm array task records the array's layout (task count and first index) in
 * OUT/sweep.shards.json; a later submission of fewer tasks (`sbatch --array=I`, a rerun of one task)
 * runs shard I - min of the recorded count, not "shard 0 of 1" (which would train every model).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../util/atomic.js';
import { UsageError } from '../util/errors.js';

export interface Shard {
  index: number;
  count: number;
  /** where it came from, for log lines */
  source: string;
  /** a Slurm array's first task index (the layout OUT/sweep.shards.json records) */
  slurmMin?: number;
}

/** The Slurm array layout a sweep folder recorded on its first array run. */
export interface ShardRecord {
  count: number;
  min: number;
  config_hash: string;
}

export const SHARD_RECORD = 'sweep.shards.json';

/** The recorded layout of this sweep (same config hash) in `outDir`, if any; an unreadable record counts as none. */
export function readShardRecord(outDir: string, hash: string): ShardRecord | undefined {
  const path = join(outDir, SHARD_RECORD);
  if (!existsSync(path)) return undefined;
  try {
    const r = JSON.parse(readFileSync(path, 'utf8')) as Partial<ShardRecord>;
    const ok = Number.isSafeInteger(r.count) && r.count! >= 1 && Number.isSafeInteger(r.min) && r.min! >= 0;
    return ok && r.config_hash === hash ? { count: r.count!, min: r.min!, config_hash: hash } : undefined;
  } catch {
    return undefined;
  }
}

/** Record a Slurm array layout (a shard without one records nothing); rewritten only when it changed. */
export function writeShardRecord(outDir: string, hash: string, shard: Shard | undefined): void {
  if (!shard || shard.slurmMin === undefined) return;
  const have = readShardRecord(outDir, hash);
  if (have && have.count === shard.count && have.min === shard.slurmMin) return;
  const record: ShardRecord = { count: shard.count, min: shard.slurmMin, config_hash: hash };
  writeFileAtomic(join(outDir, SHARD_RECORD), JSON.stringify(record, null, 2) + '\n');
}

/** "I/N" with 0 <= I < N. */
export function parseShard(text: string, field = '--shard'): Shard {
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(text);
  if (!m) throw new UsageError(`invalid ${field} '${text}': expected I/N, e.g. 0/4`);
  return checked(Number(m[1]), Number(m[2]), field);
}

function checked(index: number, count: number, source: string): Shard {
  if (!Number.isSafeInteger(count) || count < 1) throw new UsageError(`invalid ${source}: the shard count must be >= 1, got ${count}`);
  if (!Number.isSafeInteger(index) || index < 0 || index >= count) {
    throw new UsageError(`invalid ${source}: shard index ${index} is outside 0..${count - 1}`);
  }
  return { index, count, source };
}

function envInt(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const v = env[name];
  if (v === undefined || v.trim() === '') return undefined;
  if (!/^\s*\d+\s*$/.test(v)) throw new UsageError(`environment variable ${name}='${v}' is not a non-negative integer`);
  return Number(v);
}

/**
 * The shard this process runs: an explicit --shard wins, then Slurm array variables, then a
 * Kubernetes completion index; undefined = the whole sweep. `recorded`: the folder's Slurm layout
 * (readShardRecord); an array of fewer tasks than recorded is a rerun of some of its tasks, and
 * `--shards N` sets a new layout.
 */
export function resolveShard(
  opts: { shard?: string; shards?: number },
  env: NodeJS.ProcessEnv = process.env,
  recorded?: Pick<ShardRecord, 'count' | 'min'>,
): Shard | undefined {
  if (opts.shard !== undefined) return parseShard(opts.shard);
  const slurmId = envInt(env, 'SLURM_ARRAY_TASK_ID');
  if (slurmId !== undefined) {
    const envCount = envInt(env, 'SLURM_ARRAY_TASK_COUNT');
    if (opts.shards === undefined && recorded && (envCount === undefined || envCount < recorded.count)) {
      const source = `Slurm array task ${slurmId} of the recorded ${recorded.count}-task array (min ${recorded.min})`;
      return { ...checked(slurmId - recorded.min, recorded.count, source), slurmMin: recorded.min };
    }
    const count = opts.shards ?? envCount;
    if (count === undefined) throw new UsageError('SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not: pass --shards N');
    // arrays may start at any index (--array=1-8): count from the first task (the recorded one when --shards
    // repeats the recorded count: a rerun of some tasks)
    const min = opts.shards !== undefined && recorded?.count === opts.shards ? recorded.min : (envInt(env, 'SLURM_ARRAY_TASK_MIN') ?? 0);
    return { ...checked(slurmId - min, count, `Slurm array task ${slurmId} (min ${min}, count ${count})`), slurmMin: min };
  }
  const k8s = envInt(env, 'JOB_COMPLETION_INDEX');
  if (k8s !== undefined) {
    const count = opts.shards ?? envInt(env, 'REGNET_SHARDS');
    if (count === undefined)
      throw new UsageError('JOB_COMPLETION_INDEX is set but the shard count is not: pass --shards N or set REGNET_SHARDS');
    return checked(k8s, count, `Kubernetes completion index ${k8s} of ${count}`);
  }
  if (opts.shards !== undefined && opts.shards !== 1) {
    throw new UsageError('--shards needs a shard index: --shard I/N, SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX');
  }
  return undefined;
}

/** Does model `index` belong to this shard? */
export function inShard(index: number, shard: Shard | undefined): boolean {
  return !shard || index % shard.count === shard.index;
}

/** The file a shard writes its rows to (inside the sweep's output folder). */
export function shardFileName(shard: Shard | undefined): string {
  return shard && shard.count > 1 ? `sweep.shard-${shard.index}-of-${shard.count}.csv` : 'sweep.csv';
}
