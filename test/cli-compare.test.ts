import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import sharp from 'sharp';
import { z } from 'zod';
import { buildModel } from '../src/arch/zoo.js';
import { summarize } from '../src/arch/summary.js';
import { COMPARE_CSV_COLUMNS } from '../src/bench/compare.js';
import { mergeResults } from '../src/results/timm.js';
import { referenceEntries } from '../src/results/reference-top1.js';
import { runCli } from './helpers/cli.js';

const int = z.number().int().nonnegative();
const RowSchema = z.object({
  model: z.string(),
  family: z.string(),
  params: int,
  flops: int,
  acts: int,
  stage_widths: z.array(z.number().int().positive()),
  stage_depths: z.array(z.number().int().positive()),
  stage_group_widths: z.array(z.number().int().positive()),
  infer_samples_per_sec: z.number().positive().nullable(),
  train_samples_per_sec: z.number().positive().nullable(),
  engine: z.string().nullable(),
  ref_top1: z.number().nullable(),
  ref_top1_modern: z.number().nullable(),
  params_ratio: z.number(),
  flops_ratio: z.number(),
  acts_ratio: z.number(),
  infer_ratio: z.number().nullable(),
  top1: z.number().nullable(),
  top5: z.number().nullable(),
  dataset: z.string(),
  img_size: int,
  in_chans: int,
  stem: z.enum(['imagenet', 'small']),
  num_classes: int,
  results_file: z.string().nullable(),
  results_rows: int,
});

test('compare --no-bench: exact numbers, structure, ratios and reference top-1 (json)', () => {
  const r = runCli(['compare', 'resnet50', 'regnetx_032', 'regnety_032', '--no-bench', '--format', 'json']);
  assert.equal(r.code, 0, r.stderr);
  const rows = z.array(RowSchema).parse(JSON.parse(r.stdout));
  assert.deepEqual(
    rows.map((x) => x.model),
    ['resnet50', 'regnetx_032', 'regnety_032'],
  );
  assert.equal(rows[0]!.params, 25557032);
  assert.equal(rows[1]!.params, 15296552);
  assert.equal(rows[0]!.flops, 4089185256);
  assert.equal(rows[1]!.flops, 3176622952);
  for (const row of rows) {
    const s = summarize(buildModel(row.model));
    assert.equal(row.acts, s.acts);
    assert.deepEqual(row.stage_widths, s.stage_widths);
    assert.deepEqual(row.stage_depths, s.stage_depths);
    assert.deepEqual(row.stage_group_widths, s.stage_group_widths);
    assert.equal(row.params_ratio, row.params / 25557032);
    assert.equal(row.flops_ratio, row.flops / 4089185256);
    assert.equal(row.acts_ratio, row.acts / rows[0]!.acts);
    assert.equal(row.infer_samples_per_sec, null);
    assert.equal(row.engine, null);
  }
  assert.deepEqual(rows[1]!.stage_widths, [96, 192, 432, 1008]);
  assert.deepEqual(rows[1]!.stage_depths, [2, 6, 15, 2]);
  assert.equal(rows[0]!.params_ratio, 1);
  // published top-1, each with its source, from configs/reference/imagenet-top1.json
  assert.deepEqual(
    rows.map((x) => [x.ref_top1, x.ref_top1_modern]),
    [
      [76.156, 80.382],
      [78.16, 80.916],
      [78.902, 81.948],
    ],
  );
});

