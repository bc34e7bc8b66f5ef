/**
 * Inference speed: our onnx engine (onnxruntime-node on the exported graph), our torch engine (when its
 * addon is built) and PyTorch (python3 + torchvision, eval mode, no_grad) on the same architectures at
 * 224 px, batch 1 and 8, the same number of threads. Rounds alternate (onnx, torch, PyTorch, onnx, ...)
 * so load drift hits all three; medians of the step times become img/s. Prints a markdown table with
 * ratios (> 1: onnx faster) and writes results/benchmark-infer-onnx-vs-pytorch.csv atomically (timm's
 * benchmark columns for onnx, PyTorch as the peer, plus the torch engine's img/s and onnx / torch).
 *
 *   node --import tsx bench/onnx-vs-pytorch.ts [--rounds 5] [--iters 2] [--threads 2] [--only resnet50] [--results-dir DIR]
 *
 * torchvision stand-ins: resnet50 = resnet50, regnet_x_3_2gf = regnetx_032, regnet_x_1_6gf = regnetx_016,
 * regnet_y_1_6gf = regnety_016 (same stage widths, depths, group widths and SE); parameter counts are
 * printed side by side as the check that the networks match.
 */
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { complexity } from '../src/arch/complexity.js';
import { initWeights } from '../src/arch/init.js';
import { buildModel } from '../src/arch/zoo.js';
import { selectEngine } from '../src/engine/select.js';
import type { CompiledNet, Engine } from '../src/engine/types.js';
import { torchAvailable } from '../src/engine/torch/native.js';
import { median } from '../src/util/median.js';
import { Rng } from '../src/util/rng.js';
import { ips, load1, peerColumns, peerRow, RESULTS_DIR, writeResultsCsv } from './csv.js';

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
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
const RES = 224;

const STAND_INS: Array<[string, string]> = [
  ['resnet50', 'resnet50'],
  ['regnetx_032', 'regnet_x_3_2gf'],
  ['regnetx_016', 'regnet_x_1_6gf'],
  ['regnety_016', 'regnet_y_1_6gf'],
];
const WORKLOADS = STAND_INS.flatMap(([model, tv]) => [1, 8].map((batch) => ({ model, tv, batch }))).filter(
  (w) => !args.only || `${w.model}-b${w.batch}`.includes(args.only),
);

/** Inference worker: one line of JSON in, one out. */
const PY = String.raw`
import sys, json, time, torch, torchvision
torch.set_num_threads(int(sys.argv[1]))
m = x = None
for line in sys.stdin:
    c = json.loads(line)
    if c['cmd'] == 'setup':
        torch.manual_seed(0)
        m = getattr(torchvision.models, c['tv'])(num_classes=1000).eval()
        x = torch.randn(c['batch'], 3, c['res'], c['res'])
        r = {'params': sum(p.numel() for p in m.parameters()), 'torch': torch.__version__, 'threads': torch.get_num_threads()}
    else:
        ts = []
        with torch.no_grad():
            for _ in range(c['iters']):
                t0 = time.perf_counter(); m(x).numpy().copy(); ts.append((time.perf_counter() - t0) * 1000)
        r = {'times': ts}
    print(json.dumps(r), flush=True)
`;

function findPython(): string | null {
  for (const p of [args.python, process.env.PYTHON, 'python3', '/usr/bin/python3'].filter(Boolean) as string[]) {
    if (spawnSync(p, ['-c', 'import torch, torchvision'], { stdio: 'ignore' }).status === 0) return p;
  }
  return null;
}

class PyTorchWorker {
  private readonly proc;
  private readonly lines: AsyncIterator<string>;
  constructor(python: string) {
    this.proc = spawn(python, ['-c', PY, String(THREADS)], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.lines = createInterface({ input: this.proc.stdout })[Symbol.asyncIterator]();
  }
  async call<T>(msg: object): Promise<T> {
    this.proc.stdin.write(JSON.stringify(msg) + '\n');
    const r = await this.lines.next();
    if (r.done) throw new Error('PyTorch worker exited');
    return JSON.parse(r.value) as T;
  }
  close(): void {
    this.proc.stdin.end();
  }
}

function timeSteps(net: CompiledNet, x: Float32Array, batch: number, iters: number, into: number[]): void {
  for (let i = 0; i < iters; i++) {
    const t0 = performance.now();
    net.predict(x, batch);
    into.push(performance.now() - t0);
  }
}

const fmt = (v: number | undefined) => (v === undefined ? '-' : v.toFixed(1));
const ratio = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined ? '-' : `**${(a / b).toFixed(2)}**`);

