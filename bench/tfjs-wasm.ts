/**
 * tfjs on wasm: training and inference samples/s, batch 64, 32x32x3 input, 10 classes, for the zoo's
 * regnetx_002 (its default stem, at 32 px) and ResNet-18, with each grouped-conv formulation.
 * Median of timed iterations after warm-up. Usage: node --import tsx bench/tfjs-wasm.ts [iters]
 */
import { buildModel } from '../src/arch/zoo.js';
import { initWeights } from '../src/arch/init.js';
import { createTfjsEngine } from '../src/engine/tfjs/engine.js';
import type { GroupConvChoice } from '../src/engine/tfjs/groupconv.js';
import { median } from '../src/util/median.js';
import { Rng } from '../src/util/rng.js';

const iters = Number(process.argv[2] ?? 5);
const batch = 64;
const opt = { lr: 0.01, momentum: 0.9, nesterov: false, weightDecay: 5e-4, labelSmoothing: 0 };
const rng = new Rng(0);
const x = new Float32Array(batch * 3 * 32 * 32).map(() => rng.normal());
const y = new Int32Array(batch).map(() => rng.int(0, 9));

function rate(fn: () => void, n: number): number {
  fn(); // warm-up (operator creation, allocation)
  const t: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    fn();
    t.push(performance.now() - t0);
  }
  return (batch * 1000) / median(t);
}

const runs: [string, GroupConvChoice[]][] = [
  ['regnetx_002', ['auto', 'split', 'depthwise', 'masked']],
  ['resnet18', ['auto']],
];
console.log(`| model | grouped conv | train img/s | infer img/s |`);
console.log(`|---|---|---|---|`);
for (const [model, choices] of runs) {
  const net = buildModel(model, { res: 32, numClasses: 10 });
  const init = initWeights(net, 0);
  for (const groupConv of choices) {
    const eng = await createTfjsEngine('wasm', { groupConv });
    const c = eng.compile(net, init);
    const n = model === 'resnet18' ? Math.max(2, Math.ceil(iters / 2)) : iters;
    const train = rate(() => c.trainStep(x, y, batch, opt), n);
    const infer = rate(() => c.predict(x, batch), n);
    console.log(`| ${model} | ${groupConv} | ${train.toFixed(1)} | ${infer.toFixed(1)} |`);
    c.dispose();
  }
}