test('compare table and markdown show exact counts and ratios; csv has one row per model', () => {
  const t = runCli(['compare', 'resnet50', 'regnetx_032', '--no-bench']);
  assert.equal(t.code, 0, t.stderr);
  assert.match(t.stdout, /25,557,032/);
  assert.match(t.stdout, /15,296,552/);
  assert.match(t.stdout, /4,089,185,256/);
  assert.match(t.stdout, /3,176,622,952/);
  assert.match(t.stdout, /params ratio\s+1\.00x\s+0\.60x/);
  assert.match(t.stdout, /flops ratio\s+1\.00x\s+0\.78x/);
  assert.match(t.stdout, /top1 ref \(original\)\s+76\.156\s+78\.160/);

  const m = runCli(['compare', 'resnet50', 'regnetx_032', '--no-bench', '--format', 'markdown']);
  assert.equal(m.code, 0, m.stderr);
  const lines = m.stdout
    .trim()
    .split('\n')
    .filter((l) => l.startsWith('|'));
  assert.equal(lines[0], '|  | resnet50 | regnetx_032 |');
  assert.equal(lines[1], '|---|---:|---:|');
  assert.ok(lines.includes('| params | 25,557,032 | 15,296,552 |'), m.stdout);
  assert.ok(lines.includes('| stage widths | 256,512,1024,2048 | 96,192,432,1008 |'), m.stdout);
  for (const l of lines) assert.equal((l.match(/(?<!\\)\|/g) ?? []).length, 4, l);

  const c = runCli(['compare', 'resnet50', 'regnetx_032', '--no-bench', '--format', 'csv']);
  assert.equal(c.code, 0, c.stderr);
  assert.equal(c.stdout.split('\n')[0], COMPARE_CSV_COLUMNS.join(','));
  const rows = parse(c.stdout, { columns: true }) as Array<Record<string, string>>;
  assert.equal(rows.length, 2);
  assert.equal(rows[1]!.params, '15296552');
  assert.equal(rows[1]!.flops, '3176622952');
  assert.equal(rows[1]!.stage_depths, '2 6 15 2');
  assert.equal(rows[1]!.params_ratio, (15296552 / 25557032).toFixed(4));
  assert.equal(rows[0]!.ref_top1, '76.156');
  assert.equal(rows[0]!.infer_samples_per_sec, '');
});

