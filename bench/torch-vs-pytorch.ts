/**
 * Our torch engine vs PyTorch (python3 + torchvision) on the same architectures, threads, batch and
 * resolution. Runs alternate (ours, PyTorch, ours, ...) so drift hits both; reports medians and the
 * ratio ours/PyTorch in throughput (> 1 = we are faster), and writes the rows (timm's benchmark columns
 * plus engine, device, threads, peer, ratio and the load average) to results/benchmark-infer-torch-vs-pytorch.csv
 * and results/benchmark-train-torch-vs-pytorch.csv, atomically (the README's table is checked against them).
 *
 *   node --import tsx bench/torch-vs-pytorch.ts [--rounds 3] [--iters 2] [--threads 2] [--only name] [--results-dir DIR]
 *
 * torchvision names: resnet18/resnet50 match ours; regnet_x_1_6gf / regnet_x_3_2gf are regnetx_016 /
 * regnetx_032. At 32x32 both sides use the CIFAR stem (3x3 stride-1 conv, no max pool); parameter
 * counts are printed side by side as a check that the two networks are the same.
 */
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { complexity } from '../src/arch/complexity.js';
import { buildModel } from '../src/arch/zoo.js';
import { createTorchEngine } from '../src/engine/torch/engine.js';
import { torchAvailable } from '../src/engine/torch/native.js';
import { median } from '../src/util/median.js';
import { load1, peerColumns, peerRow, RESULTS_DIR, writeResultsCsv } from './csv.js';

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    iters: { type: 'string', default: '2' },
    threads: { type: 'string', default: '2' },
    only: { type: 'string' },
    python: { type: 'string' },
    'results-dir': { type: 'string' },
  },
});
const ROUNDS = Number(args.rounds);
const ITERS = Number(args.iters);
const THREADS = Number(args.threads);

interface Workload {
  model: string;
  tv: string;
  mode: 'train' | 'infer';
  res: number;
  batch: number;
  classes: number;
}
const TV: Record<string, string> = {
  resnet18: 'resnet18',
  resnet50: 'resnet50',
  regnetx_016: 'regnet_x_1_6gf',
  regnetx_032: 'regnet_x_3_2gf',
};
const W = (model: string, mode: 'train' | 'infer', res: number, batch: number, classes: number): Workload => ({
  model,
  tv: TV[model]!,
  mode,
  res,
  batch,
  classes,
});
const WORKLOADS: Workload[] = [
  W('resnet50', 'infer', 224, 8, 1000),
  W('regnetx_032', 'infer', 224, 8, 1000),
  W('regnetx_016', 'infer', 224, 8, 1000),
  W('resnet18', 'train', 224, 16, 1000),
  W('regnetx_016', 'train', 224, 16, 1000),
  W('resnet18', 'train', 32, 64, 10),
  W('regnetx_016', 'train', 32, 64, 10),
].filter((w) => !args.only || `${w.model}-${w.mode}-${w.res}`.includes(args.only));

const SGD = { lr: 0.01, momentum: 0.9, nesterov: false, weightDecay: 5e-5, labelSmoothing: 0.1 };

const PY = String.raw`
import sys, json, time, torch, torch.nn as nn, torch.nn.functional as F, torchvision
torch.set_num_threads(int(sys.argv[1]))
state = {}
def setup(c):
    torch.manual_seed(0)
    m = getattr(torchvision.models, c['tv'])(num_classes=c['classes'])
    if c['res'] <= 64:  # CIFAR stem, as our builders' stem='small'
        if c['tv'].startswith('resnet'):
            m.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False); m.maxpool = nn.Identity()
        else:
            m.stem[0].stride = (1, 1)
    x = torch.randn(c['batch'], 3, c['res'], c['res'])
    y = torch.randint(0, c['classes'], (c['batch'],))
    decay = [p for p in m.parameters() if p.ndim > 1]
    other = [p for p in m.parameters() if p.ndim <= 1]
    opt = torch.optim.SGD([{'params': decay, 'weight_decay': c['wd']}, {'params': other, 'weight_decay': 0}], lr=c['lr'], momentum=c['momentum'])
    state.update(m=m, x=x, y=y, opt=opt, c=c)
    return {'params': sum(p.numel() for p in m.parameters()), 'torch': torch.__version__, 'threads': torch.get_num_threads()}
def step():
    m, x, y, opt, c = state['m'], state['x'], state['y'], state['opt'], state['c']
    if c['mode'] == 'train':
        m.train()
        out = m(x)
        loss = F.cross_entropy(out, y, label_smoothing=c['ls'])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        loss.item(); int((out.argmax(1) == y).sum())
    else:
        m.eval()
        with torch.no_grad():
            m(x).numpy().copy()
for line in sys.stdin:
    c = json.loads(line)
    if c['cmd'] == 'setup':
        r = setup(c)
    else:
        ts = []
        for _ in range(c['iters']):
            t0 = time.perf_counter(); step(); ts.append((time.perf_counter() - t0) * 1000)
        r = {'times': ts}
    print(json.dumps(r), flush=True)
`;

