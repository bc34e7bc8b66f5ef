/**
 * The IR as a tfjs computation (NHWC, tfjs' native layout).
 *
 * Parameters live in tfjs layouts: conv HWIO [k, k, cin/groups, cout], fc [in, out], norms [C].
 * `forward` is a plain function of those tensors so tfjs autodiff differentiates it; BatchNorm in
 * train mode is a custom-gradient op (the stock batchNorm gradient tiles, and Tile is slow on wasm).
 */
import * as tf from '@tensorflow/tfjs';
import { poolDivisors, type AvgPoolNode, type ConvNode, type Network, type Node } from '../../arch/ir.js';
import { chooseGroupConv, groupConv2d, type GroupConvChoice, type GroupConvImpl } from './groupconv.js';

export type Mode = 'train' | 'eval';

export interface ParamStore {
  /** learned parameters (tfjs layouts) by timm name */
  get(name: string): tf.Tensor;
}

/** batch statistics from a train-mode pass: biased var (for the output) and unbiased (for running) */
export interface BatchStats {
  mean: tf.Tensor1D;
  varUnbiased: tf.Tensor1D;
}

interface BnSaved {
  xhat: tf.Tensor2D;
  a: tf.Tensor1D;
}

/**
 * Train-mode BatchNorm over [M, C] (M = N*H*W) with batch statistics. Returns y and the statistics
 * (kept: the caller disposes them). Backward: dx = a * (dy - mean(dy) - xhat * mean(dy * xhat)),
 * a = gamma / sqrt(var + eps).
 */
