/**
 * The README runs as written: every `regnet ...` line of its ```sh blocks is run, in order, in one temp
 * folder (the tour builds on its own outputs: samples.csv, ck/3, runs/x), through
 * `node --import tsx src/cli/main.ts` with the same arguments, and must exit 0. Lines that would train or
 * measure for long get small limits appended (LIMITS: later flags win over the README's). Files the
 * README assumes (timm weights, an input batch, an ImageNet-style folder) are generated small; lines
 * that need an optional part that is missing here (the torch addon, Fashion-MNIST) are skipped, saying why.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { initWeights } from '../src/arch/init.js';
import { buildModel } from '../src/arch/zoo.js';
import { fashionMnistDir } from '../src/data/resolve.js';
import { writeTimmCheckpoint } from '../src/io/timm-weights.js';
import { FIXTURES, torchSkip } from './helpers/fixtures.js';
import { ROOT, runCli } from './helpers/cli.js';
import { readmeCommands, shellWords } from './helpers/readme.js';

/** Flags appended where a README line would train or measure for long; the last occurrence of a flag wins. */
const LIMITS: Array<{ match: RegExp; add: string[] }> = [
  // the same on every train line, so `--resume` finds the first run's settings
  {
    match: /^regnet train\b/,
    add: ['--epochs', '1', '--limit-train', '32', '--limit-val', '16', '--batch-size', '16', '--threads', '1', '--progress', 'none'],
  },
  { match: /^regnet eval .*--checkpoint/, add: ['--threads', '1', '--progress', 'none'] },
  { match: /^regnet eval .*--weights/, add: ['--threads', '1', '--progress', 'none'] },
  { match: /^regnet compare (?!.*--no-bench)/, add: ['--iters', '1', '--warmup', '0', '--batch-size', '2', '--threads', '1'] },
  { match: /^regnet bench\b/, add: ['--iters', '1', '--warmup', '0', '--batch-size', '4', '--threads', '1'] },
  { match: /^regnet sweep\b/, add: ['--n', '2', '--steps', '1', '--limit-train', '16', '--limit-val', '16'] },
  { match: /^regnet analyze\b/, add: ['--bootstrap', '50'] },
];

/** Why a line cannot run here (an optional part is missing), or undefined. */
function skipReason(text: string): string | undefined {
  const torch = torchSkip();
  if (torch && /--engine torch/.test(text)) return torch;
  // the tour's checkpoint ck/3, its results and the sweeps' runs/ all come from Fashion-MNIST
  if (!fashionMnistDir() && /fashion|ck\/3|runs\//.test(text))
    return 'Fashion-MNIST is not installed (Debian package dataset-fashion-mnist)';
  return undefined;
}

/** Extra arguments for this machine: the sweep configs name the torch engine, wasm stands in without it. */
function engineFallback(text: string): string[] {
  return torchSkip() && /^regnet sweep\b/.test(text) ? ['--engine', 'wasm'] : [];
}

/** Extra checks on a line's output, beyond exit 0. */
const CHECKS: Array<{ match: RegExp; check: (stdout: string) => void }> = [
  // the network trained by the tour, compared as trained: its own top-1 is found
  {
    match: /^regnet compare --configs samples\.csv --rows 3 --dataset fashion-mnist/,
    check: (out) => assert.match(out, /top1 own results\s+\d+\.\d{3}/),
  },
  {
    match: /^regnet compare resnet50 regnetx_032\s*(#|$)/,
    check: (out) => assert.match(out, /25,557,032\s+15,296,552[\s\S]*4,089,185,256\s+3,176,622,952/),
  },
  {
    match: /^regnet predict .*--input .*--json/,
    check: (out) => assert.equal((JSON.parse(out) as { logits: number[][] }).logits.length, 2),
  },
];

/** The files the README's lines assume: timm weights, an input batch, an ImageNet-style val folder. */
async function provideInputs(dir: string): Promise<void> {
  copyFileSync(join(FIXTURES, 'timm-weights', 'regnetx_002.safetensors'), join(dir, 'model.safetensors'));
  // tensor 'input' [2, 3, 224, 224] (and the reference logits, unused here)
  copyFileSync(join(FIXTURES, 'timm-weights', 'regnetx_002.io.safetensors'), join(dir, 'batch.safetensors'));
  writeTimmCheckpoint(join(dir, 'regnetx_032.safetensors'), initWeights(buildModel('regnetx_032'), 0));
  writeTimmCheckpoint(join(dir, 'resnet18.safetensors'), initWeights(buildModel('resnet18'), 0));
  const image = (seed: number) => {
    const pixels = Buffer.alloc(48 * 40 * 3, seed % 256).map((v, k) => (v + k * 7) % 256);
    return sharp(pixels, { raw: { width: 48, height: 40, channels: 3 } });
  };
  // ImageNet layout (train/ and val/ of wnid folders), a folder of photos and one photo
  for (const split of ['train', 'val']) {
    for (const [c, cls] of ['n01440764', 'n01443537'].entries()) {
      const folder = join(dir, 'imagenet', split, cls);
      mkdirSync(folder, { recursive: true });
      for (let i = 0; i < 2; i++)
        await image(c * 97 + i * 31)
          .png()
          .toFile(join(folder, `img${i}.png`));
    }
  }
  mkdirSync(join(dir, 'photos'));
  await image(5)
    .jpeg()
    .toFile(join(dir, 'photos', 'a.jpg'));
  await image(9).jpeg().toFile(join(dir, 'cat.jpg'));
}

test('README: the command lines are found and parsed', () => {
  const cmds = readmeCommands(readFileSync(join(ROOT, 'README.md'), 'utf8'));
  assert.ok(cmds.length >= 20, String(cmds.length));
  assert.deepEqual(shellWords(`regnet models 'regnetx_*'   # the zoo`), ['regnet', 'models', 'regnetx_*']);
  assert.deepEqual(shellWords('regnet a "b c" d#e'), ['regnet', 'a', 'b c', 'd#e']);
  // the first command after the install line is the main job
  assert.deepEqual(cmds[0]!.args, ['compare', 'resnet50', 'regnetx_032']);
});

test('README: every regnet line runs as written (small limits appended), exit 0', async (t) => {
  const cmds = readmeCommands(readFileSync(join(ROOT, 'README.md'), 'utf8'));
  const dir = mkdtempSync(join(tmpdir(), 'regnet-readme-'));
  await provideInputs(dir);
  const seen = new Map<string, number>();
  for (const cmd of cmds) {
    const key = cmd.args.join('\u0000');
    const first = seen.get(key);
    if (first === undefined) seen.set(key, cmd.line);
    const reason = first !== undefined ? `the same command as README.md:${first}` : skipReason(cmd.text);
    await t.test(`README.md:${cmd.line} ${cmd.text.replace(/\s+#.*$/, '')}`, { skip: reason }, () => {
      const extra = LIMITS.filter((l) => l.match.test(cmd.text)).flatMap((l) => l.add);
      const args = [...cmd.args, ...extra, ...engineFallback(cmd.text)];
      const r = runCli(args, { cwd: dir });
      assert.equal(r.code, 0, `regnet ${args.join(' ')}\n${r.stderr}`);
      for (const c of CHECKS) if (c.match.test(cmd.text)) c.check(r.stdout);
    });
  }
});
