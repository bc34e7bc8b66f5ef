import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from './helpers/cli.js';

test('describe by name and by parameters give the same JSON numbers', () => {
  const a = runCli(['describe', 'regnetx_032', '--json']);
  assert.equal(a.code, 0, a.stderr);
  const ja = JSON.parse(a.stdout);
  assert.equal(ja.params, 15296552);
  assert.equal(ja.flops, 3176622952);
  assert.deepEqual(ja.stage_widths, [96, 192, 432, 1008]);
  assert.deepEqual(ja.stage_groups, [2, 4, 9, 21]);
  for (const k of [
    'params',
    'flops',
    'macs',
    'acts',
    'num_stages',
    'total_stages',
    'stage_widths',
    'stage_depths',
    'stage_group_widths',
    'stage_groups',
  ]) {
    assert.ok(k in ja, k);
  }
  const b = runCli(['describe', '--depth', '25', '--w0', '88', '--wa', '26.31', '--wm', '2.25', '--group-size', '48', '--json']);
  assert.equal(b.code, 0, b.stderr);
  const jb = JSON.parse(b.stdout);
  assert.equal(jb.params, ja.params);
  assert.equal(jb.acts, ja.acts);
  const t = runCli(['describe', 'regnetx_032']);
  assert.match(t.stdout, /15,296,552/);
});

test('describe --configs reads a CSV (extra columns ignored), any stage count', () => {
  const dir = mkdtempSync(join(tmpdir(), 'regnet-cli-'));
  const f = join(dir, 'c.csv');
  writeFileSync(f, 'depth,w0,wa,wm,group_size,note\n13,24,36.44,2.49,8,x\n2,8,0,2,8,three\n22,48,27.89,2.09,8,y\n');
  const r = runCli(['describe', '--configs', f, '--json', '--res', '64', '--num-classes', '10']);
  assert.equal(r.code, 0, r.stderr);
  const rows = JSON.parse(r.stdout);
  assert.equal(rows.length, 3);
  assert.equal(rows[1].num_stages, 1);
  const g = join(dir, 'bad.csv');
  writeFileSync(g, 'depth,w0,wa,wm,group_size\n13,24,abc,2.49,8\n');
  const e = runCli(['describe', '--configs', g]);
  assert.equal(e.code, 2);
  assert.match(e.stderr, /row 1.*wa must be a number/);
  assert.doesNotMatch(e.stderr, /at .*\.ts/);
});

test('sample writes the documented CSV, deterministic per seed, and reads back', () => {
  const dir = mkdtempSync(join(tmpdir(), 'regnet-cli-'));
  const f = join(dir, 's.csv');
  const r = runCli(['sample', '--n', '6', '--seed', '3', '--flops', '0.4G:600M', '--out', f]);
  assert.equal(r.code, 0, r.stderr);
  const text = readFileSync(f, 'utf8');
  assert.equal(
    text.split('\n')[0],
    'id,model,depth,w0,wa,wm,group_size,bottle_ratio,se_ratio,num_stages,stage_widths,stage_depths,stage_group_widths,params,flops,acts',
  );
  const again = runCli(['sample', '--n', '6', '--seed', '3', '--flops', '4e8:600M']);
  assert.equal(again.stdout, text);
  const d = runCli(['describe', '--configs', f, '--json']);
  const rows = JSON.parse(d.stdout);
  const lines = text
    .trim()
    .split('\n')
    .slice(1)
    .map((l) => l.split(','));
  rows.forEach((row: { model: string; flops: number }, i: number) =>
    assert.deepEqual([row.model, row.flops], [lines[i]![1], Number(lines[i]![14])]),
  );
});

test('bad input: one line, exit 2, no stack', () => {
  const cases: Array<[string[], RegExp]> = [
    [['describe', 'regnetx_03'], /unknown model 'regnetx_03'.*regnetx_032/],
    [['describe', '--depth', '10', '--w0', '20', '--wa', '1', '--wm', '2', '--group-size', '8'], /w0=20/],
    [['describe', '--depth', '10', '--w0', '24'], /missing --wa, --wm, --group-size/],
    [['sample', '--flops', 'lots'], /--flops/],
    [['sample', '--space', 'nope'], /unknown space 'nope'/],
    [['sample', '--n', '0'], /--n must be an integer/],
    [['models', '--format', 'xml'], /--format must be one of table, csv, json/],
    [['models', 'zzz*'], /no model matches/],
  ];
  for (const [args, re] of cases) {
    const r = runCli(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re);
    assert.ok(r.stderr.trim().split('\n').length <= 2, r.stderr);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  }
});

