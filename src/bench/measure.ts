/**
 * The one throughput measurement `bench` and `compare` share. Each target is a compiled network with a
 * fixed random batch (seeded); a step is one forward pass (infer, eval mode) or one full SGD step
 * (train: forward, backward, update). Targets are stepped round-robin, warm-up first, so slow drift of
 * the machine (thermal, other load) is spread over all of them instead of favouring the one measured
 * first. Step time is the median over the timed steps; samples/s = batch / median step time.
 */
import type { CompiledNet, SgdOptions } from '../engine/types.js';
import { median } from '../util/median.js';
import { Rng } from '../util/rng.js';

export type Mode = 'infer' | 'train';

export interface MeasureTarget {
  /** label used in progress lines */
  label: string;
  net: CompiledNet;
  mode: Mode;
  batch: number;
}

export interface MeasureOptions {
  /** untimed steps per target before timing */
  warmup: number;
  /** timed steps per target (when `seconds` is not given) */
  iters?: number;
  /**
   * time budget in seconds for the timed rounds of all targets together: rounds continue while the
   * budget lasts (at least `minIters`, at most `iters` when also given)
   */
  seconds?: number;
  /** at least this many timed rounds under a time budget (default 1) */
  minIters?: number;
  /** seed of the random inputs and labels */
  seed?: number;
  /** progress callback (one line per round) */
  onProgress?: (line: string) => void;
  /** clock in ms (tests) */
  now?: () => number;
}

export interface Measurement {
  label: string;
  mode: Mode;
  batch: number;
  /** median step time, milliseconds per batch */
  stepTimeMs: number;
  samplesPerSec: number;
  /** every timed step, in order */
  stepTimesMs: number[];
}

/** SGD settings of a benchmark training step: small lr so random data cannot blow the weights up. */
export const BENCH_SGD: SgdOptions = { lr: 1e-3, momentum: 0.9, nesterov: false, weightDecay: 5e-5, labelSmoothing: 0 };

/** (defined in src/util/median.ts; exported here too for the callers of this module) */
export { median };

/** A normalised-looking random batch (standard normal) and uniform labels, from a seeded Rng. */
export function randomBatch(net: CompiledNet['net'], n: number, seed: number): { input: Float32Array; labels: Int32Array } {
  const rng = Rng.derive(seed, `bench:${net.name}:${n}`);
  const [h, w] = net.res;
  const input = new Float32Array(n * net.inChans * h * w);
  for (let i = 0; i < input.length; i++) input[i] = rng.normal();
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) labels[i] = rng.int(0, net.numClasses - 1);
  return { input, labels };
}

const yieldLoop = () => new Promise<void>((r) => setImmediate(r));

/**
 * Measure every target. Between steps the event loop gets a turn (native finalizers and progress
 * output run there), outside the timed region.
 */
export async function measure(targets: MeasureTarget[], opts: MeasureOptions): Promise<Measurement[]> {
  const now = opts.now ?? (() => performance.now());
  const seed = opts.seed ?? 0;
  const data = targets.map((t) => randomBatch(t.net.net, t.batch, seed));
  const step = (i: number): number => {
    const t = targets[i]!;
    const d = data[i]!;
    const t0 = now();
    if (t.mode === 'infer') t.net.predict(d.input, t.batch);
    else t.net.trainStep(d.input, d.labels, t.batch, BENCH_SGD);
    return now() - t0;
  };
  const times: number[][] = targets.map(() => []);
  for (let w = 0; w < opts.warmup; w++) {
    for (let i = 0; i < targets.length; i++) {
      const ms = step(i);
      opts.onProgress?.(`warm-up ${w + 1}/${opts.warmup} ${targets[i]!.label}: ${ms.toFixed(1)} ms`);
      await yieldLoop();
    }
  }
  const budgetMs = opts.seconds !== undefined ? opts.seconds * 1000 : undefined;
  const maxIters = opts.iters ?? (budgetMs === undefined ? 10 : Infinity);
  const minIters = Math.max(1, opts.minIters ?? 1);
  const start = now();
  for (let it = 0; it < maxIters; it++) {
    if (budgetMs !== undefined && it >= minIters && now() - start >= budgetMs) break;
    for (let i = 0; i < targets.length; i++) {
      const ms = step(i);
      times[i]!.push(ms);
      const t = targets[i]!;
      opts.onProgress?.(
        `iter ${it + 1}${Number.isFinite(maxIters) ? `/${maxIters}` : ''} ${t.label}: ${ms.toFixed(1)} ms (${((t.batch * 1000) / ms).toFixed(1)} samples/s)`,
      );
      await yieldLoop();
    }
  }
  return targets.map((t, i) => {
    const stepTimeMs = median(times[i]!);
    return {
      label: t.label,
      mode: t.mode,
      batch: t.batch,
      stepTimeMs,
      samplesPerSec: (t.batch * 1000) / stepTimeMs,
      stepTimesMs: times[i]!,
    };
  });
}
