/**
 * `regnet predict MODEL --weights FILE --images PATH...`: logits on photographs equal PyTorch's
 * (torchvision resnet18 with the same weights, on PIL + torchvision preprocessing of the same files).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { register } from '../src/cli/predict.js';
import { imagenetClasses } from '../src/data/imagenet-classes.js';
import { topK } from '../src/cli/predict-images.js';
import { FIXTURES, findPython, timmReference, torchSkip, type TimmReference } from './helpers/fixtures.js';
import { tempDirUntilExit } from './helpers/tmp.js';

const X002 = timmReference('regnetx_002') as TimmReference;
const resnet18 = timmReference('resnet18');
const python = findPython(['PIL', 'torchvision', 'numpy']);
const tmp = tempDirUntilExit('predict-img-');

async function predict(args: string[]): Promise<string> {
  const program = new Command().exitOverride();
  const chunks: string[] = [];
  register(program, (t) => chunks.push(t));
  for (const c of program.commands) c.exitOverride();
  await program.parseAsync(['predict', ...args], { from: 'user' });
  return chunks.join('');
}

function run(args: string[]): { status: number | null; stderr: string } {
  const r = spawnSync(python!, [join(FIXTURES, 'pil_reference.py'), ...args], { encoding: 'utf8' });
  if (r.status !== 0 && r.status !== 3) throw new Error(`pil_reference.py ${args[0]} failed: ${r.stderr}`);
  return r;
}

/** A folder of a few photographs (landscape, portrait, grey, CMYK, RGBA), or why there is none. */
function photos(): { dir: string; files: string[] } | { skip: string } {
  if ('skip' in resnet18) return resnet18;
  if (!python) return { skip: 'needs python3 with PIL, torchvision and numpy (optional: apt-get install python3-pil python3-torchvision)' };
  const all = join(tmp, 'all');
  const r = run(['preprocess', all, '[]']);
  if (r.status === 3) return { skip: r.stderr.trim() };
  const dir = join(tmp, 'photos');
  mkdirSync(join(dir, 'sub'), { recursive: true });
  const names = ['rocket.jpg', 'coffee_portrait.jpg', 'camera_grey.png', 'astronaut_cmyk.jpg', 'sub/chelsea_rgba.png'];
  for (const n of names) copyFileSync(join(all, n.replace('sub/', '')), join(dir, n));
  return { dir, files: names.map((n) => join(dir, n)).sort() };
}

const set = photos();
const skip = 'skip' in set ? set.skip : false;

interface Out {
  model: string;
  img_size: number;
  interpolation: string;
  images: Array<{ file: string; logits: number[]; top5: Array<{ index: number; synset?: string; name?: string; prob: number }> }>;
}

for (const engine of ['torch', 'wasm'] as const) {
  test(
    `predict --images (${engine}) gives PyTorch's resnet18 logits on photographs within 1e-5 of the largest logit`,
    { skip: skip || (engine === 'torch' && torchSkip()) },
    async (t) => {
      const { dir, files } = set as { dir: string; files: string[] };
      const ref = resnet18 as TimmReference;
      const refFile = join(tmp, 'ref-logits.json');
      run(['logits', ref.weights, refFile, '224', '0.875', 'bicubic', ...files]);
      const want = JSON.parse(readFileSync(refFile, 'utf8')) as Record<string, number[]>;
      const args = [
        'resnet18',
        '--weights',
        ref.weights,
        '--images',
        dir,
        '--img-size',
        '224',
        '--crop-pct',
        '0.875',
        '--interpolation',
        'bicubic',
        '--json',
        '--engine',
        engine,
        '--batch',
        '2',
      ];
      const out = JSON.parse(await predict(args)) as Out;
      assert.equal(out.model, 'resnet18');
      assert.deepEqual(
        out.images.map((i) => i.file),
        files,
        'folders are walked in sorted order, sub-folders included',
      );
      const names = imagenetClasses();
      for (const img of out.images) {
        const w = want[img.file]!;
        let d = 0,
          m = 0;
        for (let j = 0; j < w.length; j++) {
          d = Math.max(d, Math.abs(img.logits[j]! - w[j]!));
          m = Math.max(m, Math.abs(w[j]!));
        }
        t.diagnostic(
          `${img.file.slice(dir.length + 1)}: max |logit error| ${d.toExponential(2)} (largest logit ${m.toFixed(3)}, relative ${(d / m).toExponential(2)})`,
        );
        assert.ok(d <= 1e-5 * m, `${img.file}: logit error ${d} vs largest logit ${m}`);
        const order = w
          .map((v, j) => [v, j] as const)
          .sort((a, b) => b[0] - a[0] || a[1] - b[1])
          .slice(0, 5)
          .map((p) => p[1]);
        assert.deepEqual(
          img.top5.map((c) => c.index),
          order,
        );
        for (const c of img.top5) {
          assert.equal(c.synset, names.synsets[c.index]);
          assert.equal(c.name, names.names[c.index]);
        }
      }
    },
  );
}

