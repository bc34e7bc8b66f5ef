/** A small helper that appends IR nodes and keeps shapes consistent while a builder runs. */
import { convOut, poolOut, type Node, type Shape } from './ir.js';

export const BN_EPS = 1e-5;
export const BN_MOMENTUM = 0.1;

export class GraphBuilder {
  readonly nodes: Node[] = [];

  input(shape: Shape): number {
    return this.push({ op: 'input', id: 0, out: shape });
  }

  shape(id: number): Shape {
    return this.nodes[id]!.out;
  }

  conv(name: string, input: number, cout: number, k: number, stride = 1, groups = 1, bias = false): number {
    const inShape = this.shape(input);
    const [cin, h, w] = inShape;
    if (cin % groups !== 0 || cout % groups !== 0) {
      throw new Error(`${name}: channels ${cin}->${cout} not divisible by groups ${groups}`);
    }
    const pad = Math.floor(k / 2);
    const out: Shape = [cout, convOut(h, k, stride, pad), convOut(w, k, stride, pad)];
    return this.push({ op: 'conv', id: 0, name, input, in: inShape, cin, cout, k, stride, pad, groups, bias, out });
  }

  norm(kind: 'bn' | 'gn', name: string, input: number, zeroInit = false, gnGroupSize = 16): number {
    const out = this.shape(input);
    const channels = out[0];
    if (kind === 'gn') {
      const groups = Math.max(1, Math.floor(channels / gnGroupSize));
      return this.push({ op: 'gn', id: 0, name, input, channels, groups, eps: BN_EPS, zeroInit, out });
    }
    return this.push({ op: 'bn', id: 0, name, input, channels, eps: BN_EPS, momentum: BN_MOMENTUM, zeroInit, out });
  }

  act(op: 'relu' | 'sigmoid' | 'silu', input: number): number {
    return this.push({ op, id: 0, input, out: this.shape(input) });
  }

  maxpool(input: number, k: number, stride: number, pad: number): number {
    const inShape = this.shape(input);
    const out: Shape = [inShape[0], convOut(inShape[1], k, stride, pad), convOut(inShape[2], k, stride, pad)];
    return this.push({ op: 'maxpool', id: 0, input, in: inShape, k, stride, pad, out });
  }

  /** Average pool, PyTorch AvgPool2d(k, stride, pad, ceil_mode, count_include_pad) semantics. */
  avgpool(input: number, k: number, stride: number, opts: { pad?: number; ceil?: boolean; countIncludePad?: boolean } = {}): number {
    const inShape = this.shape(input);
    const pad = opts.pad ?? 0;
    const ceil = opts.ceil ?? false;
    if (2 * pad > k) throw new Error(`avgpool: padding ${pad} is more than half the window ${k}`);
    const out: Shape = [inShape[0], poolOut(inShape[1], k, stride, pad, ceil), poolOut(inShape[2], k, stride, pad, ceil)];
    return this.push({
      op: 'avgpool',
      id: 0,
      input,
      in: inShape,
      k,
      stride,
      pad,
      ceil,
      countIncludePad: opts.countIncludePad ?? true,
      out,
    });
  }

  gap(input: number): number {
    const inShape = this.shape(input);
    return this.push({ op: 'gap', id: 0, input, in: inShape, out: [inShape[0], 1, 1] });
  }

  fc(name: string, input: number, cout: number, bias = true): number {
    const cin = this.shape(input)[0];
    return this.push({ op: 'fc', id: 0, name, input, cin, cout, bias, out: [cout, 1, 1] });
  }

  /** a residual join add(branch, shortcut); dropPathScale: this block's share of the drop-path rate (else the family default) */
  add(a: number, b: number, dropPathScale?: number): number {
    const sa = this.shape(a);
    const sb = this.shape(b);
    if (sa.join() !== sb.join()) throw new Error(`add: shape mismatch ${sa} vs ${sb}`);
    return this.push({ op: 'add', id: 0, inputs: [a, b], out: sa, ...(dropPathScale !== undefined ? { dropPathScale } : {}) });
  }

  mul(x: number, gate: number): number {
    return this.push({ op: 'mul', id: 0, inputs: [x, gate], out: this.shape(x) });
  }

  private push(node: Node): number {
    node.id = this.nodes.length;
    this.nodes.push(node);
    return node.id;
  }
}
