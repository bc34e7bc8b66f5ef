/**
 * The whole network vs PyTorch in python3 (an independent runtime) from the same weights and batch:
 * eval logits, train-mode loss and every parameter gradient. resnet18 is compared with torchvision's
 * own ResNet (same state_dict names); a RegNetY-style net with SE, SiLU and GroupNorm with a direct
 * torch.nn.functional rendering of the IR. Skips when python3 with torch is absent.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { Network } from '../src/arch/ir.js';
import { initWeights } from '../src/arch/init.js';
import { paramSpecs } from '../src/arch/params.js';
import { buildRegNet } from '../src/arch/regnet.js';
import { buildResNet } from '../src/arch/resnet.js';
import type { WeightMap } from '../src/arch/weights.js';
import { buildModel } from '../src/arch/zoo.js';
import { createTorchEngine } from '../src/engine/torch/engine.js';
import { Rng } from '../src/util/rng.js';
import { findPython, torchSkip } from './helpers/fixtures.js';
import { maxRel } from './helpers/numeric.js';

const python = findPython(['torch', 'torchvision', 'numpy']);
const skip = torchSkip() || (!python && 'python3 with torch, torchvision and numpy not found (optional independent reference)');
if (skip) console.log(`# skipping torch/PyTorch agreement tests: ${skip}`);

const PY = String.raw`
import json, sys, numpy as np, torch, torch.nn.functional as F, torchvision
torch.set_num_threads(2)
d = sys.argv[1]
meta = json.load(open(d + '/in.json'))
buf = np.fromfile(d + '/in.bin', dtype=np.float32)
get = lambda e: torch.from_numpy(buf[e['off']:e['off'] + e['n']].copy()).reshape(e['shape'])
W = {k: get(v) for k, v in meta['weights'].items()}
x = get(meta['x']); y = torch.tensor(meta['y'], dtype=torch.long)
net = meta['net']; ls = meta['ls']

if meta['ref'] == 'torchvision':
    m = torchvision.models.resnet18(num_classes=net['numClasses'])
    missing, unexpected = m.load_state_dict(W, strict=False)
    assert not unexpected and all(k.endswith('num_batches_tracked') for k in missing), (missing, unexpected)
    params = dict(m.named_parameters())
    def forward(training):
        m.train(training)
        return m(x)
else:
    params = {k: W[k].requires_grad_() for k in meta['trainable']}
    def forward(training):
        vals = [x]
        for n in net['nodes'][1:]:
            op = n['op']
            v = lambda i: vals[i]
            if op == 'conv':
                o = F.conv2d(v(n['input']), W[n['name'] + '.weight'], W[n['name'] + '.bias'] if n['bias'] else None, n['stride'], n['pad'], 1, n['groups'])
            elif op == 'bn':
                nm = n['name']
                o = F.batch_norm(v(n['input']), None if training else W[nm + '.running_mean'], None if training else W[nm + '.running_var'], W[nm + '.weight'], W[nm + '.bias'], training, n['momentum'], n['eps'])
            elif op == 'gn':
                o = F.group_norm(v(n['input']), n['groups'], W[n['name'] + '.weight'], W[n['name'] + '.bias'], n['eps'])
            elif op == 'relu': o = F.relu(v(n['input']))
            elif op == 'sigmoid': o = torch.sigmoid(v(n['input']))
            elif op == 'silu': o = F.silu(v(n['input']))
            elif op == 'maxpool': o = F.max_pool2d(v(n['input']), n['k'], n['stride'], n['pad'])
            elif op == 'avgpool': o = F.avg_pool2d(v(n['input']), n['k'], n['stride'], n['pad'], n['ceil'], n['countIncludePad'])
            elif op == 'gap': o = v(n['input']).mean((2, 3), keepdim=True)
            elif op == 'fc': o = F.linear(v(n['input']).flatten(1), W[n['name'] + '.weight'], W[n['name'] + '.bias'] if n['bias'] else None)
            elif op == 'add': o = v(n['inputs'][0]) + v(n['inputs'][1])
            elif op == 'mul': o = v(n['inputs'][0]) * v(n['inputs'][1])
            else: raise ValueError(op)
            vals.append(o)
        return vals[net['output']]

with torch.no_grad():
    logits = forward(False)
loss = F.cross_entropy(forward(True), y, label_smoothing=ls)
loss.backward()
out = {'logits': logits.flatten().tolist(), 'loss': loss.item(), 'grads': {k: params[k].grad.flatten().tolist() for k in meta['trainable']}}
json.dump(out, open(d + '/out.json', 'w'))
`;

interface PyOut {
  logits: number[];
  loss: number;
  grads: Record<string, number[]>;
}

/** Weights away from their init (random norm affine params and running stats) so every path matters. */
function weights(net: Network, seed: number): WeightMap {
  const rng = new Rng(seed);
  const w = initWeights(net, seed);
  for (const p of paramSpecs(net)) {
    const d = w.get(p.name)!.data;
    if (p.role === 'norm_weight' || p.role === 'bn_var') for (let i = 0; i < d.length; i++) d[i] = rng.uniform(0.5, 1.5);
    if (p.role === 'norm_bias' || p.role === 'bn_mean' || p.role === 'conv_bias' || p.role === 'fc_bias')
      for (let i = 0; i < d.length; i++) d[i] = rng.uniform(-0.2, 0.2);
  }
  return w;
}

