/**
 * Data-parallel training on libtorch's c10d (native/distributed.cc): where a process finds its rank
 * (torchrun-style RANK/WORLD_SIZE/LOCAL_RANK/MASTER_ADDR/MASTER_PORT, or Slurm's SLURM_PROCID/
 * SLURM_NTASKS/SLURM_LOCALID with the master on the job's first node), and the process group the torch
 * engine reduces gradients through: a TCPStore rendezvous at MASTER_ADDR:MASTER_PORT, then Gloo on CPU
 * (NCCL for CUDA when the addon was built with it).
 */
import { UsageError } from '../../util/errors.js';
import type { Collectives, DistributedSpec } from '../types.js';
import { torchAddon, type Handle } from './native.js';

export type { DistributedSpec };

/** The c10d part of the addon (absent from addons built before it). */
interface DistAddon {
  distBackends?(): string;
  distInit(rank: number, world: number, addr: string, port: number, timeoutMs: number, backend: string, localAddr: string): void;
  distAllreduceGrads(params: Handle[], scale: number, bucketBytes: number): number;
  distBroadcast(tensors: Handle[], root: number): void;
  distAllreduceF64(values: Float64Array): Float64Array;
  distBarrier(): void;
  distDestroy(): void;
  distSyncBatchNorm(x: Handle, w: Handle, b: Handle, mean: Handle, variance: Handle, momentum: number, eps: number, share: number): Handle;
}

function int(env: NodeJS.ProcessEnv, key: string): number | undefined {
  const v = env[key];
  if (v === undefined || v.trim() === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`${key}: expected a non-negative integer, got '${v}'`);
  return n;
}

/**
 * The first host of a Slurm host list: `node[03-05,9],gpu1` -> `node03`, `a,b` -> `a`.
 */
export function firstSlurmHost(list: string): string {
  const s = list.trim();
  let depth = 0;
  let end = s.length;
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '[') depth++;
    else if (s[i] === ']') depth--;
    else if (s[i] === ',' && depth === 0) {
      end = i;
      break;
    }
  }
  const first = s.slice(0, end);
  const m = /^([^[]*)\[([^\]]*)\](.*)$/.exec(first);
  if (!m) return first;
  const range = m[2]!.split(',')[0]!;
  const lo = range.split('-')[0]!;
  return `${m[1]}${lo}${m[3]}`;
}

/**
 * The rank this process is, from torchrun-style variables (RANK and WORLD_SIZE) or from Slurm's (a job
 * step of several tasks: SLURM_PROCID with SLURM_STEP_NUM_TASKS or SLURM_NTASKS); undefined for a
 * single process. MASTER_ADDR defaults to the first node of the step (Slurm), MASTER_PORT to a port
 * derived from the job id, so every task of a step computes the same one.
 */
export function distributedFromEnv(env: NodeJS.ProcessEnv = process.env): DistributedSpec | undefined {
  const torchWorld = int(env, 'WORLD_SIZE');
  const torchRank = int(env, 'RANK');
  if (torchWorld !== undefined || torchRank !== undefined) {
    if (torchWorld === undefined || torchRank === undefined) throw new UsageError('RANK and WORLD_SIZE: set both or neither');
    if (torchWorld < 1 || torchRank >= torchWorld) throw new UsageError(`RANK ${torchRank} is outside 0..WORLD_SIZE-1 (${torchWorld - 1})`);
    if (torchWorld === 1) return undefined;
    const addr = env.MASTER_ADDR?.trim();
    const port = int(env, 'MASTER_PORT');
    if (!addr) throw new UsageError('MASTER_ADDR: not set (the host of rank 0, e.g. 127.0.0.1)');
    if (port === undefined || port < 1 || port > 65535)
      throw new UsageError(`MASTER_PORT: expected a port 1..65535, got '${env.MASTER_PORT ?? ''}'`);
    const localRank = int(env, 'LOCAL_RANK') ?? torchRank;
    return {
      rank: torchRank,
      world: torchWorld,
      localRank,
      localWorld: int(env, 'LOCAL_WORLD_SIZE') ?? torchWorld,
      masterAddr: addr,
      masterPort: port,
      source: env.REGNET_DIST_LAUNCHER === '1' ? 'launcher' : 'torchrun',
    };
  }
  const procId = int(env, 'SLURM_PROCID');
  const tasks = int(env, 'SLURM_STEP_NUM_TASKS') ?? int(env, 'SLURM_NTASKS');
  if (procId === undefined || tasks === undefined || tasks <= 1) return undefined;
  if (procId >= tasks) throw new UsageError(`SLURM_PROCID ${procId} is outside 0..${tasks - 1}`);
  const nodes = env.SLURM_STEP_NODELIST ?? env.SLURM_JOB_NODELIST ?? env.SLURM_NODELIST;
  const addr = env.MASTER_ADDR?.trim() || (nodes ? firstSlurmHost(nodes) : '');
  if (!addr) throw new UsageError('MASTER_ADDR: not set and no SLURM_JOB_NODELIST to take the first node from');
  const jobId = int(env, 'SLURM_JOB_ID') ?? 0;
  const port = int(env, 'MASTER_PORT') ?? 20000 + (jobId % 20000);
  if (port < 1 || port > 65535) throw new UsageError(`MASTER_PORT: expected a port 1..65535, got ${port}`);
  // "2" or "2(x3)": tasks on each node
  const perNodeText = env.SLURM_STEP_TASKS_PER_NODE ?? env.SLURM_TASKS_PER_NODE;
  const perNode = perNodeText ? parseInt(perNodeText, 10) : NaN;
  return {
    rank: procId,
    world: tasks,
    localRank: int(env, 'SLURM_LOCALID') ?? 0,
    localWorld: Number.isInteger(perNode) && perNode > 0 ? perNode : 1,
    masterAddr: addr,
    masterPort: port,
    source: 'slurm',
  };
}

