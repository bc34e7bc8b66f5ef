/**
 * Mixed precision and channels-last on the torch engine:
 * - the gradient scaler's bookkeeping (pure: backoff on inf, growth after N good steps) and the --amp
 *   dtype mapping, without the addon;
 * - with the addon: bf16 autocast logits vs float32 and vs PyTorch's own torch.autocast('cpu', bfloat16)
 *   on torchvision's resnet18 (python3, optional); a few bf16 training steps vs float32; channels-last vs
 *   NCHW (logits, loss, gradients); the scaler inside trainStep (an overflowing scale skips the update,
 *   halves, and the first good step equals an unscaled float32 step);
 * - the CLI: one-line refusals (exit 2, nothing written) and timm-style benchmark file names.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { initWeights } from '../src/arch/init.js';
import { paramSpecs } from '../src/arch/params.js';
import type { WeightMap } from '../src/arch/weights.js';
import { buildModel } from '../src/arch/zoo.js';
import { AmpContext, GradScaler, resolveAmp, SCALER_STATE_KEY } from '../src/engine/torch/amp.js';
import { createTorchEngine } from '../src/engine/torch/engine.js';
import { torchAddon } from '../src/engine/torch/native.js';
import type { CompiledNet, SgdOptions } from '../src/engine/types.js';
import { readCsv } from '../src/results/csv.js';
import { benchCsvName, mergeResults } from '../src/results/timm.js';
import { precisionColumn } from '../src/train/eval-checkpoint.js';
import { UsageError } from '../src/util/errors.js';
import { Rng } from '../src/util/rng.js';
import { runCli } from './helpers/cli.js';
import { findPython, torchSkip } from './helpers/fixtures.js';
import { maxRel } from './helpers/numeric.js';

const skip = torchSkip();
if (skip) console.log(`# skipping torch amp/channels-last tests: ${skip}`);
const python = skip ? null : findPython(['torch', 'torchvision', 'numpy']);

describe('grad scaler and --amp mapping (no addon needed)', () => {
  it('an inf/NaN step halves the scale and resets growth; growthInterval good steps double it', () => {
    const s = new GradScaler({ initScale: 1024, growthInterval: 3 });
    assert.equal(s.scale, 1024);
    s.update(false);
    s.update(false);
    assert.deepEqual(s.state, { scale: 1024, growthTracker: 2 });
    s.update(true); // overflow: back off, the good-step count starts again
    assert.deepEqual(s.state, { scale: 512, growthTracker: 0 });
    s.update(false);
    s.update(false);
    assert.equal(s.scale, 512);
    s.update(false); // third good step in a row
    assert.deepEqual(s.state, { scale: 1024, growthTracker: 0 });
    s.update(true);
    s.update(true);
    assert.equal(s.scale, 256);
    s.state = { scale: 8, growthTracker: 2 };
    s.update(false);
    assert.equal(s.scale, 16);
  });

  it("defaults are torch.cuda.amp.GradScaler's; bad settings are usage errors", () => {
    const s = new GradScaler();
    assert.deepEqual(s.opts, { initScale: 65536, growthFactor: 2, backoffFactor: 0.5, growthInterval: 2000 });
    assert.throws(() => new GradScaler({ backoffFactor: 1 }), UsageError);
    assert.throws(() => new GradScaler({ growthFactor: 1 }), UsageError);
    assert.throws(() => new GradScaler({ growthInterval: 0 }), UsageError);
    assert.throws(() => new GradScaler({ initScale: 0 }), UsageError);
    assert.throws(() => (s.state = { scale: -1, growthTracker: 0 }), UsageError);
  });

  it('--amp alone is fp16 on CUDA and bf16 on the CPU; fp16 on the CPU is refused in one line', () => {
    assert.equal(resolveAmp(true, 'cpu'), 'bf16');
    assert.equal(resolveAmp(true, undefined), 'bf16');
    assert.equal(resolveAmp(true, 'cuda:1'), 'fp16');
    assert.equal(resolveAmp('bf16', 'cuda'), 'bf16');
    assert.equal(resolveAmp(undefined, 'cpu'), undefined);
    assert.throws(
      () => resolveAmp('fp16', 'cpu'),
      (e: Error) => e instanceof UsageError && /^--amp fp16: .*CPU.*--amp bf16/.test(e.message) && !e.message.includes('\n'),
    );
  });

  it('benchmark file names follow timm (amp and nhwc parts only when used); results rows keep precisions apart', () => {
    assert.equal(benchCsvName('infer', { engine: 'torch', imgSize: 32 }), 'benchmark-infer-torch-32px.csv');
    assert.equal(
      benchCsvName('train', { engine: 'torch', imgSize: 32, precision: 'bf16', layout: 'nhwc' }),
      'benchmark-train-amp-bf16-nhwc-torch-32px.csv',
    );
    assert.equal(benchCsvName('infer', { engine: 'torch', imgSize: 64, layout: 'nhwc' }), 'benchmark-infer-nhwc-torch-64px.csv');
    assert.equal(
      benchCsvName('infer', { engine: 'torch', imgSize: 32, precision: 'fp32', tag: 'b32' }),
      'benchmark-infer-torch-32px-b32.csv',
    );
    assert.equal(precisionColumn('bf16', 'bf16'), 'bf16');
    assert.equal(precisionColumn('bf16', 'fp32'), 'bf16,eval=fp32');

    const dir = mkdtempSync(join(tmpdir(), 'regnet-amp-res-'));
    try {
      const f = join(dir, 'results-mnist.csv');
      // a row written before the precision column existed (fp32 by definition)
      writeFileSync(
        f,
        'model,img_size,top1,top1_err,top5,top5_err,param_count,crop_pct,interpolation,seed\nresnet18,28,90.000,10.000,99.000,1.000,11.18,1.000,bilinear,0\n',
      );
      const row = { model: 'resnet18', img_size: 28, top5: 99.5, params: 11_180_000, crop_pct: 1, interpolation: 'bilinear', seed: 0 };
      mergeResults(f, [{ ...row, top1: 91, precision: 'fp32' }]); // replaces the old fp32 row
      mergeResults(f, [{ ...row, top1: 92, precision: 'bf16' }]); // another row
      const rows = readCsv(f);
      assert.deepEqual(
        rows.map((r) => [r.top1, r.precision]),
        [
          ['92.000', 'bf16'],
          ['91.000', 'fp32'],
        ],
      );
      assert.throws(() => mergeResults(f, [{ ...row, top1: 1, precision: 'fp8' }]));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

const rng = new Rng(5);
const rand = (n: number) => new Float32Array(n).map(() => rng.normal());

/** Weights away from their init (random BN affine params and running stats), so every path matters. */
function weights(net: ReturnType<typeof buildModel>, seed: number): WeightMap {
  const r = new Rng(seed);
  const w = initWeights(net, seed);
  for (const p of paramSpecs(net)) {
    const d = w.get(p.name)!.data;
    if (p.role === 'norm_weight' || p.role === 'bn_var') for (let i = 0; i < d.length; i++) d[i] = r.uniform(0.5, 1.5);
    if (p.role === 'norm_bias' || p.role === 'bn_mean' || p.role === 'fc_bias')
      for (let i = 0; i < d.length; i++) d[i] = r.uniform(-0.2, 0.2);
  }
  return w;
}