/** A python3 that imports torch and torchvision (the pyenv shim on PATH may lack them). */
function findPython(): string | null {
  for (const p of [args.python, process.env.PYTHON, 'python3', '/usr/bin/python3'].filter(Boolean) as string[]) {
    const r = spawnSync(p, ['-c', 'import torch, torchvision'], { stdio: 'ignore' });
    if (r.status === 0) return p;
  }
  return null;
}

class PyWorker {
  private readonly lines: AsyncIterator<string>;
  private readonly proc;
  constructor(python: string) {
    this.proc = spawn(python, ['-c', PY, String(THREADS)], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.lines = createInterface({ input: this.proc.stdout })[Symbol.asyncIterator]();
  }
  async call<T>(msg: object): Promise<T> {
    this.proc.stdin.write(JSON.stringify(msg) + '\n');
    const r = await this.lines.next();
    if (r.done) throw new Error('python worker exited');
    return JSON.parse(r.value) as T;
  }
  close(): void {
    this.proc.stdin.end();
  }
}

async function main(): Promise<void> {
  const avail = torchAvailable();
  if (!avail.ok) {
    console.log(`torch engine unavailable: ${avail.reason}`);
    return;
  }
  const python = findPython();
  if (!python) {
    console.log('python3 with torch and torchvision not found: nothing to compare against');
    return;
  }
  const engine = createTorchEngine({ threads: THREADS });
  const py = new PyWorker(python);
  const csv: Record<'infer' | 'train', Array<Record<string, string>>> = { infer: [], train: [] };
  console.log(`${THREADS} threads each, ${ROUNDS} alternating rounds x ${ITERS} iterations; 1-minute load average ${load1()}`);
  console.log('| model (torchvision) | mode | res | batch | ours img/s | PyTorch img/s | ratio | params | load |');
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const w of WORKLOADS) {
    const loadStart = load1();
    const small = w.res <= 64;
    const net = buildModel(w.model, { res: w.res, numClasses: w.classes, stem: small ? 'small' : 'imagenet' });
    const ours = engine.compile(net);
    const params = ours.paramCount();
    const x = new Float32Array(w.batch * 3 * w.res * w.res).map(() => Math.random() * 2 - 1);
    const y = new Int32Array(w.batch).map(() => Math.floor(Math.random() * w.classes));
    const step = w.mode === 'train' ? () => ours.trainStep(x, y, w.batch, SGD) : () => ours.predict(x, w.batch);
    const info = await py.call<{ params: number; torch: string; threads: number }>({
      cmd: 'setup',
      ...w,
      lr: SGD.lr,
      momentum: SGD.momentum,
      wd: SGD.weightDecay,
      ls: SGD.labelSmoothing,
    });
    const pyVersion = info.torch;
    if (info.params !== params) throw new Error(`${w.model}: ${params} parameters vs PyTorch's ${info.params}: not the same network`);
    // warm-up both (allocator, oneDNN primitive caches)
    step();
    await py.call({ cmd: 'run', iters: 1 });
    const tOurs: number[] = [];
    const tPy: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      for (let i = 0; i < ITERS; i++) {
        const t0 = performance.now();
        step();
        tOurs.push(performance.now() - t0);
      }
      tPy.push(...(await py.call<{ times: number[] }>({ cmd: 'run', iters: ITERS })).times);
    }
    ours.dispose();
    const mo = median(tOurs);
    const mp = median(tPy);
    const c = complexity(net);
    const row = peerRow({
      mode: w.mode,
      model: w.model,
      imgSize: w.res,
      batch: w.batch,
      stepTimeMs: mo,
      params: c.params,
      macs: c.macs,
      acts: c.acts,
      engine: 'torch',
      device: 'cpu',
      threads: THREADS,
      peer: `pytorch ${pyVersion}`,
      peerModel: `torchvision.${w.tv}`,
      peerStepTimeMs: mp,
      rounds: ROUNDS,
      iters: ITERS,
      loadStart,
      loadEnd: load1(),
      extra: { num_classes: String(w.classes), stem: small ? 'small' : 'imagenet', engine_version: engine.info.version },
    });
    csv[w.mode].push(row);
    const m = w.mode;
    console.log(
      `| ${w.model} (${w.tv}) | ${m} | ${w.res} | ${w.batch} | ${Number(row[`${m}_samples_per_sec`]).toFixed(1)} | ${Number(row.peer_samples_per_sec).toFixed(1)} | **${Number(row.ratio).toFixed(2)}** | ${params} | ${loadStart}-${row.load_end} |`,
    );
  }
  py.close();
  const dir = args['results-dir'] ?? RESULTS_DIR;
  for (const mode of ['infer', 'train'] as const) {
    writeResultsCsv(
      join(dir, `benchmark-${mode}-torch-vs-pytorch.csv`),
      peerColumns(mode, ['num_classes', 'stem', 'engine_version']),
      csv[mode],
    );
  }
}

await main();
