/**
 * Seeded initial weights, as the reference implementations initialise them: conv weights normal with
 * std sqrt(2 / fan_out) where fan_out = k*k*cout/groups (He, fan-out), FC weights normal(0, 0.01),
 * biases 0, norm gamma 1 (0 on the last norm of a residual branch), beta 0, running mean 0, var 1.
 * Both engines start from these, so a seed means the same network everywhere.
 */
import { Rng } from '../util/rng.js';
import type { Network } from './ir.js';
import { numel, paramSpecs } from './params.js';
import type { WeightMap } from './weights.js';

export function initWeights(net: Network, seed = 0): WeightMap {
  const rng = Rng.derive(seed, 'init');
  const zeroInit = new Set<number>();
  for (const n of net.nodes) if ((n.op === 'bn' || n.op === 'gn') && n.zeroInit) zeroInit.add(n.id);
  const out: WeightMap = new Map();
  for (const p of paramSpecs(net)) {
    const data = new Float32Array(numel(p.shape));
    switch (p.role) {
      case 'conv_weight': {
        const node = net.nodes[p.node]!;
        const groups = node.op === 'conv' ? node.groups : 1;
        const fanOut = (p.shape[0]! * p.shape[2]! * p.shape[3]!) / groups;
        const std = Math.sqrt(2 / fanOut);
        for (let i = 0; i < data.length; i++) data[i] = rng.normal() * std;
        break;
      }
      case 'fc_weight':
        for (let i = 0; i < data.length; i++) data[i] = rng.normal() * 0.01;
        break;
      case 'norm_weight':
        data.fill(zeroInit.has(p.node) ? 0 : 1);
        break;
      case 'bn_var':
        data.fill(1);
        break;
      default:
        break; // biases and running means start at 0
    }
    out.set(p.name, { shape: p.shape, data });
  }
  return out;
}