test('compare shows own results of the same network only: same dataset, size, stem, channels and counts; --configs rows; --out', () => {
  const dir = mkdtempSync(join(tmpdir(), 'regnet-compare-'));
  const res = join(dir, 'results');
  // regnetx_002 as regnet train builds it for CIFAR-10: 32 px, 10 classes, small stem (below 64 px), 3 channels
  const params = summarize(buildModel('regnetx_002', { res: 32, numClasses: 10, stem: 'small' })).params;
  mergeResults(join(res, 'results-cifar10.csv'), [
    { model: 'regnetx_002', img_size: 32, top1: 91.25, top5: 99.5, params, crop_pct: 1, interpolation: 'none' },
    { model: 'regnetx_002', img_size: 64, top1: 93, top5: 99.7, params, crop_pct: 1, interpolation: 'bilinear' },
    { model: 'other', img_size: 32, top1: 50, top5: 80, params: 1, crop_pct: 1, interpolation: 'none' },
  ]);
  // another dataset whose name starts the same, and the 1000-class network's row under ImageNet: never shown for cifar10
  mergeResults(join(res, 'results-cifar100.csv'), [
    { model: 'regnetx_002', img_size: 32, top1: 60, top5: 80, params, crop_pct: 1, interpolation: 'none' },
  ]);
  mergeResults(join(res, 'results-imagenet.csv'), [
    { model: 'regnetx_002', img_size: 224, top1: 68.1, top5: 88, params: 2684792, crop_pct: 0.875, interpolation: 'bicubic' },
  ]);
  const cfg = join(dir, 'configs.csv');
  writeFileSync(cfg, 'id,depth,w0,wa,wm,group_size\nm7,13,24,36.44,2.49,8\n');
  const out = join(dir, 'cmp.json');
  const r = runCli([
    'compare',
    'regnetx_002',
    '--configs',
    cfg,
    '--rows',
    'm7',
    '--dataset',
    'cifar10',
    '--no-bench',
    '--json',
    '--results-dir',
    res,
    '--out',
    out,
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, '');
  const rows = z.array(RowSchema).parse(JSON.parse(readFileSync(out, 'utf8')));
  assert.equal(rows.length, 2);
  assert.deepEqual([rows[0]!.top1, rows[0]!.top5, rows[0]!.results_file, rows[0]!.results_rows], [91.25, 99.5, 'results-cifar10.csv', 1]);
  assert.deepEqual(
    [rows[0]!.dataset, rows[0]!.img_size, rows[0]!.stem, rows[0]!.in_chans, rows[0]!.num_classes],
    ['cifar10', 32, 'small', 3, 10],
  );
  assert.equal(rows[0]!.params, params);
  // the config row has regnetx_002's parameters: the same network, so the same name, counts and results
  assert.equal(rows[1]!.model, 'regnetx_002');
  assert.equal(rows[1]!.params, rows[0]!.params);
  assert.equal(rows[1]!.flops_ratio, 1);
  assert.equal(rows[1]!.top1, 91.25);
  // ImageNet reference numbers belong to ImageNet only
  assert.equal(rows[0]!.ref_top1, null);

  // the old spellings still work (hidden): --config/--row, --res, --format json
  const old = runCli([
    'compare',
    'regnetx_002',
    '--config',
    cfg,
    '--row',
    'm7',
    '--dataset',
    'cifar10',
    '--res',
    '64',
    '--no-bench',
    '--format',
    'json',
    '--results-dir',
    res,
  ]);
  assert.equal(old.code, 0, old.stderr);
  const at64 = JSON.parse(old.stdout);
  // 64 px: the ImageNet stem by the shared rule; the 64 px row has no stem column and the same counts, so it matches
  // (a file's missing identity columns are not checked)
  assert.deepEqual([at64[0].img_size, at64[0].stem, at64[0].top1], [64, 'imagenet', 93]);

  // default: ImageNet at 224, the 1000-class network; the stem named explicitly must match the row's stem column where it has one
  const imagenet = JSON.parse(runCli(['compare', 'regnetx_002', '--no-bench', '--json', '--results-dir', res]).stdout);
  assert.deepEqual([imagenet[0].dataset, imagenet[0].img_size, imagenet[0].top1, imagenet[0].ref_top1], ['imagenet', 224, 68.1, 68.758]);
  const c100 = JSON.parse(runCli(['compare', 'regnetx_002', '--no-bench', '--json', '--dataset', 'cifar100', '--results-dir', res]).stdout);
  // cifar100: 100 classes, so the 10-class row's param_count does not match
  assert.equal(c100[0].num_classes, 100);
  assert.equal(c100[0].top1, null);
});

test("compare --configs FILE --rows I --dataset fashion-mnist --in-chans 1 --img-size 28: numeric flops and top1 of that network's results row", () => {
  const dir = mkdtempSync(join(tmpdir(), 'regnet-compare-'));
  const res = join(dir, 'results');
  mkdirSync(res);
  const cfg = join(dir, 'samples.csv');
  writeFileSync(cfg, 'id,depth,w0,wa,wm,group_size\n2,12,16,20.5,2.3,8\n3,13,24,36.44,2.49,8\n');
  // the networks as train builds them (28 px, 1 channel, small stem, 10 classes), counted by another command
  const d = runCli(['describe', '--configs', cfg, '--img-size', '28', '--in-chans', '1', '--num-classes', '10', '--json']);
  assert.equal(d.code, 0, d.stderr);
  const [other, net] = JSON.parse(d.stdout) as Array<{ model: string; params: number; flops: number }>;
  // results rows with identity columns (as the extended results table writes them): only the first is this network
  const header = 'model,img_size,top1,top1_err,top5,top5_err,param_count,crop_pct,interpolation,flops,acts,stem,in_chans';
  const pc = (net!.params / 1e6).toFixed(2);
  writeFileSync(
    join(res, 'results-fashion-mnist-val200.csv'),
    [
      header,
      `${net!.model},28,14.500,85.500,60.000,40.000,${pc},1.000,none,${net!.flops},1,small,1`,
      `${net!.model},28,55.000,45.000,90.000,10.000,${pc},1.000,none,${net!.flops * 4},1,imagenet,1`,
      `${net!.model},28,66.000,34.000,95.000,5.000,${pc},1.000,none,${net!.flops},1,small,3`,
      `${other!.model},28,70.000,30.000,97.000,3.000,0.10,1.000,none,1,1,small,1`,
    ].join('\n') + '\n',
  );
  writeFileSync(
    join(res, 'results-mnist.csv'),
    `${header}\n${net!.model},28,99.000,1.000,100.000,0.000,${pc},1.000,none,${net!.flops},1,small,1\n`,
  );
  const r = runCli([
    'compare',
    '--configs',
    cfg,
    '--rows',
    '3',
    '--dataset',
    'fashion-mnist',
    '--in-chans',
    '1',
    '--img-size',
    '28',
    '--no-bench',
    '--format',
    'csv',
    '--results-dir',
    res,
  ]);
  assert.equal(r.code, 0, r.stderr);
  const rows = parse(r.stdout, { columns: true }) as Array<Record<string, string>>;
  assert.equal(rows.length, 1);
  const row = rows[0]!;
  assert.deepEqual(Object.keys(row).slice(0, 8), [
    'model',
    'params',
    'flops',
    'acts',
    'infer_samples_per_sec',
    'train_samples_per_sec',
    'top1',
    'top5',
  ]);
  assert.equal(row.model, net!.model);
  assert.equal(Number(row.flops), net!.flops);
  assert.equal(Number(row.params), net!.params);
  assert.equal(Number(row.top1), 14.5);
  assert.equal(Number(row.top5), 60);
  assert.deepEqual(
    [row.stem, row.in_chans, row.img_size, row.num_classes, row.results_file],
    ['small', '1', '28', '10', 'results-fashion-mnist-val200.csv'],
  );
  for (const k of ['params', 'flops', 'acts', 'top1', 'top5']) assert.match(row[k]!, /^\d+(\.\d+)?$/, k);
  // the whole file: --rows absent means every row
  const all = runCli([
    'compare',
    '--configs',
    cfg,
    '--dataset',
    'fashion-mnist',
    '--in-chans',
    '1',
    '--no-bench',
    '--json',
    '--results-dir',
    res,
  ]);
  assert.equal(all.code, 0, all.stderr);
  const both = JSON.parse(all.stdout);
  assert.deepEqual(
    both.map((x: { model: string }) => x.model),
    [other!.model, net!.model],
  );
  assert.equal(both[1].top1, 14.5);
  // the other row records other counts (param_count 0.10, flops 1): another network under that name
  assert.equal(both[0].top1, null);
});

test('compare --plot writes a well-formed SVG with the zoo curves and the compared models', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'regnet-plot-'));
  const f = join(dir, 'acc.svg');
  const r = runCli(['compare', 'resnet50', 'regnetx_032', '--no-bench', '--plot', f]);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(existsSync(f));
  const svg = readFileSync(f, 'utf8');
  assert.match(svg, /^<svg[^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  assert.match(svg, /<\/svg>\s*$/);
  for (const name of ['RegNetX (zoo)', 'RegNetY (zoo)', 'ResNet (zoo)', 'resnet50', 'regnetx_032']) assert.ok(svg.includes(name), name);
  // balanced tags
  const stack: string[] = [];
  for (const m of svg.matchAll(/<(\/?)([a-zA-Z][\w:-]*)[^>]*?(\/?)>/g)) {
    if (m[3]) continue;
    if (m[1]) assert.equal(stack.pop(), m[2]);
    else stack.push(m[2]!);
  }
  assert.deepEqual(stack, []);
  const meta = await sharp(Buffer.from(svg)).metadata();
  assert.equal(meta.format, 'svg');
  assert.ok((meta.width ?? 0) > 100);
});

