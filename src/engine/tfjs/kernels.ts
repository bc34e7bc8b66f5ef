/**
 * Convolution gradient kernels for the wasm backend, built on wasm's own fast (XNNPACK) kernels.
 *
 * tfjs-backend-wasm 4.22 has no Conv2DBackpropFilter and no depthwise gradients, and its
 * Conv2DBackpropInput is a naive loop. Every gradient here is rewritten as a forward convolution:
 *  - filter gradient: x viewed as [C, H, W, N] (batch = input channel, channels = sample) convolved with
 *    dy viewed as a [OH, OW, N, Co] filter, dilation = stride;
 *  - input gradient: dy with stride-1 zeros inserted, convolved with the flipped, transposed kernel;
 *  - depthwise versions of the same, with (channel, sample) pairs as depthwise channels.
 * Intermediates are wasm TensorInfos created by calling registered kernel functions directly and freed
 * with disposeData before returning, so nothing leaks into the tfjs engine.
 */
import * as tf from '@tensorflow/tfjs';
import { backend_util } from '@tensorflow/tfjs';
import {
  BatchMatMul,
  Concat,
  Conv2D,
  Conv2DBackpropFilter,
  Conv2DBackpropInput,
  DepthwiseConv2dNative,
  DepthwiseConv2dNativeBackpropFilter,
  DepthwiseConv2dNativeBackpropInput,
  Fill,
  PadV2,
  Reshape,
  Reverse,
  Slice,
  StridedSlice,
  Sum,
  Transpose,
} from '@tensorflow/tfjs';
import type {
  Conv2DAttrs,
  Conv2DBackpropFilterAttrs,
  Conv2DBackpropFilterInputs,
  Conv2DBackpropInputAttrs,
  Conv2DBackpropInputInputs,
  DepthwiseConv2dNativeBackpropFilterAttrs,
  DepthwiseConv2dNativeBackpropFilterInputs,
  DepthwiseConv2dNativeBackpropInputAttrs,
  DepthwiseConv2dNativeBackpropInputInputs,
  KernelBackend,
  NamedAttrMap,
  TensorInfo,
} from '@tensorflow/tfjs';

const BACKEND = 'wasm';

class Ctx {
  private temps: TensorInfo[] = [];
  constructor(readonly backend: KernelBackend) {}

  run(kernel: string, inputs: Record<string, TensorInfo>, attrs: NamedAttrMap = {}): TensorInfo {
    const k = tf.getKernel(kernel, BACKEND);
    if (!k) throw new Error(`wasm kernel ${kernel} missing`);
    const out = k.kernelFunc({ inputs, backend: this.backend, attrs }) as TensorInfo;
    this.temps.push(out);
    return out;
  }
  reshape(x: TensorInfo, shape: number[]): TensorInfo {
    return this.run(Reshape, { x }, { shape });
  }
  transpose(x: TensorInfo, perm: number[]): TensorInfo {
    return this.run(Transpose, { x }, { perm });
  }
  sum(x: TensorInfo, axis: number[]): TensorInfo {
    return this.run(Sum, { x }, { axis, keepDims: false });
  }
  slice(x: TensorInfo, begin: number[], size: number[]): TensorInfo {
    if (begin.every((b) => b === 0) && size.every((s, i) => s === x.shape[i])) return x;
    return this.run(Slice, { x }, { begin, size });
  }
  pad(x: TensorInfo, paddings: [number, number][]): TensorInfo {
    if (paddings.every(([a, b]) => a === 0 && b === 0)) return x;
    return this.run(PadV2, { x }, { paddings, constantValue: 0 });
  }
  /** NHWC conv with explicit non-negative padding */
  conv(
    x: TensorInfo,
    filter: TensorInfo,
    stride: [number, number],
    dil: [number, number],
    pad: number[][],
    depthwise: boolean,
  ): TensorInfo {
    // explicit padding is [[0, 0], [top, bottom], [left, right], [0, 0]] (tfjs's ExplicitPadding)
    const attrs: Conv2DAttrs = { strides: stride, dilations: dil, pad: pad as Conv2DAttrs['pad'], dataFormat: 'NHWC' };
    return this.run(depthwise ? DepthwiseConv2dNative : Conv2D, { x, filter }, attrs as unknown as NamedAttrMap);
  }
  /** dispose every temporary except `keep` */
  finish(keep: TensorInfo): TensorInfo {
    for (const t of this.temps) if (t !== keep) this.backend.disposeData(t.dataId);
    this.temps = [];
    return keep;
  }
}