function bnTrain(x2: tf.Tensor2D, gamma: tf.Tensor1D, beta: tf.Tensor1D, eps: number, stats: BatchStats[]): tf.Tensor2D {
  const m = x2.shape[0];
  const op = tf.customGrad(((x: tf.Tensor, g: tf.Tensor, b: tf.Tensor, save: tf.GradSaveFunc) => {
    const mean = tf.div(tf.sum(x, 0), m) as tf.Tensor1D;
    const xc = tf.sub(x, mean);
    const sq = tf.sum(tf.square(xc), 0);
    const v = tf.div(sq, m);
    const invstd = tf.rsqrt(tf.add(v, eps));
    const xhat = tf.mul(xc, invstd) as tf.Tensor2D;
    const y = tf.add(tf.mul(xhat, g), b);
    stats.push({ mean: tf.keep(mean), varUnbiased: tf.keep(tf.div(sq, Math.max(1, m - 1)) as tf.Tensor1D) });
    const a = tf.mul(g, invstd) as tf.Tensor1D;
    save([xhat, a]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sxhat, sa] = saved as [BnSaved['xhat'], BnSaved['a']];
        const sdy = tf.sum(dy, 0);
        const sdyx = tf.sum(tf.mul(dy, sxhat), 0);
        const coefX = tf.mul(sa, tf.div(sdyx, -m));
        const shift = tf.mul(sa, tf.div(sdy, -m));
        const dx = tf.add(tf.add(tf.mul(dy, sa), tf.mul(sxhat, coefX)), shift);
        return [dx, sdyx, sdy];
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return op(x2, gamma, beta) as tf.Tensor2D;
}

export interface ForwardContext {
  net: Network;
  params: ParamStore;
  /** BN running stats by layer name (eval mode) */
  buffers: (name: string) => { mean: tf.Tensor1D; var: tf.Tensor1D };
  mode: Mode;
  /** filled in train mode, one entry per BN node name */
  stats?: Map<string, BatchStats>;
  groupConv: GroupConvChoice;
  /** drop-path (train mode): per-sample multipliers [N, 1, 1, 1] of the branch of these add nodes */
  dropMasks?: Map<number, tf.Tensor4D>;
}

function conv(ctx: ForwardContext, n: ConvNode, x: tf.Tensor4D): tf.Tensor4D {
  const w = ctx.params.get(`${n.name}.weight`) as tf.Tensor4D;
  let y: tf.Tensor4D;
  const [, h, wd] = n.in;
  // (1x1 convs on 1x1 maps stay convs: wasm's BatchMatMul with transposed operands, which their
  // matmul gradients need, measured ~12 ms for a 64x368x368 product, 20x the conv path)
  const impl: GroupConvImpl =
    ctx.groupConv === 'auto'
      ? chooseGroupConv(
          { batch: x.shape[0], h, w: wd, cin: n.cin, cout: n.cout, groups: n.groups, k: n.k, stride: n.stride },
          ctx.mode === 'train',
        )
      : ctx.groupConv;
  y = groupConv2d(x, w, n.groups, n.stride, n.pad, impl);
  if (n.bias) y = tf.add(y, ctx.params.get(`${n.name}.bias`));
  return y;
}

/**
 * PyTorch's AvgPool2d from tfjs ops: zero-pad (pad on each side, and on the bottom/right as far as the
 * last ceil-mode window reaches), average k x k windows without padding, then rescale each output by
 * k*k / its divisor where the divisor is not k*k (windows cut at the border, or padding left out).
 */
export function avgPool(n: AvgPoolNode, x: tf.Tensor4D): tf.Tensor4D {
  const [, h, w] = n.in;
  const [, oh, ow] = n.out;
  const extra = (size: number, out: number) => Math.max(n.pad, (out - 1) * n.stride + n.k - size - n.pad);
  const padB = extra(h, oh);
  const padR = extra(w, ow);
  const xp =
    n.pad || padB || padR
      ? tf.pad(x, [
          [0, 0],
          [n.pad, padB],
          [n.pad, padR],
          [0, 0],
        ])
      : x;
  let y = tf.avgPool(xp, n.k, n.stride, 'valid');
  if (y.shape[1] !== oh || y.shape[2] !== ow) throw new Error(`avgpool: ${y.shape[1]}x${y.shape[2]} output, expected ${oh}x${ow}`);
  const dh = poolDivisors(h, n);
  const dw = poolDivisors(w, n);
  const kk = n.k * n.k;
  if (dh.some((a) => dw.some((b) => a * b !== kk))) {
    const scale = new Float32Array(oh * ow);
    for (let i = 0; i < oh; i++) for (let j = 0; j < ow; j++) scale[i * ow + j] = kk / (dh[i]! * dw[j]!);
    y = tf.mul(y, tf.tensor4d(scale, [1, oh, ow, 1]));
  }
  return y;
}

function evalNode(ctx: ForwardContext, n: Node, v: (i: number) => tf.Tensor): tf.Tensor {
  switch (n.op) {
    case 'input':
      throw new Error('input node is bound by the caller');
    case 'conv':
      return conv(ctx, n, v(n.input) as tf.Tensor4D);
    case 'bn': {
      const x = v(n.input) as tf.Tensor4D;
      const gamma = ctx.params.get(`${n.name}.weight`) as tf.Tensor1D;
      const beta = ctx.params.get(`${n.name}.bias`) as tf.Tensor1D;
      if (ctx.mode === 'train') {
        const list: BatchStats[] = [];
        const y = bnTrain(tf.reshape(x, [-1, n.channels]), gamma, beta, n.eps, list);
        ctx.stats?.set(n.name, list[0]!);
        if (!ctx.stats) for (const s of list) tf.dispose([s.mean, s.varUnbiased]);
        return tf.reshape(y, x.shape);
      }
      const buf = ctx.buffers(n.name);
      const scale = tf.mul(gamma, tf.rsqrt(tf.add(buf.var, n.eps)));
      const shift = tf.sub(beta, tf.mul(buf.mean, scale));
      return tf.add(tf.mul(x, scale), shift);
    }
    case 'gn': {
      const x = v(n.input) as tf.Tensor4D;
      const [b, h, w, c] = x.shape;
      const xg = tf.reshape(x, [b, h * w, n.groups, c / n.groups]);
      const { mean, variance } = tf.moments(xg, [1, 3], true);
      const xn = tf.reshape(tf.div(tf.sub(xg, mean), tf.sqrt(tf.add(variance, n.eps))), x.shape);
      return tf.add(tf.mul(xn, ctx.params.get(`${n.name}.weight`)), ctx.params.get(`${n.name}.bias`));
    }
    case 'relu':
      return tf.relu(v(n.input));
    case 'sigmoid':
      return tf.sigmoid(v(n.input));
    case 'silu': {
      const x = v(n.input);
      return tf.mul(x, tf.sigmoid(x));
    }
    case 'maxpool':
      // numeric padding = PyTorch's (implicit -inf border, floor output size); 'same' would pad 0/1
      // instead of 1/1 for stride 2 on even sizes
      return tf.maxPool(v(n.input) as tf.Tensor4D, n.k, n.stride, n.pad);
    case 'avgpool':
      return avgPool(n, v(n.input) as tf.Tensor4D);
    case 'gap':
      return tf.mean(v(n.input), [1, 2], true);
    case 'fc': {
      const x = v(n.input);
      const y = tf.matMul(tf.reshape(x, [x.shape[0]!, n.cin]), ctx.params.get(`${n.name}.weight`) as tf.Tensor2D);
      return n.bias ? tf.add(y, ctx.params.get(`${n.name}.bias`)) : y;
    }
    case 'add': {
      const mask = ctx.dropMasks?.get(n.id);
      return mask ? tf.add(tf.mul(v(n.inputs[0]), mask), v(n.inputs[1])) : tf.add(v(n.inputs[0]), v(n.inputs[1]));
    }
    case 'mul':
      return tf.mul(v(n.inputs[0]), v(n.inputs[1]));
  }
}

/**
 * Run the network on NHWC input; returns logits [N, numClasses]. Intermediates are disposed as soon as
 * their last consumer has run (call inside tf.tidy / variableGrads, which own the result).
 */
export function forward(ctx: ForwardContext, x: tf.Tensor4D): tf.Tensor2D {
  const { nodes, output } = ctx.net;
  const lastUse = new Int32Array(nodes.length).fill(-1);
  for (const n of nodes) for (const i of inputsOf(n)) lastUse[i] = n.id;
  const vals: (tf.Tensor | undefined)[] = new Array(nodes.length);
  const inputId = nodes.find((n) => n.op === 'input')!.id;
  vals[inputId] = x;
  for (const n of nodes) {
    if (n.op === 'input') continue;
    vals[n.id] = evalNode(ctx, n, (i) => {
      const t = vals[i];
      if (!t) throw new Error(`node ${n.id} reads ${i} before it is computed`);
      return t;
    });
    if (ctx.mode === 'eval') {
      // no tape in eval mode: free what no later node reads
      for (const i of inputsOf(n)) {
        if (lastUse[i] === n.id && i !== inputId && i !== output) {
          vals[i]!.dispose();
          vals[i] = undefined;
        }
      }
    }
  }
  return vals[output] as tf.Tensor2D;
}

export function inputsOf(n: Node): number[] {
  if (n.op === 'input') return [];
  if (n.op === 'add' || n.op === 'mul') return n.inputs;
  return [n.input];
}

/**
 * Mean cross entropy with label smoothing as PyTorch defines it: targets (1 - eps) * onehot + eps / K.
 */
export function crossEntropy(logits: tf.Tensor2D, labels: tf.Tensor1D, smoothing: number): tf.Scalar {
  return softCrossEntropy(logits, [labels], [1], smoothing);
}

/**
 * Cross-entropy with a probability target: sum_j weights[j] * onehot(labels[j]), label-smoothed
 * ((1 - s) * target + s / K), averaged over the batch.
 */
export function softCrossEntropy(logits: tf.Tensor2D, labels: tf.Tensor1D[], weights: number[], smoothing: number): tf.Scalar {
  const k = logits.shape[1];
  const logp = tf.logSoftmax(logits);
  let mixed: tf.Tensor | undefined;
  labels.forEach((y, j) => {
    const term = tf.mul(tf.oneHot(y, k), weights[j]!);
    mixed = mixed ? tf.add(mixed, term) : term;
  });
  const target = tf.add(tf.mul(mixed!, 1 - smoothing), smoothing / k);
  return tf.neg(tf.mean(tf.sum(tf.mul(target, logp), 1))) as tf.Scalar;
}