function distAddon(): DistAddon {
  const a = torchAddon() as unknown as Partial<DistAddon>;
  if (typeof a.distInit !== 'function')
    throw new UsageError(
      `data-parallel training: the torch addon has no c10d backend (${a.distBackends ? 'built without Gloo headers: apt-get install libgloo-dev' : 'built before distributed.cc'}); rebuild with \`node scripts/build-native.mjs\``,
    );
  return a as DistAddon;
}

/** The backends the built addon can use ('gloo', 'nccl'); empty when it has none. */
export function distBackends(): string[] {
  try {
    const a = torchAddon() as unknown as Partial<DistAddon>;
    return typeof a.distInit === 'function' && a.distBackends ? a.distBackends().split(',').filter(Boolean) : [];
  } catch {
    return [];
  }
}

const LOOPBACK = /^(127\.|localhost$|::1$)/i;

/** One process group per process (c10d allows one default group; so do we). */
export class ProcessGroup implements Collectives {
  private closed = false;
  /** gradient bucket size (PyTorch DDP's default is 25 MiB) */
  bucketBytes = 25 << 20;

  private constructor(
    private readonly a: DistAddon,
    readonly spec: DistributedSpec,
    readonly backend: string,
  ) {}

  /** Rendezvous with the other ranks (blocks until all have joined or timeoutMs passes). */
  static init(spec: DistributedSpec, device: string, timeoutMs = 300_000): ProcessGroup {
    const a = distAddon();
    const backends = a.distBackends?.().split(',') ?? [];
    const backend = device.startsWith('cuda') && backends.includes('nccl') ? 'nccl' : 'gloo';
    if (!backends.includes(backend))
      throw new UsageError(`data-parallel training: this torch addon has no ${backend} backend (has: ${backends.join(', ') || 'none'})`);
    const local = LOOPBACK.test(spec.masterAddr) ? '127.0.0.1' : '';
    try {
      a.distInit(spec.rank, spec.world, spec.masterAddr, spec.masterPort, timeoutMs, backend, local);
    } catch (e) {
      throw new UsageError(
        `rank ${spec.rank}/${spec.world}: rendezvous at ${spec.masterAddr}:${spec.masterPort} failed (${(e as Error).message.split('\n')[0]})`,
      );
    }
    return new ProcessGroup(a, spec, backend);
  }

  get rank(): number {
    return this.spec.rank;
  }

  get world(): number {
    return this.spec.world;
  }

  /** Every rank's p.grad * scale, summed over ranks, into p.grad (bucketed, all buckets in flight at once). */
  allreduceGrads(params: Handle[], scale: number): void {
    this.a.distAllreduceGrads(params, scale, this.bucketBytes);
  }

  /** Rank `root`'s values into every rank's tensors. */
  broadcast(tensors: Handle[], root = 0): void {
    if (tensors.length) this.a.distBroadcast(tensors, root);
  }

  /** Element-wise sums over ranks (float64). */
  allreduceSum(values: ArrayLike<number>): Float64Array {
    return this.a.distAllreduceF64(Float64Array.from(values));
  }

  barrier(): void {
    this.a.distBarrier();
  }

  /**
   * Batch normalisation with the global batch's statistics (training): an autograd op whose forward
   * sums channel statistics over ranks and whose backward sums the dy statistics, this rank's weighted
   * by `share` (its part of the global batch, as the gradient allreduce weights it). -1: no running stats.
   */
  syncBatchNorm(x: Handle, w: Handle, b: Handle, mean: Handle, variance: Handle, momentum: number, eps: number, share: number): Handle {
    return this.a.distSyncBatchNorm(x, w, b, mean, variance, momentum, eps, share);
  }

  /** Leave the group (after a barrier, so rank 0's store outlives the others' last use of it). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.a.distBarrier();
    } finally {
      this.a.distDestroy();
    }
  }
}