test('predict --images prints the top-5 per file as text; --out writes the logits', { skip }, async () => {
  const { files } = set as { dir: string; files: string[] };
  const ref = resnet18 as TimmReference;
  const text = await predict([
    'resnet18',
    '--weights',
    ref.weights,
    '--images',
    files[0]!,
    files[1]!,
    '--img-size',
    '64',
    '--engine',
    'wasm',
  ]);
  const lines = text.trim().split('\n');
  assert.equal(lines.length, 12);
  assert.equal(lines[0], files[0]);
  assert.match(lines[1]!, /^ +\d+ {2}\d\.\d{4} {2}.+ \(n\d{8}\)$/);
  const file = join(tmp, 'l.safetensors');
  assert.match(
    await predict(['resnet18', '--weights', ref.weights, '--images', files[0]!, '--img-size', '64', '--engine', 'wasm', '--out', file]),
    /wrote logits \[1, 1000\]/,
  );
});

test('topK: largest first, ties at the smaller index, softmax probabilities; ImageNet names for 1000 classes only', () => {
  const small = topK([0, 2, 2, -1, 5, 1], 5);
  assert.deepEqual(
    small.map((c) => c.index),
    [4, 1, 2, 5, 0],
  );
  assert.equal(small[0]!.name, undefined);
  const z = [0, 2, 2, -1, 5, 1].reduce((a, v) => a + Math.exp(v), 0);
  assert.ok(Math.abs(small[0]!.prob - Math.exp(5) / z) < 1e-12);
  const row = new Float32Array(1000);
  row[0] = 3;
  row[999] = 4;
  const big = topK(row, 5);
  assert.deepEqual(
    big.slice(0, 3).map((c) => [c.index, c.synset, c.name]),
    [
      [999, 'n15075141', 'toilet tissue, toilet paper, bathroom tissue'],
      [0, 'n01440764', 'tench, Tinca tinca'],
      [1, 'n01443537', 'goldfish, Carassius auratus'],
    ],
  );
});

test('predict: --input or --images (one of them); missing, empty and undecodable paths are usage errors', async () => {
  const w = ['regnetx_002', '--weights', X002.weights, '--engine', 'wasm'];
  await assert.rejects(predict(w), /give either --input FILE.safetensors or --images PATH/);
  await assert.rejects(predict([...w, '--input', X002.io, '--images', tmp]), /give either --input/);
  await assert.rejects(predict([...w, '--images', join(tmp, 'nope.jpg')]), /nope\.jpg: no such file or folder/);
  const empty = join(tmp, 'empty');
  mkdirSync(empty, { recursive: true });
  await assert.rejects(predict([...w, '--images', empty]), /no \.jpg\/\.jpeg\/\.png images/);
  const bad = join(tmp, 'bad.jpg');
  writeFileSync(bad, 'not a jpeg');
  await assert.rejects(predict([...w, '--images', bad, '--img-size', '32']), /bad\.jpg: cannot decode image/);
  await assert.rejects(
    predict([...w, '--images', bad, '--interpolation', 'lanczos']),
    /--interpolation must be one of bicubic, bilinear, nearest/,
  );
});
