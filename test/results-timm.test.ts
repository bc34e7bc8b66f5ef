import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseCsv } from '../src/results/csv.js';
import { mergeResults, writeBenchCsv } from '../src/results/timm.js';

const HEADER =
  'model,img_size,top1,top1_err,top5,top5_err,param_count,crop_pct,interpolation,' +
  'flops,acts,infer_samples_per_sec,infer_batch_size,train_samples_per_sec,train_batch_size,engine,device,threads,precision,stem,in_chans,epochs,recipe,seed,arch,n_images';

test('results CSV: timm header first, formatting, merge by identity, timm sort order', () => {
  const dir = mkdtempSync(join(tmpdir(), 'regnet-res-'));
  const f = join(dir, 'results-mnist.csv');
  mergeResults(f, [{ model: 'b', img_size: 28, top1: 99.1234, top5: 100, params: 2684792, crop_pct: 1, interpolation: 'bilinear' }]);
  mergeResults(f, [
    { model: 'a', img_size: 28, top1: 99.1234, top5: 100, params: 11689512, crop_pct: 1, interpolation: 'bilinear' },
    { model: 'c', img_size: 28, top1: 98, top5: 99.9, params: 1000, crop_pct: 0.875, interpolation: 'bicubic' },
  ]);
  mergeResults(f, [{ model: 'c', img_size: 28, top1: 99.5, top5: 99.9, params: 1000, crop_pct: 0.875, interpolation: 'bicubic' }]);
  const blanks = ','.repeat(17);
  assert.equal(
    readFileSync(f, 'utf8'),
    HEADER +
      '\n' +
      `c,28,99.500,0.500,99.900,0.100,0.00,0.875,bicubic${blanks}\n` +
      `a,28,99.123,0.877,100.000,0.000,11.69,1.000,bilinear${blanks}\n` +
      `b,28,99.123,0.877,100.000,0.000,2.68,1.000,bilinear${blanks}\n`,
  );
});

test('results CSV: the extra columns; a row replaces only the row with its identity (model, size, stem, channels, recipe, seed)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'regnet-res-'));
  const f = join(dir, 'results-fashion-mnist-val32.csv');
  const base = {
    model: 'resnet18',
    img_size: 28,
    top1: 50,
    top5: 90,
    params: 11172042,
    crop_pct: 1,
    interpolation: 'none',
    flops: 455800842,
    acts: 480010,
    infer_samples_per_sec: 123.456,
    infer_batch_size: 32,
    train_samples_per_sec: 45.6,
    train_batch_size: 64,
    engine: 'torch',
    device: 'cpu',
    threads: 2,
    stem: 'small' as const,
    in_chans: 1,
    epochs: 1,
    recipe: 'digits[epochs=1]',
    seed: 0,
    arch: JSON.stringify({ kind: 'resnet', block: 'basic', layers: [2, 2, 2, 2] }),
  };
  mergeResults(f, [base]);
  mergeResults(f, [
    { ...base, seed: 1, top1: 51 },
    { ...base, stem: 'imagenet', top1: 40 },
    { ...base, in_chans: 3, top1: 41 },
    { ...base, recipe: 'digits', top1: 60 },
    { ...base, img_size: 32, top1: 42 },
  ]);
  let rows = parseCsv(readFileSync(f, 'utf8'), f);
  assert.equal(rows.length, 6, 'every identity keeps its own row');
  assert.deepEqual(
    rows.map((r) => r.top1),
    ['60.000', '51.000', '50.000', '42.000', '41.000', '40.000'],
  );
  const r = rows.find(
    (x) => x.seed === '0' && x.recipe === 'digits[epochs=1]' && x.stem === 'small' && x.in_chans === '1' && x.img_size === '28',
  )!;
  assert.deepEqual(
    [
      r.flops,
      r.acts,
      r.infer_samples_per_sec,
      r.infer_batch_size,
      r.train_samples_per_sec,
      r.train_batch_size,
      r.engine,
      r.device,
      r.threads,
      r.epochs,
    ],
    ['455800842', '480010', '123.46', '32', '45.60', '64', 'torch', 'cpu', '2', '1'],
  );
  assert.deepEqual(JSON.parse(r.arch!), { kind: 'resnet', block: 'basic', layers: [2, 2, 2, 2] });
  // the same identity again: replaced, not added
  mergeResults(f, [{ ...base, top1: 55 }]);
  rows = parseCsv(readFileSync(f, 'utf8'), f);
  assert.equal(rows.length, 6);
  assert.equal(rows.filter((x) => x.top1 === '55.000').length, 1);
  assert.equal(rows.filter((x) => x.top1 === '50.000').length, 0);
});

test('results CSV: an older file (timm columns only) is read and kept; its rows count as their own identity', () => {
  const dir = mkdtempSync(join(tmpdir(), 'regnet-res-'));
  const f = join(dir, 'results-mnist.csv');
  writeFileSync(
    f,
    'model,img_size,top1,top1_err,top5,top5_err,param_count,crop_pct,interpolation,note\nold,28,90.000,10.000,99.000,1.000,0.10,1.000,none,hand-made\n',
  );
  mergeResults(f, [
    {
      model: 'old',
      img_size: 28,
      top1: 91,
      top5: 99,
      params: 100000,
      crop_pct: 1,
      interpolation: 'none',
      stem: 'small',
      seed: 0,
      recipe: 'digits',
    },
  ]);
  mergeResults(f, [{ model: 'old', img_size: 28, top1: 92, top5: 99, params: 100000, crop_pct: 1, interpolation: 'none' }]);
  const text = readFileSync(f, 'utf8');
  assert.ok(text.startsWith(HEADER + ',note\n'), "our columns, then the old file's own");
  const rows = parseCsv(text, f);
  assert.deepEqual(
    rows.map((r) => [r.top1, r.stem, r.note]),
    [
      ['92.000', '', ''],
      ['91.000', 'small', ''],
    ],
  );
});

test('benchmark CSV: timm header with the mode prefix', () => {
  const dir = mkdtempSync(join(tmpdir(), 'regnet-res-'));
  const f = join(dir, 'benchmark-infer-x.csv');
  writeBenchCsv(f, [
    {
      model: 'resnet50',
      mode: 'infer',
      img_size: 224,
      samples_per_sec: 123.456,
      step_time_ms: 64.8,
      batch_size: 8,
      params: 25557032,
      macs: 4089184256,
      acts: 11114984,
    },
  ]);
  assert.equal(
    readFileSync(f, 'utf8'),
    'model,infer_img_size,infer_samples_per_sec,infer_step_time,infer_batch_size,param_count,infer_gmacs,infer_macts,precision,layout\n' +
      'resnet50,224,123.46,64.800,8,25.56,4.09,11.11,fp32,nchw\n',
  );
});