interface Geometry {
  n: number;
  h: number;
  w: number;
  ci: number;
  oh: number;
  ow: number;
  co: number;
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  dh: number;
  dw: number;
  top: number;
  left: number;
}

function geometry(info: backend_util.Conv2DInfo): Geometry {
  return {
    n: info.batchSize,
    h: info.inHeight,
    w: info.inWidth,
    ci: info.inChannels,
    oh: info.outHeight,
    ow: info.outWidth,
    co: info.outChannels,
    kh: info.filterHeight,
    kw: info.filterWidth,
    sh: info.strideHeight,
    sw: info.strideWidth,
    dh: info.dilationHeight,
    dw: info.dilationWidth,
    top: info.padInfo.top,
    left: info.padInfo.left,
  };
}

/**
 * Filter gradient as a forward conv over spatial taps. `xv` is x arranged as [B, H, W, Cx] and `dyv` as
 * the [OH, OW, Cx, Co] filter; returns [B, KH, KW, Co] trimmed to the kernel size.
 */
function filterGradConv(c: Ctx, g: Geometry, xv: TensorInfo, dyv: TensorInfo, depthwise: boolean): TensorInfo {
  // output rows = H + top + bottom - ((OH-1)*sh + 1) + 1 (stride dh) must reach KH
  const needH = (g.kh - 1) * g.dh + (g.oh - 1) * g.sh + 1;
  const needW = (g.kw - 1) * g.dw + (g.ow - 1) * g.sw + 1;
  const bottom = needH - g.h - g.top;
  const right = needW - g.w - g.left;
  // negative trailing pad: the last rows never meet a tap; drop them
  const x2 = c.slice(xv, [0, 0, 0, 0], [xv.shape[0]!, g.h + Math.min(0, bottom), g.w + Math.min(0, right), xv.shape[3]!]);
  const out = c.conv(
    x2,
    dyv,
    [g.dh, g.dw],
    [g.sh, g.sw],
    [
      [0, 0],
      [g.top, Math.max(0, bottom)],
      [g.left, Math.max(0, right)],
      [0, 0],
    ],
    depthwise,
  );
  return c.slice(out, [0, 0, 0, 0], [out.shape[0]!, g.kh, g.kw, out.shape[3]!]);
}

/**
 * dy with (stride-1) zeros between samples, padded so that a stride-1 conv with the flipped kernel
 * (dilation d) gives exactly H x W: [N, H + (KH-1)d, W + (KW-1)d, C].
 */
function dilateAndPad(c: Ctx, g: Geometry, dy: TensorInfo): TensorInfo | null {
  const ch = dy.shape[3]!;
  let z = dy;
  if (g.sh > 1 || g.sw > 1) {
    const six = c.reshape(dy, [g.n, g.oh, 1, g.ow, 1, ch]);
    const p = c.pad(six, [
      [0, 0],
      [0, 0],
      [0, g.sh - 1],
      [0, 0],
      [0, g.sw - 1],
      [0, 0],
    ]);
    z = c.reshape(p, [g.n, g.oh * g.sh, g.ow * g.sw, ch]);
  }
  const padT = (g.kh - 1) * g.dh - g.top;
  const padL = (g.kw - 1) * g.dw - g.left;
  const needH = g.h + (g.kh - 1) * g.dh;
  const needW = g.w + (g.kw - 1) * g.dw;
  // crop (negative pads) then pad so that the padded length is exactly needH/needW
  const cropT = Math.max(0, -padT);
  const cropL = Math.max(0, -padL);
  const availH = Math.min(z.shape[1]! - cropT, needH - Math.max(0, padT));
  const availW = Math.min(z.shape[2]! - cropL, needW - Math.max(0, padL));
  if (availH <= 0 || availW <= 0) return null;
  const cropped = c.slice(z, [0, cropT, cropL, 0], [g.n, availH, availW, ch]);
  const pT = Math.max(0, padT);
  const pL = Math.max(0, padL);
  return c.pad(cropped, [
    [0, 0],
    [pT, needH - pT - availH],
    [pL, needW - pL - availW],
    [0, 0],
  ]);
}

