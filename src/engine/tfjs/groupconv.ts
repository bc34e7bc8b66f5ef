/**
 * Grouped convolution for tfjs, which has none (tf.conv2d requires in-depth == filter depth).
 *
 * Weights are kept as the grouped HWIO tensor [k, k, cin/groups, cout] (the transpose of PyTorch's
 * OIHW [cout, cin/groups, k, k]). Exact formulations, all differentiable with tfjs' gradients:
 *  - dense:     groups == 1, a plain conv;
 *  - channel:   groups == cin == cout, a depthwise conv;
 *  - split:     G convs on channel slices, concatenated (many small kernels; Slice/Concat overhead);
 *  - depthwise: one depthwise conv with channel multiplier = cout/G producing [.., G, cin/G, cout/G],
 *               summed over cin/G (same MACs as the grouped conv, cin/G-times larger intermediate);
 *  - masked:    one dense conv with a block-diagonal kernel (G times the MACs, one big fast kernel).
 * `chooseGroupConv` picks per shape from measurements on wasm (bench/tfjs-groupconv.ts,
 * bench/results/tfjs-wasm.md).
 */
import * as tf from '@tensorflow/tfjs';

export type GroupConvImpl = 'split' | 'depthwise' | 'masked';
export type GroupConvChoice = GroupConvImpl | 'auto';

export interface GroupConvShape {
  batch: number;
  /** input height, width */
  h: number;
  w: number;
  cin: number;
  cout: number;
  groups: number;
  k: number;
  stride: number;
}

/**
 * Rule read off the wasm measurements (bench/tfjs-groupconv.ts per layer, bench/tfjs-wasm.ts per
 * network; batch 64, 1 thread; tables in bench/results/tfjs-wasm.md): for inference the depthwise
 * formulation wins with narrow groups (gw <= 8) or small maps (one call instead of G); split wins for
 * wide groups on larger maps and for training.
 */
export function chooseGroupConv(s: GroupConvShape, training: boolean): GroupConvImpl {
  const gw = s.cin / s.groups;
  const spatial = Math.max(s.h, s.w);
  // Training: split. Per-layer wins of the others (masked for 3 groups on 16 px, depthwise on 1-2 px
  // maps) did not survive in whole-network steps (regnetx_002: 45 img/s mixed vs 51 split).
  if (training) return 'split';
  return gw <= 8 || (spatial <= 4 && gw <= 24) ? 'depthwise' : 'split';
}

type Pad = [[number, number], [number, number], [number, number], [number, number]];

function padOf(p: number): Pad {
  return [
    [0, 0],
    [p, p],
    [p, p],
    [0, 0],
  ];
}

const maskCache = new Map<string, tf.Tensor4D>();

/** [1, 1, cin, cout] 0/1 block-diagonal mask (kept for the process lifetime; tiny). */
function blockMask(cin: number, cout: number, groups: number): tf.Tensor4D {
  const key = `${cin},${cout},${groups}`;
  let m = maskCache.get(key);
  if (!m || m.isDisposed) {
    const gi = cin / groups;
    const go = cout / groups;
    const data = new Float32Array(cin * cout);
    for (let i = 0; i < cin; i++) for (let o = 0; o < cout; o++) if (Math.floor(i / gi) === Math.floor(o / go)) data[i * cout + o] = 1;
    m = tf.keep(tf.tensor4d(data, [1, 1, cin, cout]));
    maskCache.set(key, m);
  }
  return m;
}

/**
 * y = grouped conv of NHWC x with grouped HWIO weight w [k, k, cin/groups, cout], symmetric zero padding.
 */
export function groupConv2d(x: tf.Tensor4D, w: tf.Tensor4D, groups: number, stride: number, pad: number, impl: GroupConvImpl): tf.Tensor4D {
  const cin = x.shape[3];
  const [k, , gi, cout] = w.shape;
  const padding = padOf(pad);
  if (groups === 1) return tf.conv2d(x, w, stride, padding);
  if (groups === cin && cout === cin) {
    // [k, k, 1, C] -> [k, k, C, 1]: same memory order
    return tf.depthwiseConv2d(x, tf.reshape(w, [k, k, cin, 1]), stride, padding);
  }
  const go = cout / groups;
  switch (impl) {
    case 'masked': {
      const dense = tf.mul(tf.tile(w, [1, 1, groups, 1]), blockMask(cin, cout, groups)) as tf.Tensor4D;
      return tf.conv2d(x, dense, stride, padding);
    }
    case 'depthwise': {
      // F[kh, kw, g*gi + i, j] = w[kh, kw, i, g*go + j]
      const f = tf.reshape(tf.transpose(tf.reshape(w, [k, k, gi, groups, go]), [0, 1, 3, 2, 4]), [k, k, cin, go]) as tf.Tensor4D;
      const y = tf.depthwiseConv2d(x, f, stride, padding);
      const [n, oh, ow] = y.shape;
      if (gi === 1) return y;
      return tf.reshape(tf.sum(tf.reshape(y, [n, oh, ow, groups, gi, go]), 4), [n, oh, ow, cout]);
    }
    case 'split': {
      const xs = tf.split(x, groups, 3);
      const ws = tf.split(w, groups, 3);
      const ys = xs.map((xg, g) => tf.conv2d(xg as tf.Tensor4D, ws[g] as tf.Tensor4D, stride, padding));
      return tf.concat(ys, 3) as tf.Tensor4D;
    }
  }
}
