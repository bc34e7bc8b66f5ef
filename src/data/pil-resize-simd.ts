/**
 * The two convolution passes of pil-resize.ts (PIL's fixed-point bilinear / bicubic resampling of 8-bit
 * RGB) as WebAssembly SIMD, 3-4x faster than the JavaScript loops and bit for bit the same: the same
 * integer weights, the same 32-bit sums (PIL's accumulator is 32-bit too), the same shift by 22 and
 * clipping to [0, 255] (saturating narrowing does the clipping).
 *
 * No toolchain builds it: the module is assembled here, byte by byte, from the two function bodies below
 * (a few dozen instructions each). test/data-loader.test.ts checks it against the JavaScript passes.
 *
 *  - hpass: each output pixel of each row sums `count` taps of 4 bytes read at pixel p (R, G, B and one
 *    byte of the next pixel, widened to i32x4) times the tap's weight; it stores 4 bytes, the 4th
 *    overwritten by the next pixel (buffers carry a few bytes of padding).
 *  - vpass: 16 bytes of a row at a time, four i32x4 accumulators, `count` rows per output row.
 *
 * Coefficient tables: per output sample an entry of (2 + taps) i32: first source index, tap count, the
 * weights.
 */
import type { Image8 } from './pil-resize.js';

/** Per output pixel: first source index, number of taps, and fixed-point weights (`taps` per pixel). */
export interface SimdCoefficients {
  first: Int32Array;
  count: Int32Array;
  taps: number;
  weights: Int32Array;
}

// --- a minimal WebAssembly encoder -----------------------------------------------------------------

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

const I32 = 0x7f;
const V128 = 0x7b;

/** Instruction helpers: each returns its bytes. */
const op = {
  block: () => [0x02, 0x40],
  loop: () => [0x03, 0x40],
  end: () => [0x0b],
  br: (d: number) => [0x0c, ...uleb(d)],
  brIf: (d: number) => [0x0d, ...uleb(d)],
  get: (i: number) => [0x20, ...uleb(i)],
  set: (i: number) => [0x21, ...uleb(i)],
  tee: (i: number) => [0x22, ...uleb(i)],
  i32: (v: number) => [0x41, ...sleb(v)],
  load: (offset = 0) => [0x28, 2, ...uleb(offset)],
  eqz: () => [0x45],
  geS: () => [0x4e],
  add: () => [0x6a],
  sub: () => [0x6b],
  mul: () => [0x6c],
  simd: (code: number, ...imm: number[]) => [0xfd, ...uleb(code), ...imm],
};
const v = {
  load: () => op.simd(0x00, 0, 0),
  load8x8u: () => op.simd(0x02, 0, 0),
  store: () => op.simd(0x0b, 0, 0),
  store32lane0: () => op.simd(0x5a, 0, 0, 0),
  splat32: () => op.simd(0x11),
  narrowU8: () => op.simd(0x66),
  narrowS16: () => op.simd(0x85),
  extLow8: () => op.simd(0x89),
  extHigh8: () => op.simd(0x8a),
  extLow16: () => op.simd(0xa9),
  extHigh16: () => op.simd(0xaa),
  shrS: () => op.simd(0xac),
  add: () => op.simd(0xae),
  mul: () => op.simd(0xb5),
};

const HALF = 1 << 21;
const SHIFT = 22;

/** `for (i = 0; i < limit; i++) body` with i and limit locals (body may not branch out). */
function forLoop(i: number, limit: number, body: number[]): number[] {
  return [
    ...op.i32(0),
    ...op.set(i),
    ...op.block(),
    ...op.loop(),
    ...op.get(i),
    ...op.get(limit),
    ...op.geS(),
    ...op.brIf(1),
    ...body,
    ...op.get(i),
    ...op.i32(1),
    ...op.add(),
    ...op.set(i),
    ...op.br(0),
    ...op.end(),
    ...op.end(),
  ];
}