test('models lists the zoo with a glob', () => {
  const r = runCli(['models', 'regnetx_*', '--format', 'json']);
  assert.equal(r.code, 0, r.stderr);
  const rows = JSON.parse(r.stdout);
  assert.equal(rows.length, 13);
  assert.ok(rows.every((x: { model: string }) => x.model.startsWith('regnetx_')));
  const c = runCli(['models', 'resnet5*', '--format', 'csv', '--res', '128']);
  assert.match(c.stdout, /^model,family,res,params,macs,flops,acts/);
});

test('sample with fewer matches than --n writes what it found and says so on stderr', () => {
  const dir = mkdtempSync(join(tmpdir(), 'regnet-cli-'));
  const f = join(dir, 'few.csv');
  const r = runCli(['sample', '--n', '50', '--seed', '1', '--flops', '400M:600M', '--max-draws', '300', '--out', f]);
  assert.equal(r.code, 0, r.stderr);
  const rows = readFileSync(f, 'utf8').trim().split('\n').length - 1;
  assert.ok(rows > 0 && rows < 50, String(rows));
  assert.match(r.stderr, new RegExp(`only ${rows} of --n 50 samples found in 300 draws .*; wrote ${rows} to `));
  const none = runCli(['sample', '--n', '5', '--flops', '1:2', '--max-draws', '300', '--out', join(dir, 'none.csv')]);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /^regnet: error: only 0 of --n 5/);
});

test('one vocabulary: timm flag names, old spellings hidden but equal, --out a file and --out-dir a folder', () => {
  const help = (cmd: string) => runCli([cmd, '--help']).stdout.replace(/\s+/g, ' ');
  for (const cmd of ['models', 'describe', 'bench', 'compare', 'train', 'sample']) {
    const h = help(cmd);
    assert.match(h, /--img-size <n>/, cmd);
    assert.doesNotMatch(h, /--(res|batch|config|row|quiet)(?![\w-])/, cmd);
  }
  for (const cmd of ['models', 'describe', 'bench', 'compare', 'train', 'eval', 'predict'])
    assert.match(help(cmd), /default: small below 64 px, else imagenet/, cmd);
  for (const cmd of ['sweep', 'analyze']) {
    assert.match(help(cmd), /--out-dir <dir>/, cmd);
    assert.doesNotMatch(help(cmd), /--out </, cmd);
  }
  const json = (args: string[]) => {
    const r = runCli(args);
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    return JSON.parse(r.stdout);
  };
  assert.deepEqual(
    json(['models', 'resnet18', '--res', '32', '--format', 'json']),
    json(['models', 'resnet18', '--img-size', '32', '--json']),
  );
  assert.deepEqual(
    json(['describe', 'regnetx_002', '--res', '48', '--json']),
    json(['describe', 'regnetx_002', '--img-size', '48', '--json']),
  );
});

test('one default-stem rule: small below 64 px, else imagenet, in describe, models and train alike', async () => {
  const { defaultStem } = await import('../src/arch/spec.js');
  assert.deepEqual([8, 28, 32, 63, 64, 224].map(defaultStem), ['small', 'small', 'small', 'small', 'imagenet', 'imagenet']);
  const flops = (args: string[]) => JSON.parse(runCli(args).stdout).flops as number;
  // resnet18 at 32 px: the 3x3 stride-1 stem costs far more flops than the 7x7 stride-2 stem + pool
  assert.equal(
    flops(['describe', 'resnet18', '--img-size', '32', '--json']),
    flops(['describe', 'resnet18', '--img-size', '32', '--stem', 'small', '--json']),
  );
  assert.notEqual(
    flops(['describe', 'resnet18', '--img-size', '32', '--json']),
    flops(['describe', 'resnet18', '--img-size', '32', '--stem', 'imagenet', '--json']),
  );
  assert.equal(
    flops(['describe', 'resnet18', '--img-size', '64', '--json']),
    flops(['describe', 'resnet18', '--img-size', '64', '--stem', 'imagenet', '--json']),
  );
  const { resolveConfig } = await import('../src/train/config.js');
  const ds = { name: 'mnist', height: 28, width: 28, channels: 1, numClasses: 10 } as Parameters<typeof resolveConfig>[1];
  const req = { model: { name: 'x' }, dataset: 'mnist', engine: 'wasm', seed: 0 } as unknown as Parameters<typeof resolveConfig>[0];
  assert.equal(resolveConfig(req, ds, () => 100).stem, defaultStem(28));
  assert.equal(resolveConfig({ ...req, overrides: { res: 64 } }, ds, () => 100).stem, defaultStem(64));
});
