/**
 * `regnet bench` core: build each model, compile it on one engine, and measure median samples/s and
 * step time per batch size (src/bench/measure.ts). Rows come out in the timm benchmark CSV shape plus
 * the engine, its thread count and the exact parameter count the engine allocated.
 */
import type { Network } from '../arch/ir.js';
import { complexity } from '../arch/complexity.js';
import { numerics, type CompiledNet, type Engine } from '../engine/types.js';
import { BENCH_TEXT_COLUMNS, formatBenchRow, type BenchRow } from '../results/timm.js';
import { measure, type Mode } from './measure.js';

export interface BenchPlanItem {
  name: string;
  /** builds the network (lazily, so only one model's weights live at a time) */
  build: () => Network;
}

export interface BenchRunOptions {
  mode: Mode;
  batches: number[];
  warmup: number;
  iters?: number;
  seconds?: number;
  seed: number;
  onProgress?: (line: string) => void;
}

export interface BenchRecord {
  row: BenchRow;
  engine: string;
  threads: number;
  device: string;
  /** parameters the compiled network holds (equals the analytic count for a correct engine) */
  params: number;
  /** analytic count from the IR */
  analyticParams: number;
  stepTimesMs: number[];
}

export async function runBench(engine: Engine, plan: BenchPlanItem[], o: BenchRunOptions): Promise<BenchRecord[]> {
  const out: BenchRecord[] = [];
  for (const item of plan) {
    const net = item.build();
    const c = complexity(net);
    o.onProgress?.(`compiling ${item.name} (${net.res[0]}x${net.res[1]}, ${c.params} params) on ${engine.info.engine}`);
    const compiled = engine.compile(net);
    try {
      for (const batch of o.batches) {
        const label = `${item.name} b${batch}`;
        const [m] = await measure([{ label, net: compiled, mode: o.mode, batch }], {
          warmup: o.warmup,
          iters: o.iters,
          seconds: o.seconds,
          seed: o.seed,
          onProgress: o.onProgress,
        });
        out.push({
          row: {
            model: item.name,
            mode: o.mode,
            img_size: net.res[1],
            samples_per_sec: m!.samplesPerSec,
            step_time_ms: m!.stepTimeMs,
            batch_size: batch,
            params: c.params,
            macs: c.macs,
            acts: c.acts,
            ...numerics(engine.info),
          },
          engine: engine.info.engine,
          threads: engine.info.threads,
          device: engine.info.device,
          params: compiled.paramCount(),
          analyticParams: c.params,
          stepTimesMs: m!.stepTimesMs,
        });
      }
    } finally {
      compiled.dispose();
    }
  }
  return out;
}

/** The --json object of one record: the CSV fields as numbers, plus engine, threads and exact params. */
export function benchJson(r: BenchRecord): Record<string, string | number> {
  const f = formatBenchRow(r.row);
  const o: Record<string, string | number> = {};
  for (const [k, v] of Object.entries(f)) o[k] = (BENCH_TEXT_COLUMNS as readonly string[]).includes(k) ? v : Number(v);
  o.engine = r.engine;
  o.threads = r.threads;
  o.device = r.device;
  o.params = r.params;
  return o;
}

/** The short inference measurement that train and eval record in results tables. */
export const RESULT_BENCH = { maxBatch: 32, warmup: 1, seconds: 2, minIters: 1 } as const;

/**
 * Inference throughput of a compiled (trained) network on its own engine and device: the bench
 * measurement with a time budget of a few seconds, at the evaluation batch size capped at
 * RESULT_BENCH.maxBatch. Predicting leaves the weights as they are.
 */
export async function inferenceThroughput(compiled: CompiledNet, evalBatch: number): Promise<{ samplesPerSec: number; batch: number }> {
  const batch = Math.max(1, Math.min(evalBatch, RESULT_BENCH.maxBatch));
  const [m] = await measure([{ label: `infer ${compiled.net.name}`, net: compiled, mode: 'infer', batch }], {
    warmup: RESULT_BENCH.warmup,
    seconds: RESULT_BENCH.seconds,
    minIters: RESULT_BENCH.minIters,
  });
  return { samplesPerSec: m!.samplesPerSec, batch };
}
