/**
 * Strict safetensors reader and writer (https://huggingface.co/docs/safetensors format):
 *   8-byte little-endian u64 header length N, N bytes of UTF-8 JSON
 *   {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__"?: {string: string}},
 *   then the raw little-endian tensor bytes; offsets are relative to the start of the data area.
 * Every structural problem is a UsageError with one line naming the file.
 */
import { readFileSync } from 'node:fs';
import { endianness } from 'node:os';
import { UsageError } from '../util/errors.js';
import { writeFileAtomic } from '../util/atomic.js';
import { LIMITS } from '../util/limits.js';
import type { WeightMap } from '../arch/weights.js';

export const DTYPES = ['F32', 'F16', 'BF16', 'F64', 'I64', 'I32', 'I16', 'I8', 'U8', 'BOOL'] as const;
export type Dtype = (typeof DTYPES)[number];

const DTYPE_SIZE: Record<Dtype, number> = {
  F32: 4,
  F16: 2,
  BF16: 2,
  F64: 8,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};

/** F16 and BF16 come back as their raw bits (Uint16Array) unless converted to float32. */
export type TensorData = Float32Array | Float64Array | Uint16Array | BigInt64Array | Int32Array | Int16Array | Int8Array | Uint8Array;

export interface Tensor {
  /** the dtype stored in the file (data is a Float32Array for F16/BF16/F64 when floatToF32 was asked) */
  dtype: Dtype;
  shape: number[];
  data: TensorData;
}

export interface SafetensorsFile {
  tensors: Map<string, Tensor>;
  metadata: Record<string, string>;
}

export interface ReadOptions {
  /** convert F16, BF16 and F64 tensors to Float32Array */
  floatToF32?: boolean;
}

/** HF's reference implementation refuses headers above 100 MB; so do we. */
const MAX_HEADER = 100_000_000;

function fail(path: string, problem: string): never {
  throw new UsageError(`${path}: invalid safetensors file: ${problem}`);
}

function isFloat(d: Dtype): boolean {
  return d === 'F32' || d === 'F16' || d === 'BF16' || d === 'F64';
}

function checkLittleEndianHost(): void {
  // Typed arrays use the host byte order; the format is little-endian.
  if (endianness() !== 'LE') throw new UsageError('safetensors: big-endian hosts are not supported');
}

/** A tensor's header entry, checked: offsets are relative to the data area. */
interface TensorEntry {
  name: string;
  dtype: Dtype;
  shape: number[];
  begin: number;
  end: number;
}

/** Parse a safetensors image already in memory; `path` only labels errors. */
export function parseSafetensors(buf: Uint8Array, path: string, opts: ReadOptions = {}): SafetensorsFile {
  checkLittleEndianHost();
  const { header, dataStart } = readHeader(buf, path);
  const dataLength = buf.length - dataStart;
  const metadata: Record<string, string> = {};
  const entries: TensorEntry[] = [];
  for (const [name, raw] of Object.entries(header)) {
    if (name === '__metadata__') Object.assign(metadata, parseMetadata(raw, path));
    else entries.push(parseTensorEntry(name, raw, dataLength, path));
  }
  checkCoverage(entries, dataLength, path);

  const tensors = new Map<string, Tensor>();
  for (const entry of entries) {
    // Copy into a fresh, aligned buffer: offsets need not be aligned to the element size.
    // (Buffer.slice would share memory, so copy explicitly.)
    const bytes = new Uint8Array(entry.end - entry.begin);
    bytes.set(buf.subarray(dataStart + entry.begin, dataStart + entry.end));
    let data = viewAs(entry.dtype, bytes.buffer);
    if (opts.floatToF32 && isFloat(entry.dtype) && entry.dtype !== 'F32') data = toFloat32(entry.dtype, data);
    tensors.set(entry.name, { dtype: entry.dtype, shape: entry.shape, data });
  }
  return { tensors, metadata };
}