test('compare --plot off ImageNet 224: own results only, no reference curves, title and axes name dataset and size', () => {
  const dir = mkdtempSync(join(tmpdir(), 'regnet-plot-'));
  const res = join(dir, 'results');
  const params = summarize(buildModel('regnetx_002', { res: 28, numClasses: 10, stem: 'small' })).params;
  mergeResults(join(res, 'results-fashion-mnist.csv'), [
    { model: 'regnetx_002', img_size: 28, top1: 88.5, top5: 99, params, crop_pct: 1, interpolation: 'none' },
  ]);
  const f = join(dir, 'fashion.svg');
  const r = runCli(['compare', 'regnetx_002', 'resnet18', '--dataset', 'fashion-mnist', '--no-bench', '--plot', f, '--results-dir', res]);
  assert.equal(r.code, 0, r.stderr);
  const svg = readFileSync(f, 'utf8');
  assert.ok(!svg.includes('(zoo)'), 'no reference curves');
  assert.ok(!svg.includes('ImageNet'), 'not titled ImageNet');
  assert.match(svg, /fashion-mnist top-1 vs flops at 28x28, 3 channels, small stem/);
  assert.ok(svg.includes('regnetx_002'));
  // resnet18 has no fashion-mnist result: reported, not drawn with an ImageNet number
  assert.match(r.stderr, /plot: no top-1 for resnet18/);
});

