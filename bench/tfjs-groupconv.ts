/**
 * Grouped-convolution formulations on tfjs wasm: forward and forward+backward time per shape.
 * Usage: node --import tsx bench/tfjs-groupconv.ts [batch]
 * Feeds the heuristic in src/engine/tfjs/groupconv.ts (results in bench/results/tfjs-wasm.md).
 */
import * as tf from '@tensorflow/tfjs';
import { loadTfjsBackend } from '../src/engine/tfjs/backend.js';
import { chooseGroupConv, groupConv2d, type GroupConvImpl } from '../src/engine/tfjs/groupconv.js';
import { median } from '../src/util/median.js';

await loadTfjsBackend('wasm');
const batch = Number(process.argv[2] ?? 64);
const IMPLS: GroupConvImpl[] = ['split', 'depthwise', 'masked'];

function time(fn: () => void, reps: number): number {
  fn();
  const t: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    fn();
    t.push(performance.now() - t0);
  }
  return median(t);
}

// [channels, spatial, group width, stride]: regnetx_002/_006/_016-like stages at 32 px and 64 px inputs
const shapes: [number, number, number, number][] = [
  [24, 16, 8, 2],
  [24, 8, 8, 1],
  [56, 8, 8, 2],
  [56, 4, 8, 1],
  [152, 4, 8, 2],
  [152, 2, 8, 1],
  [368, 2, 8, 2],
  [368, 1, 8, 1],
  [48, 16, 16, 1],
  [96, 8, 16, 1],
  [240, 4, 16, 1],
  [528, 2, 24, 1],
  [64, 32, 16, 1],
  [128, 16, 16, 1],
  [72, 16, 24, 1],
  [168, 8, 24, 1],
  [408, 4, 24, 1],
  [896, 1, 112, 1],
];
console.log(`batch ${batch}; ms per call (median); fwd / fwd+bwd`);
console.log('C,HW,gw,stride,G | ' + IMPLS.map((i) => `${i} fwd,train`).join(' | ') + ' | best fwd,train | heuristic fwd,train');
for (const [c, hw, gw, s] of shapes) {
  const groups = c / gw;
  const x = tf.randomNormal([batch, hw, hw, c]) as tf.Tensor4D;
  const w = tf.variable(tf.randomNormal([3, 3, gw, c]).mul(0.1)) as tf.Variable<tf.Rank.R4>;
  const res: Record<string, [number, number]> = {};
  for (const impl of IMPLS) {
    const fwd = time(
      () =>
        tf.tidy(() => {
          groupConv2d(x, w, groups, s, 1, impl).dataSync();
        }),
      5,
    );
    const train = time(
      () =>
        tf.tidy(() => {
          const { grads } = tf.variableGrads(() => tf.sum(tf.square(groupConv2d(x, w, groups, s, 1, impl))) as tf.Scalar, [w]);
          grads[w.name]!.dataSync();
        }),
      5,
    );
    res[impl] = [fwd, train];
  }
  const bestF = IMPLS.reduce((a, b) => (res[a]![0] <= res[b]![0] ? a : b));
  const bestT = IMPLS.reduce((a, b) => (res[a]![1] <= res[b]![1] ? a : b));
  const shape = { batch, h: hw, w: hw, cin: c, cout: c, groups, k: 3, stride: s };
  console.log(
    `${c},${hw},${gw},${s},${groups} | ` +
      IMPLS.map((i) => `${res[i]![0].toFixed(2)},${res[i]![1].toFixed(2)}`).join(' | ') +
      ` | ${bestF},${bestT} | ${chooseGroupConv(shape, false)},${chooseGroupConv(shape, true)}`,
  );
  x.dispose();
  w.dispose();
}
