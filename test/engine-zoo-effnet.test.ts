/**
 * EfficientNet and RegNetV on every engine: depthwise convs (3x3 and 5x5, stride 1 and 2), SiLU, the
 * sigmoid-gated SE, pre-activation blocks and the average-pool shortcut.
 *   - PyTorch references (test/fixtures/effnet_reference.py): torchvision's efficientnet_b0 with its weights
 *     renamed to timm's names, and a torch.nn rendering of timm's RegNetV, random weights and BN statistics;
 *     our timm loader + wasm and torch engines reproduce their eval logits (skips without python3 +
 *     torchvision);
 *   - torch vs tfjs (wasm), same weights: logits in eval mode, loss and every gradient in train mode
 *     (test/helpers/agreement.ts; skips without the torch addon);
 *   - the ONNX export on onnxruntime vs wasm (and torch): eval logits (skips without onnxruntime-node).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Network } from '../src/arch/ir.js';
import { buildModel } from '../src/arch/zoo.js';
import { compileOnnx } from '../src/engine/onnx/graph.js';
import { loadOrt } from '../src/engine/onnx/runtime.js';
import { selectEngine } from '../src/engine/select.js';
import { createTfjsEngine } from '../src/engine/tfjs/engine.js';
import { createTorchEngine } from '../src/engine/torch/engine.js';
import type { CompiledNet } from '../src/engine/types.js';
import { readSafetensors } from '../src/io/safetensors.js';
import { loadTimmWeights } from '../src/io/timm-weights.js';
import { Rng } from '../src/util/rng.js';
import { assertEnginesAgree, randomizedWeights } from './helpers/agreement.js';
import { effnetReference, torchSkip } from './helpers/fixtures.js';
import { maxAbs, maxRel } from './helpers/numeric.js';

const skipTorch = torchSkip();
const ort = loadOrt();
const skipOrt = ort.ok ? false : (ort as { reason: string }).reason;

function randn(rng: Rng, len: number): Float32Array {
  return Float32Array.from({ length: len }, () => rng.normal());
}

/**
 * Small inputs with the ImageNet stem: efficientnet_b0 at 64 px runs every block down to a 2x2 map;
 * regnetv_064 at 40 px gives its average-pool shortcuts odd maps (20 -> 10 -> 5 -> 3 -> 2), so a ceil-mode
 * window holding a single row or column is in the test. regnetv_040 (strided 1x1 shortcuts) differs from
 * regnetv_064 only in the shortcut: its training agreement adds ~20 s of wasm for nothing new, so it is in
 * the PyTorch and ONNX checks only (at 32 px it ends on a 1x1 map).
 */
const AGREE: Array<[model: string, res: number]> = [
  ['efficientnet_b0', 64],
  ['regnetv_064', 40],
];
const ONNX: Array<[model: string, res: number]> = [...AGREE, ['regnetv_040', 32]];

const REF_TOL = 1e-5;

for (const model of ['efficientnet_b0', 'regnetv_040', 'regnetv_064'] as const) {
  const ref = effnetReference(model);
  const skip = 'skip' in ref ? ref.skip : false;
  test(
    `${model}: PyTorch's logits from its timm-named checkpoint, wasm${skipTorch ? '' : ' and torch'}, within ${REF_TOL}`,
    { skip },
    async () => {
      if ('skip' in ref) return;
      const io = readSafetensors(ref.io).tensors;
      const input = io.get('input')!;
      const want = io.get('logits')!;
      const [n, , h] = input.shape as [number, number, number, number];
      const net = buildModel(model, { res: h, numClasses: want.shape[1]! });
      const { weights } = loadTimmWeights(ref.weights, net);
      const x = input.data as Float32Array;
      const engines: Array<[string, () => Promise<CompiledNet>]> = [
        ['wasm', async () => (await createTfjsEngine('wasm')).compile(net, weights)],
      ];
      if (!skipTorch) engines.push(['torch', () => Promise.resolve(createTorchEngine({ threads: 2 }).compile(net, weights))]);
      for (const [name, make] of engines) {
        const c = await make();
        try {
          const got = c.predict(x, n);
          assert.ok(maxAbs(want.data as Float32Array) > 0.1, 'non-trivial reference logits');
          const err = maxRel(got, want.data as Float32Array);
          console.log(`# ${model} (${h} px) vs PyTorch, ${name}: ${err.toExponential(2)} of the largest logit`);
          assert.ok(err <= REF_TOL, `${model} ${name}: ${err} of the largest logit`);
        } finally {
          c.dispose();
        }
      }
    },
  );
}