/** `while (k-- > 0) body` */
function countDown(k: number, body: number[]): number[] {
  return [
    ...op.block(),
    ...op.loop(),
    ...op.get(k),
    ...op.eqz(),
    ...op.brIf(1),
    ...body,
    ...op.get(k),
    ...op.i32(1),
    ...op.sub(),
    ...op.set(k),
    ...op.br(0),
    ...op.end(),
    ...op.end(),
  ];
}

const inc = (local: number, by: number | number[]) => [
  ...op.get(local),
  ...(typeof by === 'number' ? op.i32(by) : by),
  ...op.add(),
  ...op.set(local),
];

/** hpass(src, inStride, rows, out, outW, coef, entryBytes) */
function hpassBody(): { locals: number[]; code: number[] } {
  const [src, inStride, rows, out, outW, coef, entry] = [0, 1, 2, 3, 4, 5, 6];
  const [y, x, row, e, p, k, wp, o] = [7, 8, 9, 10, 11, 12, 13, 14];
  const acc = 15;
  const pixel = [
    // p = row + first * 3; k = count; wp = e + 8; acc = HALF
    ...op.get(row),
    ...op.get(e),
    ...op.load(0),
    ...op.i32(3),
    ...op.mul(),
    ...op.add(),
    ...op.set(p),
    ...op.get(e),
    ...op.load(4),
    ...op.set(k),
    ...op.get(e),
    ...op.i32(8),
    ...op.add(),
    ...op.set(wp),
    ...op.i32(HALF),
    ...v.splat32(),
    ...op.set(acc),
    ...countDown(k, [
      ...op.get(acc),
      ...op.get(p),
      ...v.load8x8u(),
      ...v.extLow16(),
      ...op.get(wp),
      ...op.load(0),
      ...v.splat32(),
      ...v.mul(),
      ...v.add(),
      ...op.set(acc),
      ...inc(p, 3),
      ...inc(wp, 4),
    ]),
    ...op.get(o),
    ...op.get(acc),
    ...op.i32(SHIFT),
    ...v.shrS(),
    ...op.tee(acc),
    ...op.get(acc),
    ...v.narrowS16(),
    ...op.tee(acc),
    ...op.get(acc),
    ...v.narrowU8(),
    ...v.store32lane0(),
    ...inc(o, 3),
    ...inc(e, op.get(entry)),
  ];
  const code = [
    ...op.get(out),
    ...op.set(o),
    ...forLoop(y, rows, [
      ...op.get(src),
      ...op.get(y),
      ...op.get(inStride),
      ...op.mul(),
      ...op.add(),
      ...op.set(row),
      ...op.get(coef),
      ...op.set(e),
      ...forLoop(x, outW, pixel),
    ]),
  ];
  return {
    locals: [
      [8, I32],
      [1, V128],
    ].flat(),
    code,
  };
}