function conv2DBackpropFilter(args: KernelArgs<Conv2DBackpropFilterInputs, Conv2DBackpropFilterAttrs>): TensorInfo {
  const { x, dy } = args.inputs as { x: TensorInfo; dy: TensorInfo };
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } = args.attrs;
  if (dataFormat === 'NCHW') throw new Error('wasm Conv2DBackpropFilter supports NHWC only');
  const info = backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    filterShape,
    strides,
    1,
    pad,
    dimRoundingMode,
    false,
    'channelsLast',
  );
  const g = geometry(info);
  const c = new Ctx(args.backend);
  const xv = c.transpose(x, [3, 1, 2, 0]); // [Ci, H, W, N]
  const dyv = c.transpose(dy, [1, 2, 0, 3]); // [OH, OW, N, Co]
  const out = filterGradConv(c, g, xv, dyv, false); // [Ci, KH, KW, Co]
  return c.finish(c.transpose(out, [1, 2, 0, 3]));
}

function conv2DBackpropInput(args: KernelArgs<Conv2DBackpropInputInputs, Conv2DBackpropInputAttrs>): TensorInfo {
  const { dy, filter } = args.inputs as { dy: TensorInfo; filter: TensorInfo };
  const { strides, pad, dataFormat, dimRoundingMode, inputShape } = args.attrs;
  if (dataFormat === 'NCHW') throw new Error('wasm Conv2DBackpropInput supports NHWC only');
  const info = backend_util.computeConv2DInfo(
    inputShape,
    filter.shape as [number, number, number, number],
    strides,
    1,
    pad,
    dimRoundingMode,
    false,
    'channelsLast',
  );
  const g = geometry(info);
  const c = new Ctx(args.backend);
  const z = dilateAndPad(c, g, dy);
  if (z === null) {
    // dy never reaches x (degenerate geometry): the gradient is zero
    c.finish(dy);
    return zeros(args.backend, inputShape);
  }
  // flipped kernel, in/out swapped: [KH, KW, Co, Ci]
  const fT = c.transpose(filter, [0, 1, 3, 2]);
  const fR = c.run(Reverse, { x: fT }, { dims: [0, 1] });
  const out = c.conv(
    z,
    fR,
    [1, 1],
    [g.dh, g.dw],
    [
      [0, 0],
      [0, 0],
      [0, 0],
      [0, 0],
    ],
    false,
  );
  return c.finish(out);
}

function zeros(backend: KernelBackend, shape: number[]): TensorInfo {
  return tf.getKernel(Fill, BACKEND)!.kernelFunc({ inputs: {}, backend, attrs: { shape, value: 0, dtype: 'float32' } }) as TensorInfo;
}

function depthwiseBackpropInput(
  args: KernelArgs<DepthwiseConv2dNativeBackpropInputInputs, DepthwiseConv2dNativeBackpropInputAttrs>,
): TensorInfo {
  const { dy, filter } = args.inputs as { dy: TensorInfo; filter: TensorInfo };
  const { strides, dilations, pad, dimRoundingMode, inputShape } = args.attrs;
  const fs = filter.shape as [number, number, number, number];
  const info = backend_util.computeConv2DInfo(inputShape, fs, strides, dilations, pad, dimRoundingMode, true, 'channelsLast');
  const g = geometry(info);
  const mult = fs[3];
  const c = new Ctx(args.backend);
  const z = dilateAndPad(c, g, dy);
  if (z === null) {
    c.finish(dy);
    return zeros(args.backend, inputShape);
  }
  // each of the C*M dy channels convolved with its own flipped tap set, then summed over M
  const fR = c.run(Reverse, { x: filter }, { dims: [0, 1] });
  const f1 = c.reshape(fR, [fs[0], fs[1], fs[2] * mult, 1]);
  const out = c.conv(
    z,
    f1,
    [1, 1],
    [g.dh, g.dw],
    [
      [0, 0],
      [0, 0],
      [0, 0],
      [0, 0],
    ],
    true,
  );
  if (mult === 1) return c.finish(out);
  const r = c.reshape(out, [g.n, g.h, g.w, g.ci, mult]);
  return c.finish(c.sum(r, [4]));
}

