/**
 * A parallel image loader: decoding, resizing and normalising (the PIL-exact paths of transforms.ts) run
 * on worker threads, ahead of the consumer, with a fixed amount of memory.
 *
 *  - N worker threads (default: the number of cores), each running two lanes (loader-lanes.ts), so one
 *    image's decode (sharp, on libuv threads) overlaps another's resize (JavaScript, on the worker).
 *  - Batches are written straight into shared memory: `prefetch + 1` batch buffers per stream, allocated
 *    once. `prefetch` batches are being filled while the consumer holds one; a buffer is refilled only
 *    after the consumer asks for the next batch, so memory stays at (prefetch + 1) x batch x image floats.
 *  - Every worker receives every batch job; images are shared out through an atomic counter in shared
 *    memory, so the workers keep going while the main thread is busy (a synchronous training step).
 *  - `workers: 0` runs the same lanes on the main thread (tests, tiny folders).
 *
 * Batches come out in plan order and their contents do not depend on the number of workers or on
 * timing: a train transform draws from each sample's own seed.
 */
import { availableParallelism } from 'node:os';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { UsageError } from '../util/errors.js';
import { LaneRunner, type BatchJob, type LaneMessage } from './loader-lanes.js';
import { transformSize, type ImageTransform } from './transforms.js';

// sharp decodes on libuv's thread pool (4 threads unless told otherwise); every worker's lanes share it.
// The pool starts on first use, so this takes effect when the loader is imported before any async I/O.
if (process.env.UV_THREADPOOL_SIZE === undefined) process.env.UV_THREADPOOL_SIZE = String(Math.max(4, 2 * availableParallelism()));

export interface BatchPlan {
  files: string[];
  labels: Int32Array;
  /** per-sample seeds of a random (train) transform */
  seeds?: Uint32Array;
}

export interface LoadedBatch<P extends BatchPlan = BatchPlan> {
  /** NCHW float32, normalised; a view of the loader's buffer, valid until the next batch is requested */
  x: Float32Array;
  y: Int32Array;
  n: number;
  plan: P;
}

export interface LoaderOptions {
  /** worker threads (default: the number of cores); 0 = the main thread */
  workers?: number;
  /** concurrent images per worker (default 2) */
  lanes?: number;
}

export interface StreamOptions {
  transform: ImageTransform;
  /** the largest batch of the plans (sizes the buffers) */
  maxBatch: number;
  /** batches filled ahead of the consumer (default 2) */
  prefetch?: number;
}

interface Pending {
  id: number;
  n: number;
  slot: SharedArrayBuffer;
  ctrl: Int32Array;
  done: Promise<void>;
}

/**
 * The worker script next to this module: loader-worker.js when built. Under tsx (loader-worker.ts) the
 * worker is started through a tiny module that first registers tsx in the worker thread, as a worker does
 * not inherit the main thread's module hooks.
 */
function workerUrl(): URL {
  const ext = extname(fileURLToPath(import.meta.url));
  const url = new URL(`./loader-worker${ext}`, import.meta.url);
  if (ext !== '.ts') return url;
  const tsx = import.meta.resolve('tsx/esm/api');
  const boot = `import { register } from ${JSON.stringify(tsx)};\nregister();\nawait import(${JSON.stringify(url.href)});\n`;
  return new URL(`data:text/javascript,${encodeURIComponent(boot)}`);
}

export class ImageLoader {
  readonly workers: number;
  private readonly threads: Worker[] = [];
  private local: LaneRunner | null = null;
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
  private active = 0;
  private closed = false;
  private failure: Error | null = null;

  constructor(opts: LoaderOptions = {}) {
    const n = opts.workers ?? availableParallelism();
    if (!Number.isInteger(n) || n < 0) throw new UsageError(`loader workers ${n} must be an integer >= 0`);
    this.workers = n;
    const lanes = opts.lanes ?? 2;
    const onMessage = (m: LaneMessage) => this.onMessage(m);
    if (n === 0) {
      this.local = new LaneRunner(lanes, onMessage);
      return;
    }
    for (let i = 0; i < n; i++) {
      // the boot module registers tsx itself; the parent's `--import tsx` would be resolved from the cwd
      const w = new Worker(workerUrl(), {
        workerData: { lanes },
        execArgv: process.execArgv.filter((a, k, all) => a !== '--import' && all[k - 1] !== '--import'),
      });
      w.on('message', onMessage);
      w.on('error', (e) => this.fail(new Error(`image loader worker failed: ${e.message}`)));
      w.on('exit', (code) => {
        if (!this.closed) this.fail(new Error(`image loader worker exited (code ${code})`));
      });
      w.unref();
      this.threads.push(w);
    }
  }

