import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Command } from 'commander';
import { register } from '../src/cli/predict.js';
import { readSafetensors, writeSafetensors } from '../src/io/safetensors.js';
import { writeTimmCheckpoint } from '../src/io/timm-weights.js';
import { buildModel } from '../src/arch/zoo.js';
import { initWeights } from '../src/arch/init.js';
import { selectEngine } from '../src/engine/select.js';
import { UsageError } from '../src/util/errors.js';
import { timmReference, torchSkip, type TimmReference } from './helpers/fixtures.js';
import { maxRel } from './helpers/numeric.js';
import { tempDirUntilExit } from './helpers/tmp.js';

const X002 = timmReference('regnetx_002') as TimmReference;
const resnet18 = timmReference('resnet18');
const tmp = tempDirUntilExit('timm-p-');

/** Run `regnet predict ...` in-process; returns what it wrote to stdout. */
async function predict(args: string[]): Promise<string> {
  const program = new Command().exitOverride();
  const chunks: string[] = [];
  register(program, (t) => chunks.push(t));
  for (const c of program.commands) c.exitOverride();
  await program.parseAsync(['predict', ...args], { from: 'user' });
  return chunks.join('');
}

const ioRef = (ref: TimmReference) => readSafetensors(ref.io).tensors;

test('predict --json (wasm) prints the reference logits of regnetx_002', async () => {
  const out = await predict(['regnetx_002', '--weights', X002.weights, '--input', X002.io, '--engine', 'wasm', '--json', '--batch', '1']);
  const j = JSON.parse(out) as { logits: number[][] };
  assert.equal(j.logits.length, 2);
  assert.equal(j.logits[0]!.length, 1000);
  const err = maxRel(j.logits.flat(), ioRef(X002).get('logits')!.data as Float32Array);
  assert.ok(err < 1e-4, `relative error ${err}`);
});

test(
  'predict --out (torch) writes tensor logits matching resnet18 reference',
  { skip: ('skip' in resnet18 && resnet18.skip) || torchSkip() },
  async () => {
    const ref = resnet18 as TimmReference;
    const file = join(tmp, 'logits.safetensors');
    const out = await predict(['resnet18', '--weights', ref.weights, '--input', ref.io, '--engine', 'torch', '--out', file]);
    assert.match(out, /wrote logits \[2, 1000\] of resnet18 \(torch\)/);
    const t = readSafetensors(file).tensors.get('logits')!;
    assert.deepEqual(t.shape, [2, 1000]);
    const err = maxRel(t.data as Float32Array, ioRef(ref).get('logits')!.data as Float32Array);
    assert.ok(err < 1e-4, `relative error ${err}`);
  },
);

test('predict builds the net at the input resolution and with --num-classes (strict false keeps the body)', async () => {
  // 64x48 input: the same checkpoint runs at another resolution; 10 classes from a 1000-class file
  const x = ioRef(X002).get('input')!.data as Float32Array;
  const small = new Float32Array(1 * 3 * 48 * 64);
  for (let c = 0; c < 3; c++)
    for (let y = 0; y < 48; y++) for (let xx = 0; xx < 64; xx++) small[(c * 48 + y) * 64 + xx] = x[(c * 224 + y) * 224 + xx]!;
  const inp = join(tmp, 'small.safetensors');
  writeSafetensors(inp, new Map([['input', { shape: [1, 3, 48, 64], data: small }]]));
  const text = await predict(['regnetx_002', '--weights', X002.weights, '--input', inp, '--engine', 'wasm']);
  const rows = text.trim().split('\n');
  assert.equal(rows.length, 1);
  assert.equal(rows[0]!.split(' ').length, 1000);
  assert.ok(rows[0]!.split(' ').every((v) => Number.isFinite(Number(v))));
  await assert.rejects(
    predict(['regnetx_002', '--weights', X002.weights, '--input', inp, '--engine', 'wasm', '--num-classes', '10']),
    /head\.fc\.weight \[1000,368\] vs expected \[10,368\]/,
  );
  const j = JSON.parse(
    await predict([
      'regnetx_002',
      '--weights',
      X002.weights,
      '--input',
      inp,
      '--engine',
      'wasm',
      '--num-classes',
      '10',
      '--strict',
      'false',
      '--json',
    ]),
  ) as { logits: number[][] };
  assert.equal(j.logits[0]!.length, 10);
});

test('predict: clear errors for a missing or malformed input tensor', async () => {
  const w = X002.weights;
  const noInput = join(tmp, 'noinput.safetensors');
  writeSafetensors(noInput, new Map([['x', { shape: [1, 3, 8, 8], data: new Float32Array(192) }]]));
  await assert.rejects(
    predict(['regnetx_002', '--weights', w, '--input', noInput]),
    (e: unknown) => e instanceof UsageError && /no tensor named 'input' \(has: x\)/.test(e.message),
  );
  const flat = join(tmp, 'flat.safetensors');
  writeSafetensors(flat, new Map([['input', { shape: [3, 8, 8], data: new Float32Array(192) }]]));
  await assert.rejects(predict(['regnetx_002', '--weights', w, '--input', flat]), /shape \[3,8,8\]; expected NCHW/);
  const ints = join(tmp, 'ints.safetensors');
  writeSafetensors(ints, new Map([['input', { shape: [1, 3, 8, 8], data: new Int32Array(192) }]]));
  await assert.rejects(predict(['regnetx_002', '--weights', w, '--input', ints]), /tensor 'input' is I32/);
});

test('predict --stem small (the default below 64 px) loads a CIFAR-style checkpoint written by writeTimmCheckpoint; the imagenet stem is a shape mismatch', async () => {
  const net = buildModel('resnet18', { res: 32, numClasses: 10, stem: 'small' });
  const w = initWeights(net, 3);
  const file = join(tmp, 'cifar.safetensors');
  writeTimmCheckpoint(file, w, 5);
  const x = new Float32Array(2 * 3 * 32 * 32).map((_, i) => Math.sin(i));
  const inp = join(tmp, 'cifar-in.safetensors');
  writeSafetensors(inp, new Map([['input', { shape: [2, 3, 32, 32], data: x }]]));
  const j = JSON.parse(await predict(['resnet18', '--weights', file, '--input', inp, '--stem', 'small', '--engine', 'wasm', '--json'])) as {
    logits: number[][];
  };
  const e = await selectEngine('wasm');
  const c = e.compile(net, w);
  const direct = c.predict(x, 2);
  c.dispose();
  assert.deepEqual(j.logits.flat(), Array.from(direct));
  // a 32 px input gets the small stem by default (the shared rule: small below 64 px)
  const d = JSON.parse(await predict(['resnet18', '--weights', file, '--input', inp, '--engine', 'wasm', '--json'])) as {
    logits: number[][];
  };
  assert.deepEqual(d.logits.flat(), Array.from(direct));
  await assert.rejects(
    predict(['resnet18', '--weights', file, '--input', inp, '--engine', 'wasm', '--stem', 'imagenet']),
    /conv1\.weight \[64,3,3,3\] vs expected \[64,3,7,7\]/,
  );
});
