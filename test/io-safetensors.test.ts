import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  f16ToF32, f32ToF16, parseSafetensors, readSafetensors, readSafetensorsF32, serializeSafetensors, writeSafetensors,
  type TensorInput,
} from '../src/io/safetensors.js';
import { UsageError } from '../src/util/errors.js';

const REF = '/work/shared/reference/timm-weights';
const haveRef = existsSync(REF);
const tmp = mkdtempSync(join(tmpdir(), 'st-test-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));

function parseKeys(file: string): Map<string, number[]> {
  const m = new Map<string, number[]>();
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    const sp = line.indexOf(' ');
    m.set(line.slice(0, sp), JSON.parse(line.slice(sp + 1)) as number[]);
  }
  return m;
}

for (const model of ['resnet18', 'regnetx_002']) {
  test(`reads timm ${model} weights with the shapes of ${model}.keys.txt`, { skip: !haveRef && 'reference weights missing' }, () => {
    const keys = parseKeys(join(REF, `${model}.keys.txt`));
    const { tensors, metadata } = readSafetensors(join(REF, `${model}.safetensors`));
    assert.deepEqual(metadata, {});
    assert.equal(tensors.size, keys.size);
    for (const [name, shape] of keys) {
      const t = tensors.get(name);
      assert.ok(t, `missing ${name}`);
      assert.deepEqual(t.shape, shape, name);
      assert.equal(t.data.length, shape.reduce((a, b) => a * b, 1));
      if (name.endsWith('num_batches_tracked')) {
        assert.equal(t.dtype, 'I64');
        assert.ok(t.data instanceof BigInt64Array);
        assert.ok((t.data[0] as bigint) >= 0n);
      } else {
        assert.equal(t.dtype, 'F32');
      }
      // Trained BN variances are positive: a misaligned read would give garbage signs/NaNs.
      if (name.endsWith('running_var')) assert.ok([...(t.data as Float32Array)].every((v) => v > 0 && v < 1e4), name);
    }
    const w = readSafetensorsF32(join(REF, `${model}.safetensors`));
    const floatKeys = [...keys.keys()].filter((k) => !k.endsWith('num_batches_tracked'));
    assert.deepEqual([...w.keys()].sort(), floatKeys.sort());
    for (const v of w.values()) assert.ok(v.data instanceof Float32Array);
  });

  test(`${model}.io.safetensors holds input 2x3x224x224 and logits 2x1000; writer reproduces it byte for byte`, { skip: !haveRef && 'reference weights missing' }, () => {
    const file = join(REF, `${model}.io.safetensors`);
    const { tensors } = readSafetensors(file);
    assert.deepEqual(tensors.get('input')!.shape, [2, 3, 224, 224]);
    assert.deepEqual(tensors.get('logits')!.shape, [2, 1000]);
    const x = tensors.get('input')!.data as Float32Array;
    // An ImageNet-normalised image stays within (0-0.485)/0.229 .. (1-0.406)/0.225.
    let lo = Infinity, hi = -Infinity;
    for (const v of x) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
    assert.ok(lo >= -2.2 && hi <= 2.7 && hi - lo > 1, `input range ${lo}..${hi}`);
    // The reference file was written by the HF implementation (sorted, space-padded header).
    const out = join(tmp, `${model}.io.safetensors`);
    writeSafetensors(out, tensors);
    assert.ok(Buffer.from(readFileSync(out)).equals(readFileSync(file)));
  });
}

test('round-trips every dtype, metadata, scalars and empty tensors', () => {
  const tensors = new Map<string, TensorInput>([
    ['z.f32', { shape: [2, 3], data: new Float32Array([1, -2, 3.5, 0, 1e-30, -7]) }],
    ['a.f64', { shape: [3], data: new Float64Array([Math.PI, -1e300, 0.1]) }],
    ['f16', { dtype: 'F16', shape: [4], data: new Uint16Array([0x3c00, 0xc000, 0x3555, 0x0001]) }],
    ['bf16', { dtype: 'BF16', shape: [2], data: new Uint16Array([0x3f80, 0xc049]) }],
    ['i64', { shape: [], data: new BigInt64Array([-(2n ** 40n)]) }],
    ['i32', { shape: [2], data: new Int32Array([-5, 2147483647]) }],
    ['i16', { shape: [1, 1], data: new Int16Array([-300]) }],
    ['i8', { shape: [3], data: new Int8Array([-128, 0, 127]) }],
    ['u8', { shape: [1], data: new Uint8Array([255]) }],
    ['bool', { dtype: 'BOOL', shape: [2], data: new Uint8Array([1, 0]) }],
    ['empty', { shape: [0, 4], data: new Float32Array(0) }],
  ]);
  const file = join(tmp, 'all.safetensors');
  writeSafetensors(file, tensors, { format: 'pt', note: 'x' });
  const buf = readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  assert.equal(n % 8, 0);
  const header = buf.subarray(8, 8 + n).toString('utf8');
  assert.match(header, / *$/);
  const names = Object.keys(JSON.parse(header)).filter((k) => k !== '__metadata__');
  assert.deepEqual(names, [...names].sort());

  const back = readSafetensors(file);
  assert.deepEqual(back.metadata, { format: 'pt', note: 'x' });
  for (const [name, t] of tensors) {
    const r = back.tensors.get(name)!;
    assert.deepEqual(r.shape, t.shape, name);
    assert.equal(r.dtype, t.dtype ?? r.dtype);
    assert.deepEqual(Array.from(r.data as ArrayLike<unknown>), Array.from(t.data as ArrayLike<unknown>), name);
    assert.equal(r.data.constructor, t.data.constructor, name);
  }
  const conv = readSafetensors(file, { floatToF32: true }).tensors;
  assert.deepEqual([...conv.get('f16')!.data as Float32Array], [1, -2, Math.fround(0.333251953125), 2 ** -24]);
  assert.deepEqual([...conv.get('bf16')!.data as Float32Array], [1, -3.140625]);
  assert.deepEqual([...conv.get('a.f64')!.data as Float32Array], [Math.PI, -Infinity, 0.1].map(Math.fround));
  const w = readSafetensorsF32(file);
  assert.deepEqual([...w.keys()].sort(), ['a.f64', 'bf16', 'empty', 'f16', 'z.f32']);
  // No temp files left behind by the atomic write.
  assert.deepEqual(readdirSync(tmp).filter((f) => f.endsWith('.tmp')), []);
});

test('f16 conversion matches known values and rounds to nearest even', () => {
  assert.equal(f16ToF32(0x7bff), 65504);
  assert.equal(f16ToF32(0xfc00), -Infinity);
  assert.ok(Number.isNaN(f16ToF32(0x7e00)));
  assert.equal(f16ToF32(0x0400), 2 ** -14);
  for (const h of [0x0000, 0x0001, 0x03ff, 0x0400, 0x3c00, 0x3c01, 0x7bff, 0x8001, 0xbc00, 0x7c00]) {
    assert.equal(f32ToF16(f16ToF32(h)), h, h.toString(16));
  }
  assert.equal(f32ToF16(1 + 2 ** -11), 0x3c00); // tie -> even
  assert.equal(f32ToF16(1 + 3 * 2 ** -11), 0x3c02);
  assert.equal(f32ToF16(1e6), 0x7c00);
});

/** A valid two-tensor file to corrupt. */
function sample(): Uint8Array {
  return serializeSafetensors(new Map<string, TensorInput>([
    ['a', { shape: [2], data: new Float32Array([1, 2]) }],
    ['b', { shape: [3], data: new Int8Array([1, 2, 3]) }],
  ]));
}

function withHeader(header: unknown, dataBytes: number, raw?: string): Uint8Array {
  const json = Buffer.from(raw ?? JSON.stringify(header));
  const out = Buffer.alloc(8 + json.length + dataBytes);
  out.writeBigUInt64LE(BigInt(json.length), 0);
  json.copy(out, 8);
  return out;
}

function expectError(buf: Uint8Array, re: RegExp, name = 'bad.safetensors'): void {
  const file = join(tmp, name);
  writeFileSync(file, buf);
  assert.throws(() => readSafetensors(file), (e: unknown) => {
    assert.ok(e instanceof UsageError, String(e));
    assert.ok(!e.message.includes('\n'), 'one line');
    assert.ok(e.message.startsWith(file), e.message);
    assert.match(e.message, re);
    return true;
  });
}

test('corrupt files give one-line errors naming the file and the problem', () => {
  const good = sample();
  assert.equal(parseSafetensors(good, 'mem').tensors.size, 2);
  expectError(good.subarray(0, 5), /shorter than the 8-byte/);
  expectError(good.subarray(0, 20), /runs past the end/);
  expectError(good.subarray(0, good.length - 1), /past the .*data area|truncated/);
  expectError(Buffer.concat([good, Buffer.from([0])]), /data area is 12 bytes but the tensors cover 11/);
  const huge = Buffer.from(good);
  huge.writeBigUInt64LE(2n ** 62n, 0);
  expectError(huge, /header length .* outside/);
  expectError(withHeader(null, 0, '{"a": {"dtype": "F32", '), /not valid JSON/);
  expectError(withHeader(null, 0, '[1,2]'), /does not start with "\{"/);
  expectError(withHeader({ a: { dtype: 'F8', shape: [1], data_offsets: [0, 1] } }, 1), /unsupported dtype "F8"/);
  expectError(withHeader({ a: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, 4), /shape/);
  expectError(withHeader({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 4] } }, 4), /has 4 bytes but F32 \[2\] needs 8/);
  expectError(withHeader({ a: { dtype: 'F32', shape: [1], data_offsets: [8, 4] } }, 8), /begin > end/);
  expectError(withHeader({ a: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, 4), /past the 4-byte data area/);
  expectError(withHeader({
    a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
    b: { dtype: 'F32', shape: [1], data_offsets: [4, 8] },
  }, 8), /"b" .*overlaps|overlaps tensor "b"/);
  expectError(withHeader({ a: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, 8), /gap of 4 unused bytes/);
  expectError(withHeader({ a: { dtype: 'F32', shape: [1], data_offsets: [0] } }, 4), /data_offsets/);
  expectError(withHeader({ __metadata__: { k: 1 } }, 0), /__metadata__.k is not a string/);
  expectError(withHeader({ a: 3 }, 0), /"a" entry is not an object/);
  assert.throws(() => readSafetensors(join(tmp, 'nope.safetensors')), /nope\.safetensors: cannot read.*ENOENT/);
});

test('writer rejects data that does not match its shape', () => {
  assert.throws(() => serializeSafetensors(new Map([['w', { shape: [3], data: new Float32Array(2) }]])), UsageError);
  assert.throws(() => serializeSafetensors(new Map([['h', { shape: [1], data: new Uint16Array(1) }]])), /F16 or BF16/);
});
