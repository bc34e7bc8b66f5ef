import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildModel } from '../src/arch/zoo.js';
import type { FcNode } from '../src/arch/ir.js';
import { paramSpecs } from '../src/arch/params.js';
import type { WeightMap } from '../src/arch/weights.js';
import { selectEngine } from '../src/engine/select.js';
import type { EngineName } from '../src/engine/types.js';
import { readSafetensors, writeSafetensors } from '../src/io/safetensors.js';
import {
  checkpointNumClasses,
  describeMismatch,
  fitWeights,
  loadTimmWeights,
  matchWeights,
  readTimmCheckpoint,
  toTimmStateDict,
  writeTimmCheckpoint,
} from '../src/io/timm-weights.js';
import { UsageError } from '../src/util/errors.js';
import { initWeights } from '../src/arch/init.js';
import { readKeys, timmReference, torchSkip, type TimmReference } from './helpers/fixtures.js';
import { maxRel } from './helpers/numeric.js';
import { tempDirUntilExit } from './helpers/tmp.js';

/** The committed timm reference (always present). */
const X002 = timmReference('regnetx_002') as TimmReference;

/** A resnet18 checkpoint in timm's naming from our own initialiser, for tests about names, not values. */
function ownResnet18(): string {
  const path = join(tmp, 'own-resnet18.safetensors');
  if (!existsSync(path)) writeTimmCheckpoint(path, initWeights(buildModel('resnet18'), 1), 0);
  return path;
}

const tmp = tempDirUntilExit('timm-w-');

for (const model of ['regnetx_002', 'resnet18'] as const) {
  const reference = timmReference(model);
  const noRef = 'skip' in reference && reference.skip;
  const files = reference as TimmReference;
  for (const engine of ['wasm', 'torch'] as EngineName[]) {
    const skip = noRef || (engine === 'torch' && torchSkip());
    test(`${engine} reproduces timm's reference logits of ${model} within 1e-4`, { skip }, async () => {
      const net = buildModel(model);
      const { weights, match } = loadTimmWeights(files.weights, net);
      assert.equal(match.matched.size, paramSpecs(net).length);
      const io = readSafetensors(files.io).tensors;
      const x = io.get('input')!.data as Float32Array;
      const ref = io.get('logits')!.data as Float32Array;
      const e = await selectEngine(engine, { threads: 2 });
      const c = e.compile(net, weights);
      try {
        const logits = c.predict(x, 2);
        const err = maxRel(logits, ref);
        assert.ok(err < 1e-4, `${engine} ${model}: relative error ${err}`);
        // setWeights path too: scramble, reload, same logits
        const fc = net.nodes[net.output] as FcNode;
        c.setWeights(new Map([[`${fc.name}.bias`, { shape: [1000], data: new Float32Array(1000).fill(3) }]]));
        assert.ok(maxRel(c.predict(x, 2), ref) > 1e-3, 'changing the fc bias changes the logits');
        c.setWeights(weights);
        assert.ok(maxRel(c.predict(x, 2), ref) < 1e-4, 'setWeights restores the checkpoint');
      } finally {
        c.dispose();
        e.close?.();
      }
    });
  }

  test(`${model}: readTimmCheckpoint drops num_batches_tracked; toTimmStateDict writes back exactly keys.txt`, { skip: noRef }, () => {
    const keys = readKeys(files.keys);
    const ck = readTimmCheckpoint(files.weights);
    assert.equal(ck.nonFloat.size, 0);
    assert.deepEqual(
      [...ck.weights.keys()].sort(),
      keys
        .filter(([k]) => !k.endsWith('num_batches_tracked'))
        .map(([k]) => k)
        .sort(),
    );
    const out = join(tmp, `${model}.rt.safetensors`);
    writeTimmCheckpoint(out, ck.weights, 7);
    const back = readSafetensors(out).tensors;
    assert.deepEqual([...back.keys()].sort(), keys.map(([k]) => k).sort());
    for (const [k, shape] of keys) {
      const t = back.get(k)!;
      assert.deepEqual(t.shape, shape, k);
      if (k.endsWith('num_batches_tracked')) {
        assert.equal(t.dtype, 'I64');
        assert.deepEqual([...(t.data as BigInt64Array)], [7n]);
      } else {
        assert.deepEqual(t.data, ck.weights.get(k)!.data);
      }
    }
  });
}

test('checkpointNumClasses reads the classifier rows (head.fc / fc)', () => {
  const ck = readTimmCheckpoint(X002.weights);
  assert.equal(checkpointNumClasses(buildModel('regnetx_002', { numClasses: 10 }), ck.weights), 1000);
  const w = new Map(ck.weights);
  w.set('head.fc.weight', { shape: [7, 368], data: new Float32Array(7 * 368) });
  assert.equal(checkpointNumClasses(buildModel('regnetx_002'), w), 7);
  assert.equal(checkpointNumClasses(buildModel('resnet18'), w), undefined);
});