/**
 * Weights that keep every activation in a calm range, so float32 rounding stays far below the tolerance:
 * EfficientNet: BN betas 2.5 (as test/engine-zoo-resnets.test.ts) and the last BN of each branch (bn2 of
 * the depthwise-separable blocks, bn3 of the inverted residuals; timm does not zero-init them) with gammas
 * 5x smaller, as trained networks have. RegNetV: a pre-activation residual stream has no norm after the
 * add, so large betas would grow it block by block until the network is chaotic (measured: logits ~5e3,
 * engines 20% apart); betas ~0 and conv3 (each branch's last layer) scaled by LAST_GAMMA keep it at O(1).
 */
const LAST_GAMMA = 0.2;

function randomized(net: Network) {
  const preact = net.family === 'regnetv';
  const w = randomizedWeights(net, 11, { beta: preact ? 0 : 2.5 });
  for (const n of net.nodes) {
    let last: string | undefined;
    if (preact && n.op === 'conv' && n.name.endsWith('.conv3')) last = `${n.name}.weight`;
    if (!preact && n.op === 'bn' && /^blocks\.(0\.\d+\.bn2|[1-9]\d*\.\d+\.bn3)$/.test(n.name)) last = `${n.name}.weight`;
    if (!last) continue;
    const t = w.get(last)!;
    for (let i = 0; i < t.data.length; i++) t.data[i]! *= LAST_GAMMA;
  }
  return w;
}

for (const [model, res] of AGREE) {
  test(`torch and tfjs (wasm) agree on ${model} at ${res}px: logits and gradients`, { skip: skipTorch }, async () => {
    const net = buildModel(model, { res, numClasses: 10 });
    const w = randomized(net);
    const n = 4;
    const x = randn(new Rng(5), n * 3 * res * res);
    const labels = Int32Array.from([1, 7, 3, 0]);
    const a = createTorchEngine({ threads: 2 }).compile(net, w);
    const b = (await createTfjsEngine('wasm')).compile(net, w);
    try {
      const e = assertEnginesAgree(model, a, b, x, labels, n);
      console.log(`# ${model}: logits ${e.logits.toExponential(1)}, gradients ${e.grads.toExponential(1)} of the max`);
    } finally {
      a.dispose();
      b.dispose();
    }
  });
}

const ONNX_TOL = 1e-5;

for (const [model, res] of ONNX) {
  test(
    `onnx export agrees with wasm${skipTorch ? '' : ' and torch'} on ${model} at ${res}px within ${ONNX_TOL}`,
    { skip: skipOrt },
    async () => {
      const net = buildModel(model, { res, numClasses: 10 });
      const w = randomized(net);
      assert.ok(compileOnnx(net, w).length > 1000, 'an ONNX file is written');
      const n = 2;
      const x = randn(new Rng(6), n * 3 * res * res);
      const nets: CompiledNet[] = [];
      try {
        const onnx = (await selectEngine('onnx', { threads: 2 })).compile(net, w);
        nets.push(onnx);
        const lo = onnx.predict(x, n);
        const wasm = (await selectEngine('wasm')).compile(net, w);
        nets.push(wasm);
        const lw = wasm.predict(x, n);
        assert.ok(maxAbs(lw) > 0.1, 'non-trivial logits');
        const ew = maxRel(lo, lw);
        assert.ok(ew <= ONNX_TOL, `${model}: onnx vs wasm ${ew}`);
        let line = `# ${model}: onnx vs wasm ${ew.toExponential(2)}`;
        if (!skipTorch) {
          const torch = createTorchEngine({ threads: 2 }).compile(net, w);
          nets.push(torch);
          const et = maxRel(lo, torch.predict(x, n));
          assert.ok(et <= ONNX_TOL, `${model}: onnx vs torch ${et}`);
          line += `, onnx vs torch ${et.toExponential(2)}`;
        }
        console.log(line);
      } finally {
        for (const c of nets) c.dispose();
      }
    },
  );
}