function depthwiseBackpropFilter(
  args: KernelArgs<DepthwiseConv2dNativeBackpropFilterInputs, DepthwiseConv2dNativeBackpropFilterAttrs>,
): TensorInfo {
  const { x, dy } = args.inputs as { x: TensorInfo; dy: TensorInfo };
  const { strides, dilations, pad, dimRoundingMode, filterShape } = args.attrs;
  const info = backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    filterShape,
    strides,
    dilations,
    pad,
    dimRoundingMode,
    true,
    'channelsLast',
  );
  const g = geometry(info);
  const mult = filterShape[3];
  const c = new Ctx(args.backend);
  // Per tap (kh, kw), a batched matmul over channels: df[tap, c, :] = x_tap[c, :] . dy[c, :, :],
  // with x_tap the strided window of padded x that tap sees ([C, 1, P], P = N*OH*OW).
  // (A depthwise conv with an OH x OW kernel computes the same but XNNPACK runs it ~20x slower.)
  const p = g.n * g.oh * g.ow;
  const needH = (g.kh - 1) * g.dh + (g.oh - 1) * g.sh + 1;
  const needW = (g.kw - 1) * g.dw + (g.ow - 1) * g.sw + 1;
  const bottom = needH - g.h - g.top;
  const right = needW - g.w - g.left;
  const xc = c.slice(x, [0, 0, 0, 0], [g.n, g.h + Math.min(0, bottom), g.w + Math.min(0, right), g.ci]);
  const xp = c.pad(xc, [
    [0, 0],
    [g.top, Math.max(0, bottom)],
    [g.left, Math.max(0, right)],
    [0, 0],
  ]);
  const dyc = c.transpose(c.reshape(dy, [p, g.ci, mult]), [1, 0, 2]); // [C, P, M]
  const taps: TensorInfo[] = [];
  for (let i = 0; i < g.kh; i++) {
    for (let j = 0; j < g.kw; j++) {
      const win = c.run(
        StridedSlice,
        { x: xp },
        {
          begin: [0, i * g.dh, j * g.dw, 0],
          end: [g.n, i * g.dh + (g.oh - 1) * g.sh + 1, j * g.dw + (g.ow - 1) * g.sw + 1, g.ci],
          strides: [1, g.sh, g.sw, 1],
          beginMask: 0,
          endMask: 0,
          ellipsisMask: 0,
          newAxisMask: 0,
          shrinkAxisMask: 0,
        },
      );
      const xt = c.transpose(c.reshape(win, [1, p, g.ci]), [2, 0, 1]); // [C, 1, P]
      taps.push(c.run(BatchMatMul, { a: xt, b: dyc }, { transposeA: false, transposeB: false })); // [C, 1, M]
    }
  }
  const cat =
    taps.length === 1
      ? taps[0]!
      : c.run(Concat, taps as unknown as Record<string, TensorInfo>, { axis: 1 }); /* Concat takes its inputs as an array */ // [C, T, M]
  const out = c.transpose(cat, [1, 0, 2]); // [T, C, M]
  return c.finish(c.reshape(out, filterShape));
}

/** A kernel's arguments with tfjs-core's input and attribute types for that kernel. */
interface KernelArgs<I, A> {
  inputs: I;
  backend: KernelBackend;
  attrs: A;
}

function register<I, A>(kernelName: string, fn: (args: KernelArgs<I, A>) => TensorInfo): void {
  if (tf.getKernel(kernelName, BACKEND)) tf.unregisterKernel(kernelName, BACKEND);
  // tfjs calls a kernel with untyped maps; this one cast is where they meet the kernel's typed arguments (as tfjs's own kernels do)
  tf.registerKernel({ kernelName, backendName: BACKEND, kernelFunc: fn as unknown as tf.KernelFunc });
}

/** Kernels replaced or added on wasm (the stock Conv2DBackpropInput is replaced: it is a naive loop). */
export const WASM_TRAINING_KERNELS = [
  Conv2DBackpropFilter,
  Conv2DBackpropInput,
  DepthwiseConv2dNativeBackpropInput,
  DepthwiseConv2dNativeBackpropFilter,
] as const;

/** Register the wasm training kernels (idempotent). Needs @tensorflow/tfjs-backend-wasm imported. */
export function registerWasmTrainingKernels(): void {
  register(Conv2DBackpropFilter, conv2DBackpropFilter);
  register(Conv2DBackpropInput, conv2DBackpropInput);
  register(DepthwiseConv2dNativeBackpropInput, depthwiseBackpropInput);
  register(DepthwiseConv2dNativeBackpropFilter, depthwiseBackpropFilter);
}
