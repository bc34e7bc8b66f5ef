/**
 * Splitting a sweep over machines: shard I of N takes the models whose index % N == I. The shard comes
 * from --shard I/N, or from a Slurm job array (SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN of
 * SLURM_ARRAY_TASK_COUNT), or from a Kubernetes indexed Job (JOB_COMPLETION_INDEX of --shards N or
 * REGNET_SHARDS), so an array job needs no wrapper script.
 */
import { UsageError } from '../util/errors.js';

export interface Shard {
  index: number;
  count: number;
  /** where it came from, for log lines */
  source: string;
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
 * Kubernetes completion index; undefined = the whole sweep.
 */
export function resolveShard(opts: { shard?: string; shards?: number }, env: NodeJS.ProcessEnv = process.env): Shard | undefined {
  if (opts.shard !== undefined) return parseShard(opts.shard);
  const slurmId = envInt(env, 'SLURM_ARRAY_TASK_ID');
  if (slurmId !== undefined) {
    const count = opts.shards ?? envInt(env, 'SLURM_ARRAY_TASK_COUNT');
    if (count === undefined) throw new UsageError('SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not: pass --shards N');
    // arrays may start at any index (--array=1-8): count from the first task
    const min = envInt(env, 'SLURM_ARRAY_TASK_MIN') ?? 0;
    return checked(slurmId - min, count, `Slurm array task ${slurmId} (min ${min}, count ${count})`);
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