/** The 8-byte header length, then the header: UTF-8 JSON holding one object. */
function readHeader(buf: Uint8Array, path: string): { header: Record<string, unknown>; dataStart: number } {
  if (buf.length < 8) fail(path, `file is ${buf.length} bytes, shorter than the 8-byte header length`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const declaredLength = view.getBigUint64(0, true);
  if (declaredLength < 2n || declaredLength > BigInt(MAX_HEADER)) fail(path, `header length ${declaredLength} is outside 2..${MAX_HEADER}`);
  const headerLength = Number(declaredLength);
  if (8 + headerLength > buf.length)
    fail(path, `header length ${headerLength} runs past the end of the ${buf.length}-byte file (truncated?)`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(buf.subarray(8, 8 + headerLength));
  } catch {
    fail(path, 'header is not valid UTF-8');
  }
  if (!text.startsWith('{')) fail(path, 'header does not start with "{"');
  scanHeader(text, path);
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    fail(path, `header is not valid JSON (${(e as Error).message.split('\n')[0]})`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) fail(path, 'header is not a JSON object');
  return { header: header as Record<string, unknown>, dataStart: 8 + headerLength };
}

/**
 * One pass over the header text before JSON.parse: JSON.parse keeps the last of two equal keys, so a
 * tensor named twice would silently lose one, and a header of millions of empty tensors would take
 * gigabytes as objects. Refuses a key repeated in any object, and more than LIMITS.tensors tensors.
 * Only keys are looked at; syntax errors are left to JSON.parse.
 */
function scanHeader(text: string, path: string): void {
  // one frame per open object or array: the keys seen (null for arrays) and the tensor it belongs to
  const stack: Array<{ keys: Set<string> | null; tensor: string }> = [];
  let expectKey = false;
  let lastKey = '';
  let tensors = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (ch === 0x22 /* " */) {
      let j = i + 1;
      let escaped = false;
      while (j < text.length) {
        const c = text.charCodeAt(j);
        if (c === 0x5c /* \ */) {
          escaped = true;
          j += 2;
        } else if (c === 0x22) break;
        else j++;
      }
      if (j >= text.length) return;
      const frame = stack[stack.length - 1];
      if (expectKey && frame?.keys) {
        let key = text.slice(i + 1, j);
        if (escaped) {
          try {
            key = JSON.parse(text.slice(i, j + 1)) as string;
          } catch {
            return;
          }
        }
        if (frame.keys.has(key)) {
          if (stack.length === 1) fail(path, `tensor name ${JSON.stringify(key)} appears twice in the header`);
          fail(path, `key ${JSON.stringify(key)} appears twice in the entry of tensor ${JSON.stringify(frame.tensor)}`);
        }
        frame.keys.add(key);
        if (stack.length === 1 && key !== '__metadata__' && ++tensors > LIMITS.tensors) {
          fail(path, `header declares over ${LIMITS.tensors} tensors`);
        }
        lastKey = key;
        expectKey = false;
      }
      i = j;
    } else if (ch === 0x7b /* { */) {
      stack.push({ keys: new Set(), tensor: stack.length === 1 ? lastKey : (stack[stack.length - 1]?.tensor ?? '') });
      expectKey = true;
    } else if (ch === 0x5b /* [ */) {
      stack.push({ keys: null, tensor: stack[stack.length - 1]?.tensor ?? '' });
      expectKey = false;
    } else if (ch === 0x7d /* } */ || ch === 0x5d /* ] */) {
      stack.pop();
      expectKey = false;
    } else if (ch === 0x2c /* , */) {
      expectKey = stack[stack.length - 1]?.keys != null;
    }
  }
}

function parseMetadata(raw: unknown, path: string): Record<string, string> {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) fail(path, '__metadata__ is not an object');
  const metadata: Record<string, string> = {};
  for (const [key, value] of Object.entries(raw as Record<string, unknown>)) {
    if (typeof value !== 'string') fail(path, `__metadata__.${key} is not a string`);
    metadata[key] = value;
  }
  return metadata;
}