async function main(): Promise<void> {
  let onnx: Engine;
  try {
    onnx = await selectEngine('onnx', { threads: THREADS });
  } catch (e) {
    console.log(`onnx engine unavailable: ${(e as Error).message}`);
    return;
  }
  const torch = torchAvailable().ok ? await selectEngine('torch', { threads: THREADS }) : undefined;
  const python = findPython();
  const py = python ? new PyTorchWorker(python) : undefined;
  if (!torch) console.log('(torch engine not built: its column stays empty)');
  if (!py) console.log('(python3 with torch and torchvision not found: the PyTorch column stays empty)');
  console.log(
    `onnx: ${onnx.info.version}; torch: ${torch ? torch.info.version : 'not built'}; ${THREADS} threads each, ${RES} px, ` +
      `${ROUNDS} alternating rounds x ${ITERS} iterations; 1-minute load average ${load1()}`,
  );
  console.log(
    '| model (torchvision stand-in) | batch | onnx img/s | torch img/s | PyTorch img/s | onnx / PyTorch | onnx / torch | params | load |',
  );
  console.log('|---|---|---|---|---|---|---|---|---|');
  const csv: Array<Record<string, string>> = [];
  let pyVersion = '';
  for (const w of WORKLOADS) {
    const loadStart = load1();
    const net = buildModel(w.model, { res: RES, numClasses: 1000 });
    const weights = initWeights(net, 0);
    const rng = new Rng(1);
    const x = new Float32Array(w.batch * 3 * RES * RES).map(() => rng.normal());
    const ox = onnx.compile(net, weights);
    const tx = torch?.compile(net, weights);
    const info = py ? await py.call<{ params: number; torch: string }>({ cmd: 'setup', tv: w.tv, batch: w.batch, res: RES }) : undefined;
    if (info) pyVersion = info.torch;
    // warm-up: allocators, kernel selection, caches
    timeSteps(ox, x, w.batch, 1, []);
    if (tx) timeSteps(tx, x, w.batch, 1, []);
    if (py) await py.call({ cmd: 'run', iters: 1 });
    const tOnnx: number[] = [];
    const tTorch: number[] = [];
    const tPy: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      timeSteps(ox, x, w.batch, ITERS, tOnnx);
      if (tx) timeSteps(tx, x, w.batch, ITERS, tTorch);
      if (py) tPy.push(...(await py.call<{ times: number[] }>({ cmd: 'run', iters: ITERS })).times);
    }
    const params = ox.paramCount();
    ox.dispose();
    tx?.dispose();
    if (info && info.params !== params)
      throw new Error(`${w.model}: ${params} parameters vs torchvision's ${info.params}: not the same network`);
    const c = complexity(net);
    const o = ips(w.batch, median(tOnnx));
    const t = tTorch.length ? ips(w.batch, median(tTorch)) : undefined;
    const p = tPy.length ? ips(w.batch, median(tPy)) : undefined;
    csv.push(
      peerRow({
        mode: 'infer',
        model: w.model,
        imgSize: RES,
        batch: w.batch,
        stepTimeMs: median(tOnnx),
        params: c.params,
        macs: c.macs,
        acts: c.acts,
        engine: 'onnx',
        device: 'cpu',
        threads: THREADS,
        peer: py ? `pytorch ${pyVersion}` : undefined,
        peerModel: py ? `torchvision.${w.tv}` : undefined,
        peerStepTimeMs: tPy.length ? median(tPy) : undefined,
        rounds: ROUNDS,
        iters: ITERS,
        loadStart,
        loadEnd: load1(),
        extra: {
          torch_samples_per_sec: t === undefined ? '' : t.toFixed(2),
          ratio_torch: t === undefined ? '' : (o / t).toFixed(3),
          engine_version: onnx.info.version,
          torch_version: torch?.info.version ?? '',
        },
      }),
    );
    console.log(
      `| ${w.model} (${w.tv}) | ${w.batch} | ${fmt(o)} | ${fmt(t)} | ${fmt(p)} | ${ratio(o, p)} | ${ratio(o, t)} | ${params} | ${loadStart}-${load1()} |`,
    );
  }
  py?.close();
  writeResultsCsv(
    join(args['results-dir'] ?? RESULTS_DIR, 'benchmark-infer-onnx-vs-pytorch.csv'),
    peerColumns('infer', ['torch_samples_per_sec', 'ratio_torch', 'engine_version', 'torch_version']),
    csv,
  );
}

await main();
