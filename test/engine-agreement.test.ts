/**
 * The two engines compute the same network: same weights and input give the same logits (eval mode)
 * and the same loss gradients (train mode), within 1e-4 of the largest value. Weights, BN statistics
 * and gammas are randomised so no branch is trivially zero.
 */
import { test } from 'node:test';
import { buildModel } from '../src/arch/zoo.js';
import { buildRegNet } from '../src/arch/regnet.js';
import type { Network } from '../src/arch/ir.js';
import { createTfjsEngine } from '../src/engine/tfjs/engine.js';
import { createTorchEngine } from '../src/engine/torch/engine.js';
import { torchAvailable } from '../src/engine/torch/native.js';
import { Rng } from '../src/util/rng.js';
import { assertEnginesAgree, randomizedWeights } from './helpers/agreement.js';

// betas ~2.5 with gammas in [0.5, 1.5]: a few percent of ReLU inputs stay negative, few sit on the kink
const BETA = 2.5;
const torch = torchAvailable();
const CASES: Array<[string, () => Network]> = [
  ['regnetx_002', () => buildModel('regnetx_002', { res: 32, numClasses: 10, stem: 'small' })],
  [
    'regnety (SE)',
    () => buildRegNet({ depth: 6, w0: 24, wa: 20, wm: 2.5, groupSize: 8, seRatio: 0.25 }, { res: 32, numClasses: 10, stem: 'small' }),
  ],
  ['resnet18', () => buildModel('resnet18', { res: 32, numClasses: 10, stem: 'small' })],
  ['resnet50', () => buildModel('resnet50', { res: 32, numClasses: 10, stem: 'small' })],
];

for (const [label, make] of CASES) {
  test(
    `torch and tfjs (wasm) agree on ${label}: logits and gradients`,
    { skip: torch.ok ? false : `torch engine unavailable: ${torch.ok ? '' : torch.reason}` },
    async () => {
      const net = make();
      const w = randomizedWeights(net, 11, { beta: BETA });
      const n = 8;
      const rng = new Rng(5);
      const x = new Float32Array(n * 3 * 32 * 32);
      for (let i = 0; i < x.length; i++) x[i] = rng.normal();
      const labels = Int32Array.from([1, 7, 3, 0, 9, 2, 5, 5]);

      const te = createTorchEngine({ threads: 2 });
      const we = await createTfjsEngine('wasm');
      const a = te.compile(net, w);
      const b = we.compile(net, w);
      try {
        assertEnginesAgree(label, a, b, x, labels, n);
      } finally {
        a.dispose();
        b.dispose();
      }
    },
  );
}
