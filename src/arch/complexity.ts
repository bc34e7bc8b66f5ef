/**
 * Analytic complexity from the IR, no tensors, in the conventions of pycls's complexity helpers
 * (`conv2d_cx`, `norm2d_cx`, `linear_cx`), which give the RegNet paper's flops/params/acts:
 *   params: every learned weight (conv, conv bias, norm gamma/beta, FC weight and bias)
 *   macs:   multiply-accumulates of conv and FC layers (what fvcore reports as "flops")
 *   flops:  macs plus one per output element of each bias add (pycls adds one per output channel: the
 *           same count here, as the only biased layers, SE convs on 1x1 maps and the FC head, have one
 *           output element per channel)
 *   acts:   output elements of every conv and FC layer
 * Pools (max, average, global), norms' arithmetic, activations and elementwise adds/multiplies count
 * nothing, as in pycls and fvcore; so the ResNet-D shortcut's average pool adds neither flops nor acts.
 */
import type { Complexity } from '../space/complexity-fast.js';
import type { Network } from './ir.js';

export type { Complexity };

export interface LayerComplexity extends Complexity {
  node: number;
  name: string;
}

export function complexity(net: Network): Complexity {
  const t: Complexity = { params: 0, macs: 0, flops: 0, acts: 0 };
  for (const l of layerComplexity(net)) {
    t.params += l.params;
    t.macs += l.macs;
    t.flops += l.flops;
    t.acts += l.acts;
  }
  return t;
}

/** Per-layer contributions (layers that have none are omitted). */
export function layerComplexity(net: Network): LayerComplexity[] {
  const out: LayerComplexity[] = [];
  for (const n of net.nodes) {
    if (n.op === 'conv') {
      const [, ho, wo] = n.out;
      const outEl = n.cout * ho * wo;
      const macs = n.k * n.k * (n.cin / n.groups) * n.cout * ho * wo;
      const params = (n.k * n.k * n.cin * n.cout) / n.groups + (n.bias ? n.cout : 0);
      out.push({ node: n.id, name: n.name, params, macs, flops: macs + (n.bias ? outEl : 0), acts: outEl });
    } else if (n.op === 'fc') {
      const macs = n.cin * n.cout;
      out.push({ node: n.id, name: n.name, params: macs + (n.bias ? n.cout : 0), macs, flops: macs + (n.bias ? n.cout : 0), acts: n.cout });
    } else if (n.op === 'bn' || n.op === 'gn') {
      out.push({ node: n.id, name: n.name, params: 2 * n.channels, macs: 0, flops: 0, acts: 0 });
    }
  }
  return out;
}
