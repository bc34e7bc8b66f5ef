/**
 * Entry point of a loader worker thread (started by src/data/loader.ts): receives batch jobs whose output
 * and control live in shared memory, and runs the lanes of loader-lanes.ts over them.
 */
import { parentPort, workerData } from 'node:worker_threads';
import sharp from 'sharp';
import { LaneRunner, type BatchJob } from './loader-lanes.js';
import type { ImageTransform } from './transforms.js';

interface JobMessage {
  type: 'job';
  id: number;
  n: number;
  files: string[];
  seeds?: Uint32Array;
  transform: ImageTransform;
  per: number;
  ctrl: SharedArrayBuffer;
  out: SharedArrayBuffer;
}

const port = parentPort;
if (!port) throw new Error('loader-worker.ts runs as a worker thread of src/data/loader.ts');
// one decode at a time per image: the parallelism is the workers' (and their lanes')
sharp.concurrency(1);
sharp.cache(false);
const runner = new LaneRunner((workerData as { lanes?: number } | undefined)?.lanes ?? 2, (m) => port.postMessage(m));
port.on('message', (m: JobMessage) => {
  const job: BatchJob = {
    id: m.id,
    n: m.n,
    files: m.files,
    seeds: m.seeds,
    transform: m.transform,
    per: m.per,
    ctrl: new Int32Array(m.ctrl),
    out: new Float32Array(m.out, 0, m.n * m.per),
  };
  runner.add(job);
});