/** vpass(src, stride, h, out, coef, entryBytes, chunks): first of each entry is relative to src's row 0 */
function vpassBody(): { locals: number[]; code: number[] } {
  const [src, stride, h, out, coef, entry, chunks] = [0, 1, 2, 3, 4, 5, 6];
  const [y, c, base, p, k, wp, o, e] = [7, 8, 9, 10, 11, 12, 13, 14];
  const [w, a0, a1, a2, a3, px, lo, half] = [15, 16, 17, 18, 19, 20, 21, 22];
  const acc = (a: number, ext: number[], from: number) => [
    ...op.get(a),
    ...op.get(from),
    ...ext,
    ...op.get(w),
    ...v.mul(),
    ...v.add(),
    ...op.set(a),
  ];
  const shifted = (a: number) => [...op.get(a), ...op.i32(SHIFT), ...v.shrS()];
  const chunk = [
    ...op.get(base),
    ...op.get(c),
    ...op.i32(4),
    ...[0x74],
    ...op.add(),
    ...op.set(p), // p = base + c * 16 (i32.shl)
    ...op.get(e),
    ...op.load(4),
    ...op.set(k),
    ...op.get(e),
    ...op.i32(8),
    ...op.add(),
    ...op.set(wp),
    ...op.get(half),
    ...op.set(a0),
    ...op.get(half),
    ...op.set(a1),
    ...op.get(half),
    ...op.set(a2),
    ...op.get(half),
    ...op.set(a3),
    ...countDown(k, [
      ...op.get(wp),
      ...op.load(0),
      ...v.splat32(),
      ...op.set(w),
      ...op.get(p),
      ...v.load(),
      ...op.set(px),
      ...op.get(px),
      ...v.extLow8(),
      ...op.set(lo),
      ...acc(a0, v.extLow16(), lo),
      ...acc(a1, v.extHigh16(), lo),
      ...op.get(px),
      ...v.extHigh8(),
      ...op.set(lo),
      ...acc(a2, v.extLow16(), lo),
      ...acc(a3, v.extHigh16(), lo),
      ...inc(p, op.get(stride)),
      ...inc(wp, 4),
    ]),
    ...op.get(o),
    ...op.get(c),
    ...op.i32(4),
    ...[0x74],
    ...op.add(),
    ...shifted(a0),
    ...shifted(a1),
    ...v.narrowS16(),
    ...shifted(a2),
    ...shifted(a3),
    ...v.narrowS16(),
    ...v.narrowU8(),
    ...v.store(),
  ];
  const code = [
    ...op.i32(HALF),
    ...v.splat32(),
    ...op.set(half),
    ...op.get(out),
    ...op.set(o),
    ...op.get(coef),
    ...op.set(e),
    ...forLoop(y, h, [
      ...op.get(src),
      ...op.get(e),
      ...op.load(0),
      ...op.get(stride),
      ...op.mul(),
      ...op.add(),
      ...op.set(base),
      ...forLoop(c, chunks, chunk),
      ...inc(o, op.get(stride)),
      ...inc(e, op.get(entry)),
    ]),
  ];
  return {
    locals: [
      [8, I32],
      [8, V128],
    ].flat(),
    code,
  };
}

function section(id: number, content: number[]): number[] {
  return [id, ...uleb(content.length), ...content];
}

function vec(items: number[][]): number[] {
  return [...uleb(items.length), ...items.flat()];
}

function name(s: string): number[] {
  const b = [...Buffer.from(s, 'utf8')];
  return [...uleb(b.length), ...b];
}

/** The module: imports env.memory, exports hpass (7 i32 params) and vpass (7 i32 params). */
export function resampleModuleBytes(): Uint8Array<ArrayBuffer> {
  const sig = [0x60, ...vec(Array.from({ length: 7 }, () => [I32])), 0x00];
  const bodies = [hpassBody(), vpassBody()].map(({ locals, code }) => {
    const decl = [...uleb(locals.length / 2), ...locals];
    const body = [...decl, ...code, ...op.end()];
    return [...uleb(body.length), ...body];
  });
  const bytes = [
    0x00,
    0x61,
    0x73,
    0x6d,
    0x01,
    0x00,
    0x00,
    0x00,
    ...section(1, vec([sig])),
    ...section(2, vec([[...name('env'), ...name('memory'), 0x02, 0x00, 0x01]])),
    ...section(3, vec([[0x00], [0x00]])),
    ...section(
      7,
      vec([
        [...name('hpass'), 0x00, 0x00],
        [...name('vpass'), 0x00, 0x01],
      ]),
    ),
    ...section(10, vec(bodies)),
  ];
  return new Uint8Array(bytes);
}

type Pass = (a: number, b: number, c: number, d: number, e: number, f: number, g: number) => void;

interface Kernels {
  memory: WebAssembly.Memory;
  hpass: Pass;
  vpass: Pass;
}

let kernels: Kernels | null | undefined;

