/**
 * The ONNX export and the onnx engine (onnxruntime-node): the exported graph computes what the other
 * engines compute, reproduces timm's reference logits, passes onnx.checker with full_check, keeps a
 * dynamic batch axis, and records the architecture and preprocessing. Engine tests skip when the optional
 * onnxruntime-node is not installed; the checker test skips without Debian's python3-onnx.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { initWeights } from '../src/arch/init.js';
import type { Network } from '../src/arch/ir.js';
import { paramSpecs } from '../src/arch/params.js';
import { buildRegNet } from '../src/arch/regnet.js';
import type { WeightMap } from '../src/arch/weights.js';
import { buildModel, zooEntry } from '../src/arch/zoo.js';
import { compileOnnx, OPSET } from '../src/engine/onnx/graph.js';
import { decodeModel } from '../src/engine/onnx/proto.js';
import { loadOrt } from '../src/engine/onnx/runtime.js';
import { listEngines, resolveAuto, selectEngine } from '../src/engine/select.js';
import type { CompiledNet, Engine } from '../src/engine/types.js';
import { readSafetensors } from '../src/io/safetensors.js';
import { loadTimmWeights } from '../src/io/timm-weights.js';
import { readCheckpointState, readCheckpointTensors } from '../src/train/checkpoint.js';
import { buildTrainNet, trainModel } from '../src/train/run.js';
import { isUsageError } from '../src/util/errors.js';
import { Rng } from '../src/util/rng.js';
import { runCli, ROOT } from './helpers/cli.js';
import { findPython, timmReference, torchSkip, trainEngine, type TimmReference } from './helpers/fixtures.js';
import { maxAbs, maxRel } from './helpers/numeric.js';
import { tempDirUntilExit } from './helpers/tmp.js';

const ort = loadOrt();
const ortSkip = ort.ok ? false : ort.reason;
const python = findPython(['onnx']);
const tmp = tempDirUntilExit('regnet-onnx-');
/** every .onnx file written here, for the checker test at the end */
const exported: string[] = [];

/**
 * Seeded init with random BN statistics, gammas in [0.5, 1.5] and BN betas 0.5 + N(0, 0.1), so no branch
 * is trivially zero. Smaller betas than test/engine-agreement.test.ts (2.5): that test also compares
 * gradients, where ReLU inputs near the kink matter; logits do not care (ReLU is 1-Lipschitz), and with
 * betas ~2.5 regnety_002's activations grow through its uncalibrated BNs until even torch and wasm
 * differ by 2e-5 of the largest logit. With 0.5 every engine pair agrees to ~2e-6.
 */
function randomized(net: Network, seed: number): WeightMap {
  const w = initWeights(net, seed);
  const rng = new Rng(seed + 1);
  for (const p of paramSpecs(net)) {
    const t = w.get(p.name)!;
    if (p.role === 'norm_weight') for (let i = 0; i < t.data.length; i++) t.data[i] = 0.5 + rng.next();
    if (p.role === 'norm_bias') for (let i = 0; i < t.data.length; i++) t.data[i] = 0.5 + 0.1 * rng.normal();
    if (p.role === 'bn_mean' || p.role === 'conv_bias' || p.role === 'fc_bias')
      for (let i = 0; i < t.data.length; i++) t.data[i] = 0.2 * rng.normal();
    if (p.role === 'bn_var') for (let i = 0; i < t.data.length; i++) t.data[i] = 0.5 + rng.next();
  }
  return w;
}

function randomInput(net: Network, n: number, seed: number): Float32Array {
  const [c, h, w] = net.nodes[0]!.out;
  const rng = new Rng(seed);
  const x = new Float32Array(n * c * h * w);
  for (let i = 0; i < x.length; i++) x[i] = rng.normal();
  return x;
}

const TOL = 1e-5;
const small = { res: 32, numClasses: 10, stem: 'small' as const };
const CASES: Array<[string, () => Network]> = [
  ['regnetx_002', () => buildModel('regnetx_002', small)],
  ['regnety_002 (SE)', () => buildModel('regnety_002', small)],
  ['resnet18', () => buildModel('resnet18', small)],
  ['resnet50', () => buildModel('resnet50', small)],
  // at 36 px the stages are 36, 18, 9, 5: the last ResNet-D shortcut pool overhangs in ceil mode
  ['resnet26d (deep stem, avg-pool shortcut)', () => buildModel('resnet26d', { ...small, res: 36 })],
  ['resnext50_32x4d (grouped bottlenecks)', () => buildModel('resnext50_32x4d', small)],
  // GroupNorm and SiLU (as regnety_040_sgn), which the ONNX graph spells out in opset 17 ops
  [
    'regnet with GroupNorm + SiLU',
    () => buildRegNet({ depth: 4, w0: 32, wa: 20, wm: 2.5, groupSize: 16, seRatio: 0.25, act: 'silu', norm: 'gn' }, small),
  ],
];