/** Check one tensor entry: known dtype, valid shape, offsets inside the data area and matching the byte size. */
function parseTensorEntry(name: string, raw: unknown, dataLength: number, path: string): TensorEntry {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) fail(path, `tensor "${name}" entry is not an object`);
  const info = raw as Record<string, unknown>;
  const dtype = info.dtype;
  if (typeof dtype !== 'string' || !(DTYPES as readonly string[]).includes(dtype)) {
    fail(path, `tensor "${name}" has unsupported dtype ${JSON.stringify(dtype)} (allowed: ${DTYPES.join(', ')})`);
  }
  const shape = info.shape;
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    fail(path, `tensor "${name}" shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
  }
  const offsets = info.data_offsets;
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    fail(path, `tensor "${name}" data_offsets ${JSON.stringify(offsets)} is not [begin, end] of non-negative integers`);
  }
  const [begin, end] = offsets as [number, number];
  if (begin > end) fail(path, `tensor "${name}" data_offsets [${begin}, ${end}] has begin > end`);
  if (end > dataLength) {
    fail(path, `tensor "${name}" data_offsets end ${end} is past the ${dataLength}-byte data area (truncated?)`);
  }
  const type = dtype as Dtype;
  const count = (shape as number[]).reduce((a, b) => a * b, 1);
  const expectedBytes = count * DTYPE_SIZE[type];
  if (end - begin !== expectedBytes) {
    fail(path, `tensor "${name}" has ${end - begin} bytes but ${type} ${JSON.stringify(shape)} needs ${expectedBytes}`);
  }
  return { name, dtype: type, shape: shape as number[], begin, end };
}

/** The data area must be covered exactly: no overlaps, no gaps, no trailing bytes (as HF checks). */
function checkCoverage(entries: TensorEntry[], dataLength: number, path: string): void {
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let position = 0;
  let previous = '';
  for (const entry of sorted) {
    if (entry.begin < position) fail(path, `tensor "${entry.name}" [${entry.begin}, ${entry.end}] overlaps tensor "${previous}"`);
    if (entry.begin > position)
      fail(path, `gap of ${entry.begin - position} unused bytes before tensor "${entry.name}" at data offset ${position}`);
    position = entry.end;
    if (entry.end > entry.begin) previous = entry.name;
  }
  if (position !== dataLength) fail(path, `data area is ${dataLength} bytes but the tensors cover ${position}`);
}

function viewAs(dtype: Dtype, ab: ArrayBuffer): TensorData {
  switch (dtype) {
    case 'F32':
      return new Float32Array(ab);
    case 'F64':
      return new Float64Array(ab);
    case 'F16':
    case 'BF16':
      return new Uint16Array(ab);
    case 'I64':
      return new BigInt64Array(ab);
    case 'I32':
      return new Int32Array(ab);
    case 'I16':
      return new Int16Array(ab);
    case 'I8':
      return new Int8Array(ab);
    case 'U8':
    case 'BOOL':
      return new Uint8Array(ab);
  }
}

/** IEEE half (binary16) bits to a float. */
export function f16ToF32(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** Float32 to IEEE half bits, round to nearest even (used by the writer's tests and callers storing F16). */
export function f32ToF16(x: number): number {
  const f = new Float32Array([x]);
  const u = new Uint32Array(f.buffer)[0]!;
  const sign = (u >>> 16) & 0x8000;
  const exp = (u >>> 23) & 0xff;
  let mant = u & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let h = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && h & 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++;
  return sign | h;
}

function toFloat32(dtype: Dtype, data: TensorData): Float32Array {
  const out = new Float32Array(data.length);
  if (dtype === 'F64') {
    out.set(data as Float64Array);
  } else if (dtype === 'BF16') {
    // bfloat16 is the top half of a float32.
    const u = new Uint32Array(out.buffer);
    const src = data as Uint16Array;
    for (let i = 0; i < src.length; i++) u[i] = src[i]! << 16;
  } else if (dtype === 'F16') {
    const src = data as Uint16Array;
    for (let i = 0; i < src.length; i++) out[i] = f16ToF32(src[i]!);
  } else {
    out.set(data as Float32Array);
  }
  return out;
}

function readWhole(path: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new UsageError(`${path}: cannot read safetensors file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

export function readSafetensors(path: string, opts: ReadOptions = {}): SafetensorsFile {
  return parseSafetensors(readWhole(path), path, opts);
}

/** Float tensors as float32 WeightMap; integer/bool tensors (e.g. BN num_batches_tracked) are skipped. */
export function readSafetensorsF32(path: string): WeightMap {
  const { tensors } = readSafetensors(path, { floatToF32: true });
  const out: WeightMap = new Map();
  for (const [name, t] of tensors) {
    if (!isFloat(t.dtype)) continue;
    out.set(name, { shape: t.shape, data: t.data as Float32Array });
  }
  return out;
}

/** What the writer accepts: dtype is inferred from the typed array unless given (needed for F16/BF16/BOOL). */
export interface TensorInput {
  dtype?: Dtype;
  shape: number[];
  data: TensorData;
}

function inferDtype(data: TensorData): Dtype | undefined {
  if (data instanceof Float32Array) return 'F32';
  if (data instanceof Float64Array) return 'F64';
  if (data instanceof BigInt64Array) return 'I64';
  if (data instanceof Int32Array) return 'I32';
  if (data instanceof Int16Array) return 'I16';
  if (data instanceof Int8Array) return 'I8';
  if (data instanceof Uint8Array) return 'U8';
  return undefined; // Uint16Array is ambiguous (F16 or BF16)
}

/** Build the file image: header padded with spaces to a multiple of 8 (as HF does), tensors sorted by name. */
export function serializeSafetensors(tensors: Map<string, TensorInput> | WeightMap, metadata?: Record<string, string>): Uint8Array {
  checkLittleEndianHost();
  const names = [...tensors.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new UsageError(`safetensors metadata "${k}" must be a string`);
    }
    header.__metadata__ = metadata;
  }
  const parts: Uint8Array[] = [];
  let off = 0;
  for (const name of names) {
    if (name === '__metadata__') throw new UsageError('safetensors: "__metadata__" is not a valid tensor name');
    const t = tensors.get(name)! as TensorInput;
    const dtype = t.dtype ?? inferDtype(t.data);
    if (!dtype) throw new UsageError(`safetensors: tensor "${name}" is a Uint16Array; give dtype F16 or BF16`);
    if (!(DTYPES as readonly string[]).includes(dtype)) throw new UsageError(`safetensors: tensor "${name}" has unknown dtype ${dtype}`);
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (count !== t.data.length) {
      throw new UsageError(`safetensors: tensor "${name}" shape [${t.shape}] holds ${count} values but data has ${t.data.length}`);
    }
    const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    if (bytes.length !== count * DTYPE_SIZE[dtype]) {
      throw new UsageError(`safetensors: tensor "${name}" data does not match dtype ${dtype}`);
    }
    header[name] = { dtype, shape: t.shape, data_offsets: [off, off + bytes.length] };
    parts.push(bytes);
    off += bytes.length;
  }
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  const pad = (8 - (json.length % 8)) % 8;
  if (pad) json = Buffer.concat([json, Buffer.alloc(pad, 0x20)]);
  const out = new Uint8Array(8 + json.length + off);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let p = 8 + json.length;
  for (const b of parts) {
    out.set(b, p);
    p += b.length;
  }
  return out;
}

/** Write atomically (temp file + rename), so a crash never leaves a half-written checkpoint. */
export function writeSafetensors(path: string, tensors: Map<string, TensorInput> | WeightMap, metadata?: Record<string, string>): void {
  writeFileAtomic(path, serializeSafetensors(tensors, metadata));
}
