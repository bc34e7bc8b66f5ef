/**
 * Lazy loader for the optional libtorch addon (native/build/Release/torch_addon.node, built by
 * scripts/build-native.mjs at install time). Nothing is loaded until the torch engine is asked for, and a
 * missing addon turns into a one-line reason instead of an exception at import time.
 */
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError } from '../../util/errors.js';

/** Tensor handles are plain numbers; a negative handle means "none" where an argument is optional. */
export type Handle = number;

/** The op-level binding (see native/torch_addon.cc). */
export interface TorchAddon {
  fromF32(data: Float32Array, shape: number[], requiresGrad?: boolean, device?: string): Handle;
  fromI32AsI64(data: Int32Array, shape: number[], device?: string): Handle;
  toF32(h: Handle): Float32Array;
  copyFromF32(h: Handle, data: Float32Array): void;
  shape(h: Handle): number[];
  item(h: Handle): number;
  free(h: Handle): void;
  freeMany(hs: Handle[] | Float64Array): void;
  isLive(h: Handle): boolean;
  liveCount(): number;
  zeros(shape: number[], device?: string): Handle;
  zerosLike(h: Handle): Handle;
  randn(shape: number[], device?: string): Handle;
  to(h: Handle, device: string): Handle;
  deviceOf(h: Handle): string;
  memoryFormat(h: Handle, channelsLast: boolean): Handle;
  reshape(h: Handle, shape: number[]): Handle;
  detach(h: Handle): Handle;
  clone(h: Handle): Handle;
  setRequiresGrad(h: Handle, on: boolean): void;
  requiresGrad(h: Handle): boolean;
  backward(h: Handle): void;
  grad(h: Handle): Handle;
  clearGrads(hs: Handle[] | Float64Array): void;
  setGradEnabled(on: boolean): void;
  isGradEnabled(): boolean;
  conv2d(x: Handle, w: Handle, b: Handle, stride: number, pad: number, groups: number): Handle;
  batchNorm(x: Handle, w: Handle, b: Handle, mean: Handle, varH: Handle, training: boolean, momentum: number, eps: number): Handle;
  groupNorm(x: Handle, groups: number, w: Handle, b: Handle, eps: number): Handle;
  relu(x: Handle): Handle;
  relu_(x: Handle): Handle;
  sigmoid(x: Handle): Handle;
  silu(x: Handle): Handle;
  add(a: Handle, b: Handle): Handle;
  mul(a: Handle, b: Handle): Handle;
  mulScalar(a: Handle, s: number): Handle;
  maxPool2d(x: Handle, k: number, stride: number, pad: number): Handle;
  /** absent from addons built before it was added (tensor.ts says to rebuild) */
  avgPool2d?(x: Handle, k: number, stride: number, pad: number, ceilMode: boolean, countIncludePad: boolean): Handle;
  globalAvgPool(x: Handle): Handle;
  meanHW(x: Handle): Handle;
  linear(x: Handle, w: Handle, b: Handle): Handle;
  sum(x: Handle): Handle;
  mean(x: Handle): Handle;
  crossEntropy(logits: Handle, labels: Handle, labelSmoothing: number): Handle;
  argmax(x: Handle, dim: number): Handle;
  topk(x: Handle, k: number, dim: number): [Handle, Handle];
  countEqual(a: Handle, b: Handle): number;
  sgdStep(
    params: Handle[] | Float64Array,
    bufs: Handle[] | Float64Array,
    decayMask: Uint8Array,
    lr: number,
    momentum: number,
    nesterov: boolean,
    weightDecay: number,
    clearGrads: boolean,
  ): void;
  manualSeed(seed: number): void;
  setNumThreads(n: number): void;
  getNumThreads(): number;
  cudaAvailable(): boolean;
  cudaDeviceCount(): number;
  version(): string;
  tuneMalloc(mmapThresholdBytes: number): boolean;
  // native/amp.cc (absent from addons built before it: amp.ts says to rebuild)
  /** autocast state of a device type ('cpu' or 'cuda') */
  autocastState?(deviceType: string): { enabled: boolean; dtype: string };
  autocastEnter?(deviceType: string, dtype: 'bf16' | 'fp16'): void;
  /** restore the state autocastState gave; the outermost exit clears autocast's weight-cast cache */
  autocastExit?(deviceType: string, prevEnabled: boolean, prevDtype: string): void;
  /** multiply every existing .grad by invScale in place; true when any holds inf or NaN */
  unscaleGrads?(params: Handle[] | Float64Array, invScale: number): boolean;
  /** 'fp32' | 'bf16' | 'fp16' | 'int64' | ... */
  dtypeOf?(h: Handle): string;
  /** a 4-d tensor laid out NHWC in memory */
  isChannelsLast?(h: Handle): boolean;
  /** a float32 copy */
  toFloat?(h: Handle): Handle;
}

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const ADDON_PATH = join(root, 'native', 'build', 'Release', 'torch_addon.node');

let cached: { addon: TorchAddon } | { reason: string } | undefined;

/** Where libtorch could come from (mirrors scripts/build-native.mjs), to tell "not installed" from "not built". */
function libtorchPresent(): boolean {
  if (process.env.LIBTORCH) return existsSync(join(process.env.LIBTORCH, 'lib', 'libtorch.so'));
  const dirs = ['/usr/lib64', '/usr/lib', '/usr/local/lib'];
  try {
    for (const d of readdirSync('/usr/lib')) if (d.includes('-linux-gnu')) dirs.push(join('/usr/lib', d));
  } catch {
    /* not linux */
  }
  return dirs.some((d) => existsSync(join(d, 'libtorch.so')));
}

function load(): { addon: TorchAddon } | { reason: string } {
  if (!existsSync(ADDON_PATH)) {
    if (!libtorchPresent()) return { reason: 'libtorch not found: apt-get install libtorch-dev, or set LIBTORCH=/path/to/libtorch' };
    return { reason: 'addon not built: run `node scripts/build-native.mjs` (npm install does it)' };
  }
  try {
    const addon = createRequire(import.meta.url)(ADDON_PATH) as TorchAddon;
    return { addon };
  } catch (e) {
    const msg = (e instanceof Error ? e.message : String(e)).split('\n')[0];
    return { reason: `addon failed to load (${msg}); rebuild with \`node scripts/build-native.mjs\`` };
  }
}

export function torchAvailable(): { ok: true } | { ok: false; reason: string } {
  cached ??= load();
  return 'addon' in cached ? { ok: true } : { ok: false, reason: cached.reason };
}

/** The addon, or a UsageError with the one-line reason it is unavailable. */
export function torchAddon(): TorchAddon {
  cached ??= load();
  if ('addon' in cached) return cached.addon;
  throw new UsageError(`torch engine unavailable: ${cached.reason}`);
}
