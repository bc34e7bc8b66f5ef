import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
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
  own_top1: z.array(z.object({ top1: z.number(), dataset: z.string(), img_size: z.number(), file: z.string() })),
});

test('compare --no-bench: exact numbers, structure, ratios and reference top-1 (json)', () => {
  const r = runCli(['compare', 'resnet50', 'regnetx_032', 'regnety_032', '--no-bench', '--format', 'json']);
  assert.equal(r.code, 0, r.stderr);
  const rows = z.array(RowSchema).parse(JSON.parse(r.stdout));
  assert.deepEqual(rows.map((x) => x.model), ['resnet50', 'regnetx_032', 'regnety_032']);
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
  assert.deepEqual(rows.map((x) => [x.ref_top1, x.ref_top1_modern]), [[76.156, 80.382], [78.16, 80.916], [78.902, 81.948]]);
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
  const lines = m.stdout.trim().split('\n').filter((l) => l.startsWith('|'));
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

test('compare reads the user results-*.csv, adds --config rows, writes --out atomically', () => {
  const dir = mkdtempSync(join(tmpdir(), 'regnet-compare-'));
  const res = join(dir, 'results');
  mergeResults(join(res, 'results-cifar10.csv'), [
    { model: 'regnetx_002', img_size: 32, top1: 91.25, top5: 99.5, params: 2684792, crop_pct: 1, interpolation: 'bilinear' },
    { model: 'other', img_size: 32, top1: 50, top5: 80, params: 1, crop_pct: 1, interpolation: 'bilinear' },
  ]);
  const cfg = join(dir, 'configs.csv');
  writeFileSync(cfg, 'id,depth,w0,wa,wm,group_size\nm7,13,24,36.44,2.49,8\n');
  const out = join(dir, 'cmp.json');
  const r = runCli(['compare', 'regnetx_002', '--config', cfg, '--row', 'm7', '--no-bench', '--format', 'json', '--results-dir', res, '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, '');
  const rows = JSON.parse(readFileSync(out, 'utf8'));
  assert.equal(rows.length, 2);
  assert.deepEqual(rows[0].own_top1, [{ top1: 91.25, img_size: 32, file: 'results-cifar10.csv', dataset: 'cifar10' }]);
  // the config row has regnetx_002's parameters: the same network, so the same name and reference numbers
  assert.equal(rows[1].model, 'regnetx_002');
  assert.equal(rows[1].params, rows[0].params);
  assert.equal(rows[1].flops_ratio, 1);
  assert.equal(rows[1].ref_top1, 68.758);
  assert.equal(rows[0].ref_top1, 68.758);
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
  const r = runCli(['compare', 'regnetx_002', 'resnet18', '--engine', 'wasm', '--res', '32', '--batch', '2', '--iters', '2', '--warmup', '1', '--train', '--num-classes', '10', '--format', 'json', '-q']);
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
    [['compare', 'resnet50', '--no-bench'], /at least two models/],
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
