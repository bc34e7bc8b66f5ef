/**
 * The two engines compute the same network: same weights and input give the same logits (eval mode)
 * and the same loss gradients (train mode), within 1e-4 of the largest value. Weights, BN statistics
 * and gammas are randomised so no branch is trivially zero.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildModel } from '../src/arch/zoo.js';
import { buildRegNet } from '../src/arch/regnet.js';
import { initWeights } from '../src/arch/init.js';
import { paramSpecs } from '../src/arch/params.js';
import type { Network } from '../src/arch/ir.js';
import type { WeightMap } from '../src/arch/weights.js';
import { createTfjsEngine } from '../src/engine/tfjs/engine.js';
import { createTorchEngine } from '../src/engine/torch/engine.js';
import { torchAvailable } from '../src/engine/torch/native.js';
import { Rng } from '../src/util/rng.js';
import { maxAbs, maxDiff } from './helpers/numeric.js';

function randomized(net: Network, seed: number): WeightMap {
  const w = initWeights(net, seed);
  const rng = new Rng(seed + 1);
  for (const p of paramSpecs(net)) {
    const t = w.get(p.name)!;
    if (p.role === 'norm_weight') for (let i = 0; i < t.data.length; i++) t.data[i] = 0.5 + rng.next();
    // BN betas well above 0 keep most ReLU inputs away from the kink: float32 rounding that lands a value on
    // the other side of 0 in one engine flips a gate, and such flips, not the engines, would dominate.
    if (p.role === 'norm_bias') for (let i = 0; i < t.data.length; i++) t.data[i] = BETA + 0.1 * rng.normal();
    if (p.role === 'bn_mean' || p.role === 'conv_bias' || p.role === 'fc_bias')
      for (let i = 0; i < t.data.length; i++) t.data[i] = 0.2 * rng.normal();
    if (p.role === 'bn_var') for (let i = 0; i < t.data.length; i++) t.data[i] = 0.5 + rng.next();
  }
  return w;
}

// betas ~2.5 with gammas in [0.5, 1.5]: a few percent of ReLU inputs stay negative, few sit on the kink
const BETA = 2.5;
const torch = torchAvailable();
const CASES: Array<[string, () => Network]> = [
  ['regnetx_002', () => buildModel('regnetx_002', { res: 32, numClasses: 10, stem: 'small' })],
  [
    'regnety (SE)',
    () => buildRegNet({ depth: 6, w0: 24, wa: 20, wm: 2.5, groupSize: 8, seRatio: 0.25 }, { res: 32, numClasses: 10, stem: 'small' }),
  ],
  ['resnet18', () => buildModel('resnet18', { res: 32, numClasses: 10, stem: 'small' })],
  ['resnet50', () => buildModel('resnet50', { res: 32, numClasses: 10, stem: 'small' })],
];

for (const [label, make] of CASES) {
  test(
    `torch and tfjs (wasm) agree on ${label}: logits and gradients`,
    { skip: torch.ok ? false : `torch engine unavailable: ${torch.ok ? '' : torch.reason}` },
    async () => {
      const net = make();
      const w = randomized(net, 11);
      const n = 8;
      const rng = new Rng(5);
      const x = new Float32Array(n * 3 * 32 * 32);
      for (let i = 0; i < x.length; i++) x[i] = rng.normal();
      const labels = Int32Array.from([1, 7, 3, 0, 9, 2, 5, 5]);

      const te = createTorchEngine({ threads: 2 });
      const we = await createTfjsEngine('wasm');
      const a = te.compile(net, w);
      const b = we.compile(net, w);
      try {
        const la = a.predict(x, n);
        const lb = b.predict(x, n);
        const scale = maxAbs(la);
        assert.ok(scale > 1e-3, 'non-trivial logits');
        assert.ok(maxDiff(la, lb) <= 1e-4 * scale, `${label} logits: diff ${maxDiff(la, lb)} vs max ${scale}`);

        const ga = a.lossAndGrads(x, labels, n, 0.1);
        const gb = b.lossAndGrads(x, labels, n, 0.1);
        assert.ok(Math.abs(ga.loss - gb.loss) <= 1e-4 * Math.max(1, Math.abs(ga.loss)), `loss ${ga.loss} vs ${gb.loss}`);
        let gmax = 0;
        for (const t of ga.grads.values()) gmax = Math.max(gmax, maxAbs(t.data));
        assert.ok(gmax > 0);
        let worst = 0;
        let worstName = '';
        for (const [name, t] of ga.grads) {
          const u = gb.grads.get(name);
          assert.ok(u, `tfjs has a gradient for ${name}`);
          assert.deepEqual(u.shape, t.shape, name);
          const d = maxDiff(t.data, u.data);
          if (d > worst) {
            worst = d;
            worstName = name;
          }
        }
        assert.equal(gb.grads.size, ga.grads.size);
        assert.ok(worst <= 1e-4 * gmax, `${label} gradients: worst ${worst} at ${worstName} vs max ${gmax}`);
      } finally {
        a.dispose();
        b.dispose();
      }
    },
  );
}