let engines: { onnx: Engine; wasm: Engine; torch?: Engine } | undefined;
async function getEngines() {
  engines ??= {
    onnx: await selectEngine('onnx', { threads: 2 }),
    wasm: await selectEngine('wasm'),
    torch: torchSkip() ? undefined : await selectEngine('torch', { threads: 2 }),
  };
  return engines;
}

/** Agreement errors measured here (printed at the end for the record). */
const measured: string[] = [];

for (const [label, make] of CASES) {
  test(
    `onnx agrees with wasm${torchSkip() ? '' : ' and torch'} on ${label} within ${TOL} of the largest logit; batch 1 and 3`,
    { skip: ortSkip },
    async () => {
      const net = make();
      const w = randomized(net, 11);
      const file = join(tmp, `${label.replace(/\W+/g, '_')}.onnx`);
      writeFileSync(file, compileOnnx(net, w));
      exported.push(file);
      const e = await getEngines();
      const n = 3;
      const x = randomInput(net, n, 5);
      const nets: CompiledNet[] = [];
      try {
        const onnx = e.onnx.compile(net, w);
        nets.push(onnx);
        const lo = onnx.predict(x, n);
        const wasm = e.wasm.compile(net, w);
        nets.push(wasm);
        const lw = wasm.predict(x, n);
        assert.ok(maxAbs(lw) > 0.1, `non-trivial logits (max ${maxAbs(lw)})`);
        const ew = maxRel(lo, lw);
        let line = `${label}: onnx vs wasm ${ew.toExponential(2)}`;
        assert.ok(ew <= TOL, `${label}: onnx vs wasm ${ew} of the largest logit`);
        if (e.torch) {
          const torch = e.torch.compile(net, w);
          nets.push(torch);
          const et = maxRel(lo, torch.predict(x, n));
          line += `, onnx vs torch ${et.toExponential(2)}`;
          assert.ok(et <= TOL, `${label}: onnx vs torch ${et} of the largest logit`);
        }
        // dynamic batch: one sample alone gives that sample's row of the batch of 3
        const per = x.length / n;
        const k = net.numClasses;
        const one = onnx.predict(x.subarray(per, 2 * per), 1);
        const e1 = maxRel(one, lo.subarray(k, 2 * k));
        line += `, batch 1 vs 3 ${e1.toExponential(2)}`;
        assert.ok(e1 <= 1e-6, `batch 1 vs 3: ${e1}`);
        measured.push(line);
      } finally {
        for (const c of nets) c.dispose();
      }
    },
  );
}

test(`onnx reproduces timm's reference logits of regnetx_002 within ${TOL}`, { skip: ortSkip }, async () => {
  const ref = timmReference('regnetx_002') as TimmReference;
  const net = buildModel('regnetx_002');
  const { weights } = loadTimmWeights(ref.weights, net);
  const io = readSafetensors(ref.io).tensors;
  const x = io.get('input')!.data as Float32Array;
  const want = io.get('logits')!.data as Float32Array;
  const n = io.get('input')!.shape[0]!;
  const c = (await getEngines()).onnx.compile(net, weights);
  try {
    const err = maxRel(c.predict(x, n), want);
    measured.push(`regnetx_002 timm reference (224 px, batch ${n}): ${err.toExponential(2)}`);
    assert.ok(err <= TOL, `max error ${err} of the largest logit`);
  } finally {
    c.dispose();
  }
  const file = join(tmp, 'regnetx_002_timm.onnx');
  writeFileSync(file, compileOnnx(net, weights));
  exported.push(file);
});

