/** Every weight and buffer a Network holds, with timm names and PyTorch shapes. */
import type { Network } from './ir.js';

export type ParamRole = 'conv_weight' | 'conv_bias' | 'fc_weight' | 'fc_bias' | 'norm_weight' | 'norm_bias' | 'bn_mean' | 'bn_var';

export interface ParamSpec {
  name: string;
  shape: number[];
  role: ParamRole;
  /** learned (false for BN running statistics) */
  trainable: boolean;
  /** weight decay applies (conv and fc weights; not norms or biases) */
  decay: boolean;
  /** the IR node that owns it */
  node: number;
}

export function paramSpecs(net: Network): ParamSpec[] {
  const out: ParamSpec[] = [];
  const add = (node: number, name: string, shape: number[], role: ParamRole, trainable: boolean, decay: boolean) =>
    out.push({ name, shape, role, trainable, decay, node });
  for (const n of net.nodes) {
    switch (n.op) {
      case 'conv':
        add(n.id, `${n.name}.weight`, [n.cout, n.cin / n.groups, n.k, n.k], 'conv_weight', true, true);
        if (n.bias) add(n.id, `${n.name}.bias`, [n.cout], 'conv_bias', true, false);
        break;
      case 'fc':
        add(n.id, `${n.name}.weight`, [n.cout, n.cin], 'fc_weight', true, true);
        if (n.bias) add(n.id, `${n.name}.bias`, [n.cout], 'fc_bias', true, false);
        break;
      case 'bn':
        add(n.id, `${n.name}.weight`, [n.channels], 'norm_weight', true, false);
        add(n.id, `${n.name}.bias`, [n.channels], 'norm_bias', true, false);
        add(n.id, `${n.name}.running_mean`, [n.channels], 'bn_mean', false, false);
        add(n.id, `${n.name}.running_var`, [n.channels], 'bn_var', false, false);
        break;
      case 'gn':
        add(n.id, `${n.name}.weight`, [n.channels], 'norm_weight', true, false);
        add(n.id, `${n.name}.bias`, [n.channels], 'norm_bias', true, false);
        break;
      default:
        break;
    }
  }
  return out;
}

export function numel(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}