  private onMessage(m: LaneMessage): void {
    const w = this.waiting.get(m.id);
    if (!w) return;
    this.waiting.delete(m.id);
    if (m.type === 'done') w.resolve();
    else w.reject(m.usage ? new UsageError(m.message) : new Error(m.message));
  }

  private fail(e: Error): void {
    this.failure ??= e;
    for (const w of this.waiting.values()) w.reject(e);
    this.waiting.clear();
  }

  private submit(plan: BatchPlan, slot: SharedArrayBuffer, o: StreamOptions, per: number): Pending {
    if (this.failure) throw this.failure;
    const id = this.nextId++;
    const n = plan.files.length;
    const ctrlBuf = new SharedArrayBuffer(8);
    const ctrl = new Int32Array(ctrlBuf);
    const done = new Promise<void>((resolve, reject) => this.waiting.set(id, { resolve, reject }));
    // a rejection is seen when the stream awaits this batch; until then it must not count as unhandled
    done.catch(() => undefined);
    if (this.local) {
      const job: BatchJob = {
        id,
        n,
        files: plan.files,
        seeds: plan.seeds,
        transform: o.transform,
        per,
        ctrl,
        out: new Float32Array(slot, 0, n * per),
      };
      this.local.add(job);
    } else {
      const msg = { type: 'job', id, n, files: plan.files, seeds: plan.seeds, transform: o.transform, per, ctrl: ctrlBuf, out: slot };
      for (const w of this.threads) w.postMessage(msg);
    }
    return { id, n, slot, ctrl, done };
  }

  /**
   * Load the batches of `plans` (an iterable read lazily, `prefetch` ahead), in order. Leaving the loop
   * early cancels the batches in flight.
   */
  async *stream<P extends BatchPlan>(plans: Iterable<P>, o: StreamOptions): AsyncGenerator<LoadedBatch<P>> {
    if (this.closed) throw new Error('image loader is closed');
    const per = transformSize(o.transform);
    const prefetch = Math.max(1, o.prefetch ?? 2);
    const free: SharedArrayBuffer[] = Array.from({ length: prefetch + 1 }, () => new SharedArrayBuffer(o.maxBatch * per * 4));
    const it = plans[Symbol.iterator]();
    const pending: Array<Pending & { plan: P }> = [];
    const fill = () => {
      while (pending.length < prefetch && free.length > 0) {
        const r = it.next();
        if (r.done) return;
        const plan = r.value;
        if (plan.files.length === 0) continue;
        if (plan.files.length > o.maxBatch) throw new Error(`batch of ${plan.files.length} images exceeds maxBatch ${o.maxBatch}`);
        pending.push({ ...this.submit(plan, free.pop()!, o, per), plan });
      }
    };
    if (this.active++ === 0) for (const w of this.threads) w.ref();
    try {
      fill();
      while (pending.length > 0) {
        const head = pending.shift()!;
        await head.done;
        fill();
        yield { x: new Float32Array(head.slot, 0, head.n * per), y: Int32Array.from(head.plan.labels), n: head.n, plan: head.plan };
        free.push(head.slot);
      }
    } finally {
      // cancel what is still queued: the workers find nothing left to take
      for (const p of pending) {
        Atomics.store(p.ctrl, 0, p.n);
        this.waiting.delete(p.id);
      }
      if (--this.active === 0) for (const w of this.threads) w.unref();
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.local?.stop();
    await Promise.all(this.threads.map((w) => w.terminate()));
  }
}

/** One stream on a loader of its own, closed when the stream ends. */
export async function* loadBatches<P extends BatchPlan>(
  plans: Iterable<P>,
  o: StreamOptions & LoaderOptions,
): AsyncGenerator<LoadedBatch<P>> {
  const loader = new ImageLoader(o);
  try {
    yield* loader.stream(plans, o);
  } finally {
    await loader.close();
  }
}

/** Consecutive batches of `batchSize` over a file list (eval order, no seeds). */
export function* sequentialPlans(files: string[], labels: ArrayLike<number>, batchSize: number): Generator<BatchPlan> {
  for (let s = 0; s < files.length; s += batchSize) {
    const e = Math.min(files.length, s + batchSize);
    yield { files: files.slice(s, e), labels: Int32Array.from({ length: e - s }, (_, i) => labels[s + i]!) };
  }
}