test('every reference entry names a source and the table covers the spec values', () => {
  const e = referenceEntries();
  assert.ok(e.length >= 40);
  for (const x of e) assert.ok(x.source.length > 10 && x.top1 > 50 && x.top1 < 100, JSON.stringify(x));
  const get = (m: string, k: string) => e.find((x) => x.model === m && x.kind === k)?.top1;
  assert.equal(get('resnet50', 'original'), 76.156);
  assert.equal(get('resnet50', 'modern'), 80.382);
  assert.equal(get('regnetx_032', 'original'), 78.16);
  assert.equal(get('regnetx_032', 'modern'), 80.916);
  assert.equal(get('regnetx_002', 'original'), 68.758);
  assert.equal(get('resnet18', 'original'), 69.752);
  assert.equal(get('regnety_032', 'original'), 78.902);
  assert.equal(get('regnety_032', 'modern'), 81.948);
});

test('compare measures throughput on an engine (tiny sizes) with ratios to the first model', () => {
  const r = runCli([
    'compare',
    'regnetx_002',
    'resnet18',
    '--engine',
    'wasm',
    '--res',
    '32',
    '--batch',
    '2',
    '--iters',
    '2',
    '--warmup',
    '1',
    '--train',
    '--num-classes',
    '10',
    '--format',
    'json',
    '-q',
  ]);
  assert.equal(r.code, 0, r.stderr);
  const rows = z.array(RowSchema).parse(JSON.parse(r.stdout));
  for (const row of rows) {
    assert.equal(row.engine, 'wasm');
    assert.ok(row.infer_samples_per_sec! > 0);
    assert.ok(row.train_samples_per_sec! > 0);
  }
  assert.equal(rows[0]!.infer_ratio, 1);
  assert.equal(rows[1]!.infer_ratio, rows[1]!.infer_samples_per_sec! / rows[0]!.infer_samples_per_sec!);
  assert.match(r.stderr, /engine: wasm/);
});

test('compare rejects bad input with exit code 2', () => {
  const cases: Array<[string[], RegExp]> = [
    [['compare', 'resnet50', 'regnetx_0032', '--no-bench'], /unknown model 'regnetx_0032'/],
    [['compare', '--no-bench'], /compare needs models/],
    [['compare', 'resnet50', '--dataset', 'imagenet21k', '--no-bench'], /--dataset imagenet21k: give --img-size and --num-classes/],
    [['compare', 'resnet50', '--dataset', 'folder', '--no-bench'], /--dataset folder: give --num-classes/],
    [['compare', 'resnet50', '--stem', 'tiny', '--no-bench'], /--stem/],
    [['compare', 'resnet50', '--rows', '3', '--no-bench'], /--rows needs --configs/],
    [['compare', 'resnet50', 'regnetx_032', '--no-bench', '--plot', 'x.svg', '--plot-y', 'throughput'], /needs the measurement/],
    [['compare', 'resnet50', 'regnetx_032', '--format', 'yaml'], /--format/],
    [['compare', 'resnet50', 'regnetx_032', '--batch', '0'], /--batch/],
  ];
  for (const [args, re] of cases) {
    const r = runCli(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re, args.join(' '));
  }
});
