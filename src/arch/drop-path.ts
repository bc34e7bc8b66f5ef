/**
 * Stochastic depth (drop-path) on residual branches: where it applies in the IR and at what rate.
 *
 * Every `add` node is a residual join whose first input is the branch (the builders write
 * `add(branch, shortcut)`); drop-path zeroes that branch for a random subset of the samples in training
 * and scales the kept ones by 1/keep. The per-block rate follows timm's schedule for the family: RegNet
 * takes linspace(0, R, number of blocks), ResNet R * idx / (blocks - 1) - the same numbers. A builder
 * whose blocks are not all residual (EfficientNet: R * idx / blocks over all blocks) sets
 * `AddNode.dropPathScale` itself; when any add node carries one, those are used.
 */
import type { Network } from './ir.js';
import { Rng } from '../util/rng.js';

/** Drop rate of every residual add for a network-wide rate `rate` (node id -> rate in [0, 1)). */
export function dropPathRates(net: Network, rate: number): Map<number, number> {
  const out = new Map<number, number>();
  if (!(rate > 0)) return out;
  const adds = net.nodes.filter((n) => n.op === 'add');
  const explicit = adds.some((n) => n.op === 'add' && n.dropPathScale !== undefined);
  adds.forEach((n, idx) => {
    if (n.op !== 'add') return;
    const scale = explicit ? (n.dropPathScale ?? 0) : adds.length > 1 ? idx / (adds.length - 1) : 1;
    const r = rate * scale;
    if (r > 0) out.set(n.id, r);
  });
  return out;
}

/**
 * Per-sample multipliers of each dropped branch for one forward pass: 0 with probability r, else
 * 1 / (1 - r). Drawn from Rng.derive(seed, 'drop-path') in node order, so every engine given the same
 * seed drops the same samples.
 */
export function dropPathMasks(rates: Map<number, number>, n: number, seed: number): Map<number, Float32Array> {
  const rng = Rng.derive(seed, 'drop-path');
  const out = new Map<number, Float32Array>();
  for (const [id, r] of [...rates].sort((a, b) => a[0] - b[0])) {
    const keep = 1 - r;
    const m = new Float32Array(n);
    for (let i = 0; i < n; i++) m[i] = rng.next() < keep ? 1 / keep : 0;
    out.set(id, m);
  }
  return out;
}