test('onnx engine: inference only; getWeights/setWeights keep the map and rebuild the session', { skip: ortSkip }, async () => {
  const net = buildModel('regnetx_002', small);
  const a = randomized(net, 1);
  const b = randomized(net, 2);
  const x = randomInput(net, 2, 9);
  const { onnx } = await getEngines();
  assert.equal(onnx.info.engine, 'onnx');
  assert.equal(onnx.info.threads, 2);
  const c = onnx.compile(net, a);
  const fresh = onnx.compile(net, b);
  try {
    const before = c.predict(x, 2);
    const inferenceOnly = (err: unknown) =>
      isUsageError(err) && /engine onnx is inference-only; train with torch or wasm/.test((err as Error).message);
    assert.throws(
      () => c.trainStep(x, Int32Array.from([0, 1]), 2, { lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 0, labelSmoothing: 0 }),
      inferenceOnly,
    );
    assert.throws(() => c.lossAndGrads(x, Int32Array.from([0, 1]), 2, 0), inferenceOnly);
    assert.equal(c.getOptimizerState().size, 0);
    assert.equal(
      c.paramCount(),
      paramSpecs(net)
        .filter((s) => s.trainable)
        .reduce((s, p) => s + p.shape.reduce((u, v) => u * v, 1), 0),
    );
    const got = c.getWeights();
    assert.equal(got.size, a.size);
    for (const [name, t] of a) assert.deepEqual(got.get(name)!.data, t.data, name);
    c.setWeights(b);
    const after = c.predict(x, 2);
    assert.ok(maxRel(after, before) > 1e-3, 'new weights change the logits');
    assert.deepEqual(after, fresh.predict(x, 2));
    assert.deepEqual(c.getWeights().get('head.fc.weight')!.data, b.get('head.fc.weight')!.data);
    assert.throws(() => c.setWeights(new Map([['nope.weight', { shape: [1], data: new Float32Array(1) }]])), isUsageError);
    assert.throws(() => c.setWeights(new Map([['head.fc.bias', { shape: [3], data: new Float32Array(3) }]])), isUsageError);
    assert.throws(() => c.predict(x, 3), isUsageError);
  } finally {
    c.dispose();
    fresh.dispose();
  }
});

test('engine selection: onnx is listed; auto prefers it for inference, not for training', async () => {
  const list = await listEngines();
  const o = list.find((e) => e.engine === 'onnx');
  assert.ok(o && o.reason.length > 0);
  assert.equal(o.available, ort.ok);
  const train = await resolveAuto();
  assert.notEqual(train, 'onnx');
  const infer = await resolveAuto({ inference: true });
  if (ort.ok) assert.equal(infer, 'onnx');
  else assert.equal(infer, train);
  if (!ort.ok)
    await assert.rejects(
      selectEngine('onnx'),
      (err: unknown) => isUsageError(err) && /engine onnx is not available/.test((err as Error).message),
    );
});

