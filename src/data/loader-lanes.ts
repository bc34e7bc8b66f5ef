/**
 * The work loop of the image loader (src/data/loader.ts), run inside each worker thread (loader-worker.ts)
 * or, with `workers: 0`, on the main thread.
 *
 * A batch job names its files, its transform and two shared buffers: the batch's output floats and a
 * control pair [next, done] of Int32. Every worker gets every job; a worker takes image `i` of a job by
 * Atomics.add(next, 1), so the images of a batch are shared out with no messages from the main thread
 * (which may be busy in a training step). The worker that completes the last image reports the batch
 * done. Jobs are taken in the order they arrive, so batches complete roughly in order.
 */
import { UsageError } from '../util/errors.js';
import { transformInto, type ImageTransform } from './transforms.js';

export interface BatchJob {
  id: number;
  n: number;
  files: string[];
  /** per-sample seeds of random transforms */
  seeds?: Uint32Array;
  transform: ImageTransform;
  /** floats per image */
  per: number;
  /** [next image to take, images done]; next >= n means nothing left (also how a job is cancelled) */
  ctrl: Int32Array;
  out: Float32Array;
}

export type LaneMessage = { type: 'done'; id: number } | { type: 'error'; id: number; message: string; usage: boolean };

/** Runs `lanes` concurrent image loops over the queued jobs (decode on libuv threads overlaps resizing). */
export class LaneRunner {
  private readonly queue: BatchJob[] = [];
  private wake: (() => void) | null = null;
  private stopped = false;

  constructor(
    lanes: number,
    private readonly report: (m: LaneMessage) => void,
  ) {
    for (let i = 0; i < lanes; i++) void this.lane();
  }

  add(job: BatchJob): void {
    this.queue.push(job);
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  stop(): void {
    this.stopped = true;
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  private async next(): Promise<{ job: BatchJob; index: number } | null> {
    for (;;) {
      if (this.stopped) return null;
      const job = this.queue[0];
      if (!job) {
        await new Promise<void>((r) => {
          const prev = this.wake;
          this.wake = () => {
            prev?.();
            r();
          };
        });
        continue;
      }
      const index = Atomics.add(job.ctrl, 0, 1);
      if (index < job.n) return { job, index };
      // exhausted (or cancelled): the next job, unless another lane already moved on
      if (this.queue[0] === job) this.queue.shift();
    }
  }

  private async lane(): Promise<void> {
    for (;;) {
      const got = await this.next();
      if (!got) return;
      const { job, index } = got;
      try {
        await transformInto(job.files[index]!, job.transform, job.seeds ? job.seeds[index]! : 0, job.out, index * job.per);
      } catch (e) {
        Atomics.store(job.ctrl, 0, job.n);
        this.report({ type: 'error', id: job.id, message: (e as Error).message, usage: e instanceof UsageError });
        continue;
      }
      if (Atomics.add(job.ctrl, 1, 1) + 1 === job.n) this.report({ type: 'done', id: job.id });
    }
  }
}
