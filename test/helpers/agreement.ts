/**
 * Engine agreement, shared by the tests that compare two engines on one network: weights randomised so
 * no branch is trivially zero, then logits (eval mode) and loss gradients (train mode) compared within
 * 1e-4 of the largest value.
 */
import assert from 'node:assert/strict';
import { initWeights } from '../../src/arch/init.js';
import type { Network } from '../../src/arch/ir.js';
import { paramSpecs } from '../../src/arch/params.js';
import type { WeightMap } from '../../src/arch/weights.js';
import type { CompiledNet } from '../../src/engine/types.js';
import { Rng } from '../../src/util/rng.js';
import { maxAbs, maxDiff } from './numeric.js';

export interface RandomizeOptions {
  /**
   * BN betas (plus N(0, 0.1)): well above 0 they keep most ReLU inputs away from the kink, where float32
   * rounding that lands a value on the other side of 0 in one engine flips a gate; such flips, not the
   * engines, would dominate a gradient comparison.
   */
  beta: number;
  /** gamma scale of the BNs that end a residual branch (zeroInit), to keep deep stacks from growing */
  lastGamma?: number;
}

/** Seeded init with random BN statistics, gammas in [0.5, 1.5] (times lastGamma on branch-final BNs), biases ~ N(0, 0.2). */
export function randomizedWeights(net: Network, seed: number, o: RandomizeOptions): WeightMap {
  const w = initWeights(net, seed);
  const rng = new Rng(seed + 1);
  for (const p of paramSpecs(net)) {
    const t = w.get(p.name)!;
    const node = net.nodes[p.node]!;
    const g = o.lastGamma !== undefined && node.op === 'bn' && node.zeroInit ? o.lastGamma : 1;
    if (p.role === 'norm_weight') for (let i = 0; i < t.data.length; i++) t.data[i] = g * (0.5 + rng.next());
    if (p.role === 'norm_bias') for (let i = 0; i < t.data.length; i++) t.data[i] = o.beta + 0.1 * rng.normal();
    if (p.role === 'bn_mean' || p.role === 'conv_bias' || p.role === 'fc_bias')
      for (let i = 0; i < t.data.length; i++) t.data[i] = 0.2 * rng.normal();
    if (p.role === 'bn_var') for (let i = 0; i < t.data.length; i++) t.data[i] = 0.5 + rng.next();
  }
  return w;
}

/**
 * Assert that two compiled copies of one network give the same logits and loss gradients, each within
 * 1e-4 of the largest value; returns both errors relative to that value.
 */
export function assertEnginesAgree(
  label: string,
  a: CompiledNet,
  b: CompiledNet,
  x: Float32Array,
  labels: Int32Array,
  n: number,
): { logits: number; grads: number } {
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
    assert.ok(u, `the second engine has a gradient for ${name}`);
    assert.deepEqual(u.shape, t.shape, name);
    const d = maxDiff(t.data, u.data);
    if (d > worst) [worst, worstName] = [d, name];
  }
  assert.equal(gb.grads.size, ga.grads.size);
  assert.ok(worst <= 1e-4 * gmax, `${label} gradients: worst ${worst} at ${worstName} vs max ${gmax}`);
  return { logits: maxDiff(la, lb) / scale, grads: worst / gmax };
}