test('regnet export writes an ONNX file with the architecture and preprocessing; dynamic batch', async () => {
  const out = join(tmp, 'cli', 'regnety_002.onnx');
  const r = runCli(['export', 'regnety_002', '--format', 'onnx', '--img-size', '64', '--seed', '3', '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /wrote .*regnety_002\.onnx/);
  exported.push(out);
  const bytes = readFileSync(out);
  const m = decodeModel(bytes);
  assert.equal(m.ir_version, 8);
  assert.deepEqual(
    m.opset_import.map((o) => [o.domain ?? '', o.version]),
    [['', OPSET]],
  );
  assert.equal(m.producer_name, 'regnet');
  assert.equal(m.graph.input.length, 1);
  assert.equal(m.graph.input[0]!.name, 'input');
  assert.deepEqual(m.graph.input[0]!.type.tensor_type.shape.dim, [
    { dim_param: 'batch' },
    { dim_value: 3 },
    { dim_value: 64 },
    { dim_value: 64 },
  ]);
  assert.equal(m.graph.output[0]!.name, 'logits');
  assert.deepEqual(m.graph.output[0]!.type.tensor_type.shape.dim, [{ dim_param: 'batch' }, { dim_value: 1000 }]);
  assert.ok(
    m.graph.node.some((n) => n.op_type === 'BatchNormalization'),
    'BatchNorm in inference form',
  );
  assert.ok(
    m.graph.initializer.some((t) => t.name === 's1.b1.conv1.bn.running_var'),
    'initialisers carry timm names',
  );
  const meta = new Map(m.metadata_props.map((p) => [p.key, p.value]));
  const arch = JSON.parse(meta.get('architecture')!);
  assert.equal(arch.name, 'regnety_002');
  assert.deepEqual(arch.spec, zooEntry('regnety_002').spec);
  assert.deepEqual(arch.input_size, [3, 64, 64]);
  assert.deepEqual(JSON.parse(meta.get('preprocessing')!), {
    img_size: 64,
    crop_pct: 0.875,
    interpolation: 'bicubic',
    mean: [0.485, 0.456, 0.406],
    std: [0.229, 0.224, 0.225],
  });
  assert.match(meta.get('weights')!, /seed 3/);
  assert.match(m.doc_string, /regnety_002/);
  assert.match(m.doc_string, /resize the shorter side to 73 \(bicubic\), centre crop 64/);

  if (ortSkip) return;
  // the file runs at batch 1 and 3 and gives the seeded network's logits
  const net = buildModel('regnety_002', { res: 64 });
  const x = randomInput(net, 3, 4);
  const o2 = ort as Extract<typeof ort, { ok: true }>;
  const s = o2.ort.newSession();
  s.loadModel(bytes.buffer as ArrayBuffer, bytes.byteOffset, bytes.byteLength, { intraOpNumThreads: 2, executionProviders: ['cpu'] });
  try {
    const run = (data: Float32Array, n: number) =>
      s.run({ input: new o2.ort.Tensor('float32', data, [n, 3, 64, 64]) }, { logits: null }, {}).logits!;
    const three = run(x, 3);
    assert.deepEqual([...three.dims], [3, 1000]);
    const one = run(x.subarray(0, 3 * 64 * 64), 1);
    assert.deepEqual([...one.dims], [1, 1000]);
    assert.ok(maxRel(one.data as Float32Array, (three.data as Float32Array).subarray(0, 1000)) <= 1e-6);
    const wasm = (await getEngines()).wasm.compile(net, initWeights(net, 3));
    try {
      const err = maxRel(three.data as Float32Array, wasm.predict(x, 3));
      assert.ok(err <= TOL, `exported file vs wasm: ${err}`);
    } finally {
      wasm.dispose();
    }
  } finally {
    s.dispose();
  }
});

/** Logits of an ONNX file on onnxruntime (batch n). */
function runFile(bytes: Uint8Array, x: Float32Array, dims: number[]): Float32Array {
  const o = ort as Extract<typeof ort, { ok: true }>;
  const s = o.ort.newSession();
  s.loadModel(bytes.buffer as ArrayBuffer, bytes.byteOffset, bytes.byteLength, { intraOpNumThreads: 2, executionProviders: ['cpu'] });
  try {
    return s.run({ input: new o.ort.Tensor('float32', x, dims) }, { logits: null }, {}).logits!.data as Float32Array;
  } finally {
    s.dispose();
  }
}

test("regnet export --weights (timm): the file gives timm's reference logits", async () => {
  const ref = timmReference('regnetx_002') as TimmReference;
  const out = join(tmp, 'cli', 'regnetx_002_timm.onnx');
  const r = runCli(['export', 'regnetx_002', '--weights', ref.weights, '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  exported.push(out);
  const m = decodeModel(readFileSync(out));
  const meta = new Map(m.metadata_props.map((p) => [p.key, p.value]));
  assert.match(meta.get('weights')!, /timm weights .*regnetx_002\.safetensors/);
  if (ortSkip) return;
  const io = readSafetensors(ref.io).tensors;
  const x = io.get('input')!;
  const err = maxRel(runFile(readFileSync(out), x.data as Float32Array, x.shape), io.get('logits')!.data as Float32Array);
  assert.ok(err <= TOL, `exported timm weights: ${err}`);
});

test("regnet export --checkpoint: the training run's network, weights and dataset preprocessing", async () => {
  const dir = join(tmp, 'ck');
  const spec = {
    kind: 'anynet' as const,
    stages: [8, 16].map((w) => ({ depth: 1, width: w, bottleRatio: 1, groupWidth: 8 })),
    seRatio: 0,
    act: 'relu' as const,
    norm: 'bn' as const,
    stemWidth: 8,
  };
  const engine = trainEngine();
  await trainModel({
    model: { name: 'tiny_anynet', spec },
    dataset: 'mnist',
    engine,
    threads: 1,
    seed: 3,
    progress: 'none',
    limitTrain: 64,
    limitVal: 32,
    overrides: { steps: 2, batchSize: 32 },
    checkpointDir: dir,
  });
  const out = join(tmp, 'cli', 'tiny_anynet.onnx');
  const r = runCli(['export', '--checkpoint', dir, '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  exported.push(out);
  const m = decodeModel(readFileSync(out));
  const meta = new Map(m.metadata_props.map((p) => [p.key, p.value]));
  assert.deepEqual(JSON.parse(meta.get('preprocessing')!), {
    img_size: 28,
    crop_pct: 1,
    interpolation: 'none',
    mean: [0.1307, 0.1307, 0.1307],
    std: [0.3081, 0.3081, 0.3081],
  });
  const arch = JSON.parse(meta.get('architecture')!);
  assert.equal(arch.name, 'tiny_anynet');
  assert.equal(arch.stem, 'small');
  assert.deepEqual(arch.input_size, [3, 28, 28]);
  assert.equal(arch.num_classes, 10);
  assert.match(meta.get('weights')!, /regnet checkpoint .*mnist, step 2/);
  // contradicting the checkpoint is refused
  const bad = runCli(['export', '--checkpoint', dir, '--num-classes', '5', '--out', join(tmp, 'x.onnx')]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--num-classes 5: .* was trained with --num-classes 10/);
  if (ortSkip) return;
  const state = readCheckpointState(dir);
  const net = buildTrainNet(state.request, state.config);
  const { weights } = readCheckpointTensors(dir, state, false);
  const x = randomInput(net, 3, 8);
  const e = await selectEngine(engine, { threads: 1 });
  const c = e.compile(net, weights);
  try {
    const err = maxRel(runFile(readFileSync(out), x, [3, 3, 28, 28]), c.predict(x, 3));
    assert.ok(err <= TOL, `exported checkpoint vs ${engine}: ${err}`);
  } finally {
    c.dispose();
  }
});

test('regnet export: bad input is one line on stderr and exit 2', () => {
  const cases: Array<[string[], RegExp]> = [
    [['export', 'nope', '--out', join(tmp, 'x.onnx')], /unknown model 'nope'/],
    [['export', 'regnetx_002'], /--out/],
    [['export', 'regnetx_002', '--format', 'tflite', '--out', join(tmp, 'x.onnx')], /--format/],
    [['export', 'regnetx_002', '--checkpoint', tmp, '--weights', 'x.safetensors', '--out', join(tmp, 'x.onnx')], /not both/],
    [['export', 'regnetx_002', '--checkpoint', tmp, '--out', join(tmp, 'x.onnx')], /not a regnet checkpoint folder/],
    [['export', 'regnetx_002', '--weights', join(tmp, 'missing.safetensors'), '--out', join(tmp, 'x.onnx')], /missing\.safetensors/],
    [['export', 'regnetx_002', '--mean', '0.5', '0.5', '--out', join(tmp, 'x.onnx')], /--mean: give 1 or 3 values/],
    [['export', 'regnetx_002', '--out', tmp], /is a folder/],
  ];
  for (const [args, re] of cases) {
    const r = runCli(args);
    assert.equal(r.code, 2, `${args.join(' ')}: exit ${r.code}, ${r.stderr}`);
    const lines = r.stderr
      .trim()
      .split('\n')
      .filter((l) => !/^\(run with --help/.test(l));
    assert.equal(lines.length, 1, `${args.join(' ')}: ${r.stderr}`);
    assert.match(lines[0]!, re);
  }
});

test('the ONNX schema module is generated from the committed onnx.proto', () => {
  const r = spawnSync(process.execPath, [join(ROOT, 'scripts/gen-onnx-schema.mjs'), '--check'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
});

test(
  'every exported file passes onnx.checker.check_model(full_check=True)',
  { skip: python ? false : 'needs python3 with the onnx module (Debian python3-onnx)' },
  () => {
    assert.ok(exported.length > 0, 'files were exported');
    const script = [
      'import sys, onnx',
      'for p in sys.argv[1:]:',
      '    m = onnx.load(p)',
      '    onnx.checker.check_model(m, full_check=True)',
      '    print("ok", p)',
    ].join('\n');
    const r = spawnSync(python!, ['-c', script, ...exported], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim().split('\n').length, exported.length);
  },
);

test('agreement errors measured', { skip: ortSkip }, () => {
  for (const l of measured) console.log(l);
});
