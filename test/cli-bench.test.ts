import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { defaultStem } from '../src/arch/spec.js';
import { buildModel } from '../src/arch/zoo.js';
import { complexity } from '../src/arch/complexity.js';
import { benchmarkColumns } from '../src/results/timm.js';
import { runCli } from './helpers/cli.js';

const FAST = ['--res', '32', '--iters', '2', '--warmup', '1', '-q'];

/** The network bench builds: at 32 px the small stem (the shared default-stem rule). */
function expected(model: string, res: number) {
  return complexity(buildModel(model, { res, stem: defaultStem(res) }));
}

test('bench --json: one model and one batch prints one object with timm fields, engine, threads and exact params', () => {
  const r = runCli(['bench', 'regnetx_002', '--engine', 'wasm', '--batch', '2', ...FAST, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const o = JSON.parse(r.stdout);
  assert.ok(!Array.isArray(o));
  const c = expected('regnetx_002', 32);
  assert.equal(o.params, 2684792);
  assert.equal(o.params, c.params);
  assert.equal(o.model, 'regnetx_002');
  assert.equal(o.engine, 'wasm');
  assert.equal(o.threads, 1);
  for (const k of benchmarkColumns('infer')) assert.ok(k in o, k);
  assert.equal(o.infer_img_size, 32);
  assert.equal(o.infer_batch_size, 2);
  assert.equal(o.param_count, Number((c.params / 1e6).toFixed(2)));
  assert.equal(o.infer_gmacs, Number((c.macs / 1e9).toFixed(2)));
  assert.equal(o.infer_macts, Number((c.acts / 1e6).toFixed(2)));
  assert.ok(o.infer_step_time > 0);
  // samples/s = batch / median step time (both rounded in the output)
  assert.ok(Math.abs(o.infer_samples_per_sec - (2 * 1000) / o.infer_step_time) <= 0.01 + 1e-3 * o.infer_samples_per_sec);
  // the engine line goes to stderr with --json
  assert.match(r.stderr, /engine: wasm/);
});

test('bench train mode: several models and batches give an array and a timm benchmark CSV', () => {
  const dir = mkdtempSync(join(tmpdir(), 'regnet-bench-'));
  const out = join(dir, 'benchmark-train-test.csv');
  const r = runCli([
    'bench',
    'regnetx_002',
    'resnet18',
    '--engine',
    'wasm',
    '--mode',
    'train',
    '--batch',
    '1,2',
    '--num-classes',
    '10',
    ...FAST,
    '--json',
    '--out',
    out,
  ]);
  assert.equal(r.code, 0, r.stderr);
  const arr = JSON.parse(r.stdout);
  assert.ok(Array.isArray(arr));
  assert.deepEqual(
    arr.map((o: { model: string; train_batch_size: number }) => [o.model, o.train_batch_size]),
    [
      ['regnetx_002', 1],
      ['regnetx_002', 2],
      ['resnet18', 1],
      ['resnet18', 2],
    ],
  );
  const c18 = complexity(buildModel('resnet18', { res: 32, numClasses: 10, stem: 'small' }));
  const c002 = complexity(buildModel('regnetx_002', { res: 32, numClasses: 10, stem: 'small' }));
  assert.equal(arr[0].params, c002.params);
  assert.equal(arr[3].params, c18.params);
  for (const o of arr) assert.ok(o.train_samples_per_sec > 0 && o.train_step_time > 0);
  const text = readFileSync(out, 'utf8');
  assert.equal(text.split('\n')[0], benchmarkColumns('train').join(','));
  const rows = parse(text, { columns: true }) as Array<Record<string, string>>;
  assert.equal(rows.length, 4);
  assert.equal(rows[3]!.model, 'resnet18');
  assert.equal(rows[3]!.param_count, (c18.params / 1e6).toFixed(2));
  assert.equal(rows[3]!.train_gmacs, (c18.macs / 1e9).toFixed(2));
  assert.equal(rows[3]!.train_macts, (c18.acts / 1e6).toFixed(2));
  assert.match(rows[0]!.train_step_time!, /^\d+\.\d{3}$/);
  assert.match(rows[0]!.train_samples_per_sec!, /^\d+\.\d{2}$/);
});

test('bench table output names the engine on stdout', () => {
  const r = runCli(['bench', 'regnetx_002', '--engine', 'wasm', '--batch', '1', '--res', '32', '--iters', '1', '--warmup', '0']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^engine: wasm/);
  assert.match(r.stdout, /infer_samples_per_sec/);
  assert.match(r.stdout, /regnetx_002/);
  assert.match(r.stderr, /iter 1\/1/);
});

test('bench on torch (when the addon is available) reports the exact parameter count', (t) => {
  const r = runCli(['bench', 'regnetx_002', '--engine', 'torch', '--batch', '2', '--mode', 'train', ...FAST, '--json']);
  if (r.code === 2 && /not available/.test(r.stderr)) {
    // the torch engine is optional (no libtorch on this machine); the wasm test above covers the format
    t.skip('torch engine not available here');
    return;
  }
  assert.equal(r.code, 0, r.stderr);
  const o = JSON.parse(r.stdout);
  assert.equal(o.engine, 'torch');
  assert.equal(o.params, 2684792);
});

test('bench rejects bad input with exit code 2', () => {
  const cases: Array<[string[], RegExp]> = [
    [['bench', 'regnetx_0032', '--engine', 'wasm'], /unknown model 'regnetx_0032'.*regnetx_032/],
    [['bench', 'regnetx_002', '--batch', '8,x'], /--batch/],
    [['bench', 'regnetx_002', '--batch', '0'], /--batch/],
    [['bench', 'regnetx_002', '--iters', '2', '--seconds', '1'], /--iters or --seconds/],
    [['bench'], /name a model/],
  ];
  for (const [args, re] of cases) {
    const r = runCli(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re, args.join(' '));
  }
});