function runPython(
  net: Network,
  w: WeightMap,
  x: Float32Array,
  xShape: number[],
  y: Int32Array,
  ls: number,
  ref: 'torchvision' | 'ir',
): PyOut {
  const dir = mkdtempSync(join(tmpdir(), 'regnet-torch-'));
  try {
    const chunks: Float32Array[] = [];
    let off = 0;
    const put = (data: Float32Array, shape: number[]) => {
      chunks.push(data);
      off += data.length;
      return { off: off - data.length, n: data.length, shape };
    };
    const meta = {
      ref,
      ls,
      net: { nodes: net.nodes, output: net.output, numClasses: net.numClasses },
      trainable: paramSpecs(net)
        .filter((p) => p.trainable)
        .map((p) => p.name),
      weights: Object.fromEntries([...w].map(([k, v]) => [k, put(v.data, v.shape)])),
      x: put(x, xShape),
      y: Array.from(y),
    };
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
    return JSON.parse(readFileSync(join(dir, 'out.json'), 'utf8')) as PyOut;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function compare(net: Network, ref: 'torchvision' | 'ir', n: number): void {
  const [c, h, wd] = net.nodes[0]!.out;
  const rng = new Rng(7);
  const x = new Float32Array(n * c * h * wd).map(() => rng.normal());
  const y = new Int32Array(n).map(() => rng.int(0, net.numClasses - 1));
  const w = weights(net, 21);
  const ls = 0.1;
  const py = runPython(net, w, x, [n, c, h, wd], y, ls, ref);
  const compiled = createTorchEngine({ threads: 2 }).compile(net, w);
  try {
    const logits = compiled.predict(x, n);
    const eLogits = maxRel(logits, py.logits);
    assert.ok(eLogits < 1e-4, `${net.name}: eval logits differ by ${eLogits} of the max logit`);
    const { loss, grads } = compiled.lossAndGrads(x, y, n, ls);
    assert.ok(Math.abs(loss - py.loss) < 1e-4 * Math.max(1, py.loss), `${net.name}: loss ${loss} vs ${py.loss}`);
    let worst = 0;
    let worstName = '';
    for (const [name, g] of Object.entries(py.grads)) {
      const e = maxRel(grads.get(name)!.data, g);
      if (e > worst) [worst, worstName] = [e, name];
    }
    assert.equal(grads.size, Object.keys(py.grads).length);
    // gradients sum over the batch and many positions in float32: 1e-3 of each tensor's largest entry
    assert.ok(worst < 1e-3, `${net.name}: gradient of ${worstName} differs by ${worst} of its max`);
    console.log(
      `# ${net.name}: logits rel err ${eLogits.toExponential(2)}, loss ${loss.toFixed(6)} vs ${py.loss.toFixed(6)}, worst grad rel err ${worst.toExponential(2)} (${worstName})`,
    );
  } finally {
    compiled.dispose();
  }
}

describe('torch engine vs PyTorch', { skip }, () => {
  it('resnet18 (32x32, 10 classes) matches torchvision: logits, loss, gradients', () => {
    compare(buildModel('resnet18', { res: 32, numClasses: 10 }), 'torchvision', 4);
  });

  it('a RegNetY-style net with SE, SiLU and GroupNorm matches torch.nn.functional', () => {
    const net = buildRegNet(
      { depth: 4, w0: 24, wa: 16, wm: 2, groupSize: 8, seRatio: 0.25, act: 'silu', norm: 'gn' },
      { res: 32, numClasses: 10, stem: 'small' },
    );
    compare(net, 'ir', 4);
  });

  it('regnetx_002 with batch norm (imagenet stem, 32x32) matches torch.nn.functional', () => {
    compare(buildModel('regnetx_002', { res: 32, numClasses: 10 }), 'ir', 4);
  });

  it('an SE-ResNeXt-D (deep stem, avg-pool shortcuts on odd maps, grouped 3x3, SE) matches torch.nn.functional', () => {
    const spec = {
      block: 'bottleneck' as const,
      layers: [1, 2, 1, 1],
      cardinality: 8,
      baseWidth: 4,
      stemType: 'deep' as const,
      avgDown: true,
      seRatio: 1 / 16,
    };
    compare(buildResNet(spec, { res: 40, numClasses: 10 }), 'ir', 4);
  });
});
