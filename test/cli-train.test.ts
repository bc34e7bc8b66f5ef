/**
 * `regnet train` / `regnet eval` end to end in a child process: user errors give one line and exit 2,
 * an absurd learning rate ends as `diverged` in runs.csv, Ctrl-C writes a checkpoint and exits 130,
 * and eval --checkpoint reproduces the trained accuracy.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mnistDataDir } from '../src/data/resolve.js';
import { resolveAuto } from '../src/engine/select.js';
import { readCheckpointState } from '../src/train/checkpoint.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
// The train and eval commands on a bare program (independent of which commands the CLI registers).
const DRIVER = `
import { Command } from 'commander';
import { reportError } from './src/cli/index.ts';
import { register as train } from './src/cli/train.ts';
import { register as evalCmd } from './src/cli/eval.ts';
const p = new Command().name('regnet').exitOverride();
train(p); evalCmd(p);
for (const c of p.commands) c.exitOverride();
try { await p.parseAsync(process.argv.slice(1), { from: 'user' }); } catch (e) { process.exitCode = reportError(e); }
`;
const NODE_ARGS = ['--import', 'tsx', '--input-type=module', '-e', DRIVER];

/** The same program in this process (for errors raised before any training starts: no start-up cost). */
async function cliHere(args: string[]) {
  const { Command } = await import('commander');
  const { reportError } = await import('../src/cli/index.js');
  const { register: train } = await import('../src/cli/train.js');
  const { register: evalCmd } = await import('../src/cli/eval.js');
  const p = new Command()
    .name('regnet')
    .exitOverride()
    .configureOutput({ writeErr: () => {}, writeOut: () => {} });
  train(p);
  evalCmd(p);
  for (const c of p.commands) c.exitOverride();
  let stderr = '';
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((chunk: string | Uint8Array) => {
    stderr += chunk.toString();
    return true;
  }) as typeof process.stderr.write;
  let code = 0;
  try {
    await p.parseAsync(args, { from: 'user' });
  } catch (e) {
    code = reportError(e);
  } finally {
    process.stderr.write = write;
  }
  return { code, stderr };
}

function cli(args: string[]) {
  const r = spawnSync(process.execPath, [...NODE_ARGS, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const ENGINE = (await resolveAuto()) === 'torch' ? 'torch' : 'wasm';
// a 3-stage RegNet (widths 8, 16, 32): small enough to train for a few steps in a second
const TINY = ['--depth', '4', '--w0', '8', '--wa', '8', '--wm', '2', '--group-size', '8'];
const COMMON = ['--engine', ENGINE, '--threads', '1', '--progress', 'none', '--seed', '3'];

test('corrupt dataset files: one line naming the file, exit 2', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'regnet-bad-'));
  const src = mnistDataDir();
  for (const f of ['train-labels-idx1-ubyte', 't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte']) copyFileSync(join(src, f), join(dir, f));
  // truncated image file: header says 60000 images
  writeFileSync(join(dir, 'train-images-idx3-ubyte'), readFileSync(join(src, 'train-images-idx3-ubyte')).subarray(0, 5000));
  const r = await cliHere(['train', ...TINY, ...COMMON, '--data-dir', dir, '--results-dir', join(dir, 'res')]);
  assert.equal(r.code, 2, r.stderr);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0]!, /^regnet: error: .*train-images-idx3-ubyte/);
  // not a gzip either
  writeFileSync(join(dir, 'train-images-idx3-ubyte'), Buffer.from([0x1f, 0x8b, 1, 2, 3]));
  const g = await cliHere(['train', ...TINY, ...COMMON, '--data-dir', dir]);
  assert.equal(g.code, 2);
  assert.match(g.stderr, /^regnet: error: .*train-images-idx3-ubyte.*\n$/);
  assert.ok(!existsSync(join(dir, 'res')));
});