test('a shape mismatch names the tensor, its shape and the expected one; --strict false loads the rest', () => {
  const net = buildModel('regnetx_002', { numClasses: 10 });
  const path = X002.weights;
  assert.throws(
    () => loadTimmWeights(path, net),
    (e: unknown) =>
      e instanceof UsageError &&
      !e.message.includes('\n') &&
      e.message.includes('2 shape mismatches (head.fc.weight [1000,368] vs expected [10,368], head.fc.bias [1000] vs expected [10])') &&
      !e.message.includes('missing') &&
      e.message.includes('--strict false'),
  );
  const warnings: string[] = [];
  const { weights, match } = loadTimmWeights(path, net, { strict: false, onWarn: (m) => warnings.push(m) });
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /2 shape mismatches/);
  assert.equal(match.matched.size, paramSpecs(net).length - 2);
  // complete map: checkpoint tensors where they fit, fresh init for the classifier
  const ck = readTimmCheckpoint(path).weights;
  assert.equal(weights.size, paramSpecs(net).length);
  assert.deepEqual(weights.get('s1.b1.conv1.conv.weight')!.data, ck.get('s1.b1.conv1.conv.weight')!.data);
  assert.deepEqual(weights.get('head.fc.weight')!.shape, [10, 368]);
});

test('missing and unexpected tensors are listed, at most 5 each, with the remaining count', () => {
  const net = buildModel('regnetx_002');
  const ck = readTimmCheckpoint(X002.weights);
  const w = new Map(ck.weights);
  const dropped = [
    'stem.conv.weight',
    's1.b1.conv1.bn.running_var',
    's2.b1.conv2.conv.weight',
    's3.b1.downsample.conv.weight',
    's4.b1.conv3.bn.bias',
    'head.fc.bias',
    's4.b2.conv1.conv.weight',
  ];
  for (const k of dropped) w.delete(k);
  w.set('head.extra.weight', { shape: [1], data: new Float32Array(1) });
  const m = matchWeights(net, w);
  assert.equal(m.missing.length, 7);
  assert.deepEqual(m.unexpected, ['head.extra.weight']);
  const line = describeMismatch(m);
  const order = paramSpecs(net)
    .map((s) => s.name)
    .filter((n) => dropped.includes(n));
  assert.equal(line, `7 missing (${order.slice(0, 5).join(', ')}, ... 2 more); 1 unexpected (head.extra.weight)`);
  // a ResNet checkpoint for a RegNet: everything differs, strict error lists the first names
  const r = readTimmCheckpoint(ownResnet18());
  assert.throws(
    () => fitWeights(net, r, 'resnet18.safetensors'),
    /does not match regnetx_002: 222 missing \(stem\.conv\.weight, stem\.bn\.weight, .*\.\.\. 217 more\); 102 unexpected \(bn1\.bias, bn1\.running_mean, /,
  );
  assert.throws(() => fitWeights(net, r, 'resnet18.safetensors', { strict: false }), /no tensor fits regnetx_002/);
});

test("'module.' prefixes are stripped; int tensors with a parameter's name are a dtype mismatch; .pth is refused", () => {
  const ck = readTimmCheckpoint(ownResnet18());
  const pref: WeightMap = new Map([...ck.weights].map(([k, v]) => [`module.${k}`, v]));
  const p = join(tmp, 'dp.safetensors');
  writeSafetensors(p, pref);
  const net = buildModel('resnet18');
  assert.equal(loadTimmWeights(p, net).match.matched.size, paramSpecs(net).length);

  const bad = new Map<string, { shape: number[]; data: Float32Array | Int32Array }>(ck.weights);
  bad.set('fc.bias', { shape: [1000], data: new Int32Array(1000) });
  const q = join(tmp, 'int.safetensors');
  writeSafetensors(q, bad);
  assert.throws(() => loadTimmWeights(q, net), /1 shape mismatch \(fc\.bias \(dtype I32\) \[1000\] vs expected \[1000\]\)/);

  const pth = join(tmp, 'model.pth');
  writeFileSync(pth, 'x');
  assert.throws(
    () => readTimmCheckpoint(pth),
    (e: unknown) => e instanceof UsageError && /pickled PyTorch checkpoints are not supported/.test(e.message),
  );
});

test('toTimmStateDict adds one int64 scalar per BatchNorm and rejects bad counters', () => {
  const w: WeightMap = new Map([
    ['a.bn.running_mean', { shape: [2], data: new Float32Array(2) }],
    ['a.bn.running_var', { shape: [2], data: new Float32Array(2) }],
    ['a.conv.weight', { shape: [1], data: new Float32Array(1) }],
  ]);
  const sd = toTimmStateDict(w);
  assert.deepEqual([...sd.keys()].sort(), ['a.bn.num_batches_tracked', 'a.bn.running_mean', 'a.bn.running_var', 'a.conv.weight']);
  const nbt = sd.get('a.bn.num_batches_tracked')!;
  assert.equal(nbt.dtype, 'I64');
  assert.deepEqual(nbt.shape, []);
  assert.throws(() => toTimmStateDict(w, -1), UsageError);
  assert.throws(() => toTimmStateDict(w, 1.5), UsageError);
});