/** The instantiated module, or null where WebAssembly SIMD is not available. */
function getKernels(): Kernels | null {
  if (kernels !== undefined) return kernels;
  try {
    const memory = new WebAssembly.Memory({ initial: 64 });
    const inst = new WebAssembly.Instance(new WebAssembly.Module(resampleModuleBytes()), { env: { memory } });
    const ex = inst.exports as unknown as { hpass: Pass; vpass: Pass };
    kernels = { memory, hpass: ex.hpass, vpass: ex.vpass };
  } catch {
    kernels = null;
  }
  return kernels;
}

export function simdAvailable(): boolean {
  return getKernels() !== null;
}

const PAD = 32;

function align(n: number): number {
  return (n + 15) & ~15;
}

/** Entries (first - firstOffset, count, weights...) for outputs [o0, o0 + n). */
function packCoefficients(mem: Int32Array, at: number, c: SimdCoefficients, o0: number, n: number, firstOffset: number): void {
  const stride = 2 + c.taps;
  for (let i = 0; i < n; i++) {
    const b = at + i * stride;
    mem[b] = c.first[o0 + i]! - firstOffset;
    mem[b + 1] = c.count[o0 + i]!;
    mem.set(c.weights.subarray((o0 + i) * c.taps, (o0 + i + 1) * c.taps), b + 2);
  }
}

/**
 * The region (left, top, width x height) of the resize of an RGB image: rows [r0, r1) of the source are
 * resampled horizontally with `cx` (null: the width is unchanged), then vertically with `cy` (null: the
 * height is unchanged). Returns null when SIMD is unavailable or the image is not 3-channel.
 */
export function simdResizeRgb(
  src: Image8,
  cx: SimdCoefficients | null,
  cy: SimdCoefficients | null,
  r0: number,
  r1: number,
  region: { left: number; top: number; width: number; height: number },
): Image8 | null {
  const k = getKernels();
  if (!k || src.channels !== 3) return null;
  const rows = r1 - r0;
  const inStride = src.width * 3;
  const midStride = region.width * 3;
  // memory layout (bytes): source rows | horizontal table | vertical table | intermediate | output
  const srcAt = 0;
  const hAt = align(srcAt + rows * inStride + PAD);
  const hBytes = cx ? region.width * (2 + cx.taps) * 4 : 0;
  const vAt = align(hAt + hBytes);
  const vBytes = cy ? region.height * (2 + cy.taps) * 4 : 0;
  const midAt = align(vAt + vBytes);
  const outAt = align(midAt + rows * midStride + PAD);
  const end = outAt + region.height * midStride + PAD;
  const have = k.memory.buffer.byteLength;
  if (end > have) k.memory.grow(Math.ceil((end - have) / 65536));
  const u8 = new Uint8Array(k.memory.buffer);
  const i32 = new Int32Array(k.memory.buffer);
  u8.set(src.data.subarray(r0 * inStride, r1 * inStride), srcAt);
  if (cx) {
    packCoefficients(i32, hAt / 4, cx, region.left, region.width, 0);
    k.hpass(srcAt, inStride, rows, midAt, region.width, hAt, (2 + cx.taps) * 4);
  } else {
    // no horizontal resampling: the region's columns of each row
    for (let y = 0; y < rows; y++)
      u8.copyWithin(midAt + y * midStride, srcAt + y * inStride + region.left * 3, srcAt + y * inStride + (region.left + region.width) * 3);
  }
  const mid = midAt;
  let outPtr = mid + (region.top - r0) * midStride;
  if (cy) {
    packCoefficients(i32, vAt / 4, cy, region.top, region.height, r0);
    k.vpass(mid, midStride, region.height, outAt, vAt, (2 + cy.taps) * 4, Math.ceil(midStride / 16));
    outPtr = outAt;
  }
  const data = u8.slice(outPtr, outPtr + region.height * midStride);
  return { data, width: region.width, height: region.height, channels: 3 };
}