test('bad flags and recipes: exit 2 with the reason', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'regnet-bad-'));
  const rf = join(dir, 'r.json');
  writeFileSync(rf, JSON.stringify({ epochs: 1, batchSize: 0, lr: 0.1, weightDecay: 0 }));
  const a = await cliHere(['train', ...TINY, ...COMMON, '--recipe', rf]);
  assert.equal(a.code, 2);
  assert.match(a.stderr, /recipe .*r\.json: batchSize/);
  writeFileSync(rf, JSON.stringify({ epochs: 1, batchSize: 8, lr: 0.1, weightDecay: 0, lrr: 1 }));
  assert.match((await cliHere(['train', ...TINY, ...COMMON, '--recipe', rf])).stderr, /lrr/);
  const b = await cliHere(['train', ...TINY, ...COMMON, '--recipe', 'nosuch']);
  assert.equal(b.code, 2);
  assert.match(b.stderr, /--recipe: 'nosuch' is neither a built-in recipe \(digits, cifar, quick, imagenet\)/);
  const c = await cliHere(['train', ...TINY, ...COMMON, '--dataset', 'svhn']);
  assert.equal(c.code, 2);
  assert.match(c.stderr, /--dataset: 'svhn' is not one of/);
  const d = await cliHere(['train', '--resume', '--checkpoint', join(dir, 'none'), ...COMMON]);
  assert.equal(d.code, 2);
  assert.match(d.stderr, /no checkpoint in/);
  const e = await cliHere(['eval', '--checkpoint', dir, '--progress', 'none']);
  assert.equal(e.code, 2);
  assert.match(e.stderr, /no state\.json/);
});

test('an absurd learning rate diverges: status diverged in runs.csv, no results row, exit 1', () => {
  const dir = mkdtempSync(join(tmpdir(), 'regnet-div-'));
  const r = cli([
    'train',
    ...TINY,
    ...COMMON,
    '--lr',
    '1e12',
    '--warmup-epochs',
    '0',
    '--steps',
    '30',
    '--batch-size',
    '16',
    '--limit-train',
    '480',
    '--results-dir',
    dir,
    '--json',
  ]);
  assert.equal(r.code, 1, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.status, 'diverged');
  assert.equal(j.top1, null); // NaN in JSON
  assert.ok(j.steps < 30, `diverged only at step ${j.steps}`);
  const runs = readFileSync(join(dir, 'runs.csv'), 'utf8').trim().split('\n');
  assert.equal(runs.length, 2);
  assert.match(runs[1]!, /,(nan|inf|-inf),nan,nan,diverged,/);
  assert.ok(!existsSync(join(dir, 'results-mnist.csv')));
});

test('train writes a checkpoint; eval --checkpoint gives the same accuracy', () => {
  const dir = mkdtempSync(join(tmpdir(), 'regnet-ev-'));
  const ck = join(dir, 'ck');
  const t = cli([
    'train',
    ...TINY,
    ...COMMON,
    '--steps',
    '20',
    '--batch-size',
    '32',
    '--lr',
    '0.4',
    '--limit-train',
    '640',
    '--limit-val',
    '300',
    '--checkpoint',
    ck,
    '--results-dir',
    dir,
    '--json',
  ]);
  assert.equal(t.code, 0, t.stderr);
  const tj = JSON.parse(t.stdout);
  assert.equal(tj.status, 'ok');
  const e = cli(['eval', '--checkpoint', ck, '--engine', ENGINE, '--progress', 'none', '--json', '--batch-size', '64']);
  assert.equal(e.code, 0, e.stderr);
  const ej = JSON.parse(e.stdout);
  assert.equal(ej.n, 300);
  assert.equal(ej.top1, tj.top1);
  assert.equal(ej.top5, tj.top5);
  assert.equal(ej.globalStep, 20);
  // naming the wrong model is refused
  const w = cli(['eval', 'resnet18', '--checkpoint', ck, '--progress', 'none']);
  assert.equal(w.code, 2);
  assert.match(w.stderr, /holds regnetx_d1-1-2_w8-16-32_g8, not resnet18/);
  // a finished run can't be resumed into more steps with other settings
  const r = cli(['train', '--resume', '--checkpoint', ck, ...COMMON, '--lr', '0.3']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /different lr/);
});