const PY = String.raw`
import json, sys, numpy as np, torch, torchvision
torch.set_num_threads(2)
d = sys.argv[1]
meta = json.load(open(d + '/in.json'))
buf = np.fromfile(d + '/in.bin', dtype=np.float32)
get = lambda e: torch.from_numpy(buf[e['off']:e['off'] + e['n']].copy()).reshape(e['shape'])
m = torchvision.models.resnet18(num_classes=meta['numClasses'])
missing, unexpected = m.load_state_dict({k: get(v) for k, v in meta['weights'].items()}, strict=False)
assert not unexpected and all(k.endswith('num_batches_tracked') for k in missing), (missing, unexpected)
m.eval()
x = get(meta['x'])
with torch.no_grad():
    fp32 = m(x)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        bf16 = m(x)
json.dump({'fp32': fp32.float().flatten().tolist(), 'bf16': bf16.float().flatten().tolist(), 'dtype': str(bf16.dtype)}, open(d + '/out.json', 'w'))
`;

/** torchvision resnet18 eval logits from the same weights and batch, at fp32 and under CPU bf16 autocast. */
function pytorchLogits(w: WeightMap, x: Float32Array, shape: number[], numClasses: number) {
  const dir = mkdtempSync(join(tmpdir(), 'regnet-amp-py-'));
  try {
    const chunks: Float32Array[] = [];
    let off = 0;
    const put = (data: Float32Array, s: number[]) => {
      chunks.push(data);
      off += data.length;
      return { off: off - data.length, n: data.length, shape: s };
    };
    const meta = { numClasses, weights: Object.fromEntries([...w].map(([k, v]) => [k, put(v.data, v.shape)])), x: put(x, shape) };
    const bin = new Float32Array(off);
    let o = 0;
    for (const c of chunks) {
      bin.set(c, o);
      o += c.length;
    }
    writeFileSync(join(dir, 'in.bin'), bin);
    writeFileSync(join(dir, 'in.json'), JSON.stringify(meta));
    const r = spawnSync(python!, ['-c', PY, dir], { encoding: 'utf8' });
    assert.equal(r.status, 0, `python reference failed: ${r.stderr}`);
    return JSON.parse(readFileSync(join(dir, 'out.json'), 'utf8')) as { fp32: number[]; bf16: number[]; dtype: string };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const SGD: SgdOptions = { lr: 0.05, momentum: 0.9, nesterov: false, weightDecay: 1e-4, labelSmoothing: 0 };

function trainable(c: CompiledNet, net: ReturnType<typeof buildModel>): Map<string, Float32Array> {
  const names = new Set(
    paramSpecs(net)
      .filter((p) => p.trainable)
      .map((p) => p.name),
  );
  return new Map([...c.getWeights()].filter(([k]) => names.has(k)).map(([k, v]) => [k, v.data]));
}

describe('torch engine: bf16 autocast, channels-last, grad scaler', { skip }, () => {
  // resnet18 at 32 px with 10 classes: every op kind of the ResNet family, small enough for seconds
  const net = buildModel('resnet18', { res: 32, numClasses: 10 });
  const w = weights(net, 11);
  const n = 8;
  const x = rand(n * 3 * 32 * 32);
  const y = new Int32Array(n).map(() => rng.int(0, 9));
  const small = buildModel('regnetx_002', { res: 32, numClasses: 10 });
  const ws = initWeights(small, 12);

  it('bf16 logits are within bf16 tolerance of fp32 and agree with PyTorch autocast; autocast is off afterwards', () => {
    const fp32 = createTorchEngine({ threads: 2 }).compile(net, w);
    const bf16Engine = createTorchEngine({ threads: 2, amp: 'bf16' });
    assert.equal(bf16Engine.info.precision, 'bf16');
    const bf16 = bf16Engine.compile(net, w);
    try {
      const a = fp32.predict(x, n);
      const b = bf16.predict(x, n);
      const err = maxRel(b, a);
      // bf16 keeps 8 significant bits (relative rounding 2^-9 = 0.2%); roughly 20 rounded layers in a row:
      // a few percent of the largest logit, never more than 5%
      assert.ok(err < 0.05, `bf16 vs fp32 logits: ${err} of the max logit`);
      assert.ok(err > 1e-5, `bf16 logits equal fp32 (${err}): autocast did not run`);
      assert.equal(torchAddon().autocastState!('cpu').enabled, false, 'autocast left on after predict');
      // the same batch through the fp32 net again is unchanged (no bf16 weight copies left behind)
      assert.deepEqual(fp32.predict(x, n), a);
      if (python) {
        const py = pytorchLogits(w, x, [n, 3, 32, 32], 10);
        assert.equal(py.dtype, 'torch.bfloat16');
        const pyErr = maxRel(py.bf16, py.fp32);
        const ours = maxRel(b, py.bf16);
        console.log(
          `# resnet18 bf16: ours vs our fp32 ${err.toExponential(2)}, PyTorch bf16 vs fp32 ${pyErr.toExponential(2)}, ours vs PyTorch bf16 ${ours.toExponential(2)}`,
        );
        assert.ok(maxRel(a, py.fp32) < 1e-4, 'fp32 logits differ from torchvision');
        // the same autocast rules and kernels: our bf16 logits sit as close to PyTorch's as its own rounding
        assert.ok(ours <= Math.max(0.01, pyErr), `ours vs PyTorch bf16: ${ours} (PyTorch's own bf16 error ${pyErr})`);
        assert.ok(err <= 2 * pyErr + 0.005, `our bf16 error ${err} vs PyTorch's ${pyErr}`);
      } else console.log('# no python3 with torch/torchvision: bf16 vs PyTorch autocast not compared');
    } finally {
      fp32.dispose();
      bf16.dispose();
    }
  });

  it('a few bf16 training steps lower the loss like fp32 (master weights stay fp32)', () => {
    // regnetx_002 (grouped convs, FC as 1x1 conv), a fixed batch, a gentle lr: the two runs stay comparable
    const sgd: SgdOptions = { ...SGD, lr: 0.01 };
    const steps = 5;
    const run = (amp: 'bf16' | undefined) => {
      const c = createTorchEngine({ threads: 2, ...(amp ? { amp } : {}) }).compile(small, ws);
      try {
        const losses: number[] = [];
        for (let i = 0; i < steps; i++) {
          const r = c.trainStep(x, y, n, sgd);
          assert.equal(r.skipped, undefined, 'bf16 has no scaler: no step is skipped');
          losses.push(r.loss);
        }
        return { losses, weights: trainable(c, small) };
      } finally {
        c.dispose();
      }
    };
    const a = run(undefined);
    const b = run('bf16');
    console.log(`# losses fp32 ${a.losses.map((l) => l.toFixed(3)).join(' ')} | bf16 ${b.losses.map((l) => l.toFixed(3)).join(' ')}`);
    assert.ok(b.losses[steps - 1]! < 0.8 * b.losses[0]!, `bf16 loss did not fall: ${b.losses.join(', ')}`);
    assert.ok(Math.abs(b.losses[0]! - a.losses[0]!) < 0.02 * a.losses[0]!, 'first loss (same weights) differs by > 2%');
    for (let i = 0; i < steps; i++)
      assert.ok(
        Math.abs(b.losses[i]! - a.losses[i]!) < 0.1 * a.losses[0]!,
        `step ${i}: bf16 ${b.losses[i]} strays from fp32 ${a.losses[i]}`,
      );
    // the updates themselves: the master weights (fp32) moved as fp32's did, within 10% in L2 over all of them
    let diff = 0;
    let norm = 0;
    for (const [k, v] of a.weights) {
      const before = ws.get(k)!.data;
      const got = b.weights.get(k)!;
      for (let i = 0; i < v.length; i++) {
        const da = v[i]! - before[i]!;
        diff += (got[i]! - before[i]! - da) ** 2;
        norm += da ** 2;
      }
    }
    const rel = Math.sqrt(diff / norm);
    console.log(`# bf16 vs fp32 weight updates after ${steps} steps: relative L2 difference ${rel.toExponential(2)}`);
    assert.ok(norm > 0 && rel < 0.1, `bf16 updates differ from fp32's by ${rel} (L2)`);
  });

  it('channels-last equals NCHW: eval logits, train loss and every gradient; weights read back in PyTorch layout', () => {
    const nchw = createTorchEngine({ threads: 2 }).compile(net, w);
    const nhwcEngine = createTorchEngine({ threads: 2, channelsLast: true });
    assert.equal(nhwcEngine.info.layout, 'nhwc');
    const nhwc = nhwcEngine.compile(net, w);
    try {
      assert.ok(maxRel(nhwc.predict(x, n), nchw.predict(x, n)) < 1e-5, 'logits');
      const a = nchw.lossAndGrads(x, y, n, 0.1);
      const b = nhwc.lossAndGrads(x, y, n, 0.1);
      assert.ok(Math.abs(a.loss - b.loss) < 1e-5 * a.loss, `loss ${b.loss} vs ${a.loss}`);
      for (const [k, g] of a.grads) assert.ok(maxRel(b.grads.get(k)!.data, g.data) < 1e-4, `gradient of ${k}`);
      const back = nhwc.getWeights();
      for (const [k, v] of w) assert.deepEqual(back.get(k)!.data, v.data, `${k} read back`);
      // one SGD step each: the same update
      nchw.trainStep(x, y, n, SGD);
      nhwc.trainStep(x, y, n, SGD);
      const wa = trainable(nchw, net);
      const wb = trainable(nhwc, net);
      for (const [k, v] of wa) assert.ok(maxRel(wb.get(k)!, v) < 1e-4, `${k} after a step`);
    } finally {
      nchw.dispose();
      nhwc.dispose();
    }
  });

  it('the scaler in trainStep: overflow skips the update and halves the scale; the first good step equals fp32', () => {
    // a scale beyond float32's range (max ~2^128) makes every scaled gradient inf or NaN, as too large a
    // scale does in fp16; 2^127 and below fit
    const scaled = createTorchEngine({ threads: 2 }, { gradScaler: { initScale: 2 ** 130, growthInterval: 2 } }).compile(small, ws);
    const ref = createTorchEngine({ threads: 2 }).compile(small, ws);
    try {
      const amp = (scaled as unknown as { amp: AmpContext }).amp;
      const before = trainable(scaled, small);
      const scales: number[] = [];
      let skipped = 0;
      for (;;) {
        const r = scaled.trainStep(x, y, n, SGD);
        scales.push(amp.scaler!.scale);
        if (!r.skipped) break;
        skipped++;
        for (const [k, v] of trainable(scaled, small)) assert.deepEqual(v, before.get(k), `${k} changed by a skipped step`);
        assert.ok(skipped < 40, 'never found a finite scale');
      }
      // 2^130, 2^129, 2^128 overflow, each skip halving the scale; 2^127 works
      assert.equal(skipped, 3);
      assert.deepEqual(scales, [2 ** 129, 2 ** 128, 2 ** 127, 2 ** 127]);
      // the good step: unscaling by a power of two is exact, so it is the plain fp32 step
      ref.trainStep(x, y, n, SGD);
      const want = trainable(ref, small);
      for (const [k, v] of trainable(scaled, small)) assert.ok(maxRel(v, want.get(k)!) < 1e-5, `${k}: scaled step vs fp32 step`);
      // growthInterval 2: one more good step doubles the scale
      scaled.trainStep(x, y, n, SGD);
      assert.equal(amp.scaler!.scale, 2 ** 128);
      // the scaler's state travels with the optimizer state (checkpoints)
      amp.scaler!.state = { scale: 1024, growthTracker: 1 };
      const st = scaled.getOptimizerState().get(SCALER_STATE_KEY)!;
      assert.deepEqual(Array.from(st.data), [1024, 1]);
      const other = createTorchEngine({ threads: 2 }, { gradScaler: {} }).compile(small, ws);
      other.setOptimizerState(scaled.getOptimizerState());
      assert.deepEqual((other as unknown as { amp: AmpContext }).amp.scaler!.state, { scale: 1024, growthTracker: 1 });
      other.dispose();
      // a net without a scaler ignores the entry
      ref.setOptimizerState(scaled.getOptimizerState());
    } finally {
      scaled.dispose();
      ref.dispose();
    }
  });

  it('fp16 on the CPU: the engine refuses it in one line', () => {
    assert.throws(
      () => createTorchEngine({ threads: 1, amp: 'fp16' }),
      (e: Error) => e instanceof UsageError && /--amp fp16/.test(e.message),
    );
  });
});

describe('CLI: --amp and --channels-last', { skip }, () => {
  it('refusals are one regnet: error line, exit 2, nothing written', () => {
    const dir = mkdtempSync(join(tmpdir(), 'regnet-amp-cli-'));
    try {
      const cases: Array<[string[], RegExp]> = [
        [['bench', 'regnetx_002', '--amp', 'fp16', '--out-dir', dir], /--amp fp16: libtorch 1\.13 has no float16 autocast on the CPU/],
        [['bench', 'regnetx_002', '--engine', 'wasm', '--channels-last', '--out-dir', dir], /--channels-last: only the torch engine/],
        [['bench', 'regnetx_002', '--amp', 'fp8', '--out-dir', dir], /--amp must be one of bf16, fp16/],
        [['train', 'regnetx_002', '--amp', 'bf16', '--amp-dtype', 'float16', '--results-dir', dir], /disagree/],
        [['eval', '--checkpoint', join(dir, 'none'), '--amp-dtype', 'float16'], /--amp fp16: libtorch 1\.13/],
      ];
      for (const [args, re] of cases) {
        const r = runCli(args);
        assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
        const lines = r.stderr.trim().split('\n');
        assert.equal(lines.length, 1, r.stderr);
        assert.match(lines[0]!, /^regnet: error: /);
        assert.match(lines[0]!, re);
      }
      assert.deepEqual(readdirSync(dir), []);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('bench --amp bf16 --channels-last --out-dir: a timm-named CSV whose rows record precision and layout', () => {
    const dir = mkdtempSync(join(tmpdir(), 'regnet-amp-bench-'));
    try {
      const r = runCli([
        'bench',
        'regnetx_002',
        '--engine',
        'torch',
        '--threads',
        '2',
        '--mode',
        'train',
        '--batch',
        '4',
        '--img-size',
        '32',
        '--iters',
        '2',
        '--warmup',
        '1',
        '--progress',
        'none',
        '--amp',
        'bf16',
        '--channels-last',
        '--out-dir',
        dir,
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /engine: torch \(libtorch [\d.]+, 2 threads, cpu, amp bf16, channels-last\)/);
      const f = join(dir, 'benchmark-train-amp-bf16-nhwc-torch-32px.csv');
      assert.ok(existsSync(f), readdirSync(dir).join(', '));
      const rows = readCsv(f);
      assert.equal(rows.length, 1);
      assert.equal(rows[0]!.precision, 'bf16');
      assert.equal(rows[0]!.layout, 'nhwc');
      assert.ok(Number(rows[0]!.train_samples_per_sec) > 0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
