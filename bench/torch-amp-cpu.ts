/**
 * The torch engine on this CPU at fp32 and bf16 autocast (`--amp bf16`), NCHW and channels-last: train
 * and infer samples/s for regnetx_002 and resnet18 (32 px, 10 classes, the ImageNet stem, as the wasm
 * table). The four variants of a model are stepped round-robin in one process (src/bench/measure.ts), so
 * the machine's drift and other jobs' load fall on all of them alike; each figure is the median step.
 * Writes results/benchmark-<mode>[-amp-bf16][-nhwc]-torch-32px-b<batch>.csv (timm's naming) and prints
 * the ratios and the load average.
 *
 *   node --import tsx bench/torch-amp-cpu.ts [timedSteps=5] [batch=32] [outDir=results]
 */
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { complexity } from '../src/arch/complexity.js';
import { initWeights } from '../src/arch/init.js';
import { buildModel } from '../src/arch/zoo.js';
import { measure, type Mode } from '../src/bench/measure.js';
import { createTorchEngine } from '../src/engine/torch/engine.js';
import type { AmpDtype, CompiledNet } from '../src/engine/types.js';
import { benchCsvName, writeBenchCsv, type BenchRow } from '../src/results/timm.js';

const iters = Number(process.argv[2] ?? 5);
const batch = Number(process.argv[3] ?? 32);
const outDir = process.argv[4] ?? 'results';
const threads = 2;
const res = 32;
const models = ['regnetx_002', 'resnet18'];
const variants: Array<{ amp?: AmpDtype; channelsLast: boolean; label: string }> = [
  { channelsLast: false, label: 'fp32' },
  { amp: 'bf16', channelsLast: false, label: 'bf16' },
  { channelsLast: true, label: 'fp32 nhwc' },
  { amp: 'bf16', channelsLast: true, label: 'bf16 nhwc' },
];

const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
console.log(`load average before: ${load()} (2 cores); ${threads} engine threads, batch ${batch}, ${iters} timed steps per variant`);

for (const mode of ['infer', 'train'] as Mode[]) {
  const rows = new Map<string, BenchRow[]>(variants.map((v) => [v.label, []]));
  for (const name of models) {
    const net = buildModel(name, { res, numClasses: 10, stem: 'imagenet' });
    const c = complexity(net);
    const w = initWeights(net, 0);
    const compiled: CompiledNet[] = variants.map((v) =>
      createTorchEngine({ threads, channelsLast: v.channelsLast, ...(v.amp ? { amp: v.amp } : {}) }).compile(net, w),
    );
    try {
      const ms = await measure(
        variants.map((v, i) => ({ label: `${name} ${v.label}`, net: compiled[i]!, mode, batch })),
        { warmup: 1, iters, seed: 0 },
      );
      const base = ms[0]!.samplesPerSec;
      const line = ms.map((m, i) => `${variants[i]!.label} ${m.samplesPerSec.toFixed(1)} (${(m.samplesPerSec / base).toFixed(2)}x)`);
      console.log(`${mode} ${name}: ${line.join(', ')}; load ${load()}`);
      variants.forEach((v, i) =>
        rows.get(v.label)!.push({
          model: name,
          mode,
          img_size: res,
          samples_per_sec: ms[i]!.samplesPerSec,
          step_time_ms: ms[i]!.stepTimeMs,
          batch_size: batch,
          params: c.params,
          macs: c.macs,
          acts: c.acts,
          precision: v.amp ?? 'fp32',
          layout: v.channelsLast ? 'nhwc' : 'nchw',
        }),
      );
    } finally {
      for (const x of compiled) x.dispose();
    }
  }
  for (const v of variants) {
    const file = join(
      outDir,
      benchCsvName(mode, {
        engine: 'torch',
        imgSize: res,
        precision: v.amp ?? 'fp32',
        layout: v.channelsLast ? 'nhwc' : 'nchw',
        tag: `b${batch}`,
      }),
    );
    writeBenchCsv(file, rows.get(v.label)!);
    console.log(`wrote ${file}`);
  }
}
console.log(`load average after: ${load()}`);