test('--resume of a finished checkpoint: "already finished", the saved result, no new runs.csv or results row', () => {
  const dir = mkdtempSync(join(tmpdir(), 'regnet-fin-'));
  const ck = join(dir, 'ck');
  const t = cli([
    'train',
    ...TINY,
    ...COMMON,
    '--steps',
    '4',
    '--batch-size',
    '8',
    '--limit-train',
    '32',
    '--limit-val',
    '40',
    '--checkpoint',
    ck,
    '--results-dir',
    dir,
    '--json',
  ]);
  assert.equal(t.code, 0, t.stderr);
  const trained = JSON.parse(t.stdout);
  const runs = readFileSync(join(dir, 'runs.csv'), 'utf8');
  const results = readFileSync(join(dir, 'results-mnist-val40.csv'), 'utf8');
  const r = cli(['train', '--resume', '--checkpoint', ck, '--progress', 'none', '--results-dir', dir, '--json']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /already finished \(step 4\)/);
  const again = JSON.parse(r.stdout);
  for (const k of ['status', 'top1', 'top5', 'steps', 'epochs', 'finalLoss', 'trainSeconds', 'params', 'engine'])
    assert.deepEqual(again[k], trained[k], k);
  assert.equal(readFileSync(join(dir, 'runs.csv'), 'utf8'), runs, 'no second runs.csv row');
  assert.equal(readFileSync(join(dir, 'results-mnist-val40.csv'), 'utf8'), results);
  // other test images: evaluated again and merged into their results file, still no new training run
  const v = cli(['train', '--resume', '--checkpoint', ck, '--progress', 'none', '--results-dir', dir, '--limit-val', '20']);
  assert.equal(v.code, 0, v.stderr);
  assert.doesNotMatch(v.stderr, /already finished/);
  assert.ok(existsSync(join(dir, 'results-mnist-val20.csv')));
  assert.equal(readFileSync(join(dir, 'runs.csv'), 'utf8'), runs);
});

for (const sig of ['SIGINT', 'SIGTERM'] as const)
  test(`${sig} (Ctrl-C, preemption): the current step finishes, a checkpoint is written, exit 130; resume keeps the saved settings`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'regnet-int-'));
    const ck = join(dir, 'ck');
    mkdirSync(dir, { recursive: true });
    const args = [
      'train',
      ...TINY,
      ...COMMON,
      '--progress',
      'plain',
      '--steps',
      '4000',
      '--batch-size',
      '16',
      '--limit-val',
      '100',
      '--checkpoint',
      ck,
      '--results-dir',
      dir,
    ];
    const child = spawn(process.execPath, [...NODE_ARGS, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    const code: number = await new Promise((resolve) => {
      child.stderr.on('data', (d: Buffer) => {
        const before = err;
        err += d.toString();
        // the handler is installed before the engine line is printed; let a few steps run first
        if (!before.includes('engine:') && err.includes('engine:')) setTimeout(() => child.kill(sig), 1500);
      });
      child.on('exit', (c) => resolve(c ?? -1));
    });
    assert.equal(code, 130, err);
    assert.match(err, /interrupted at global step \d+\/4000; checkpoint written/);
    const st = readCheckpointState(ck);
    assert.equal(st.status, 'interrupted');
    assert.ok(st.globalStep < 4000);
    assert.ok(!existsSync(join(dir, 'runs.csv')), 'an interrupted run is not a result');
    // resume with a shorter run is refused (the schedule would change); the same settings are taken from the checkpoint
    const r = cli([
      'train',
      '--resume',
      '--checkpoint',
      ck,
      '--engine',
      ENGINE,
      '--threads',
      '1',
      '--progress',
      'none',
      '--stem',
      'imagenet',
    ]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /different stem/);
  });
