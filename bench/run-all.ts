/**
 * `npm run bench`: every benchmark in turn, each in its own process so one engine's threads and memory
 * do not disturb the next. Medians and ratios are printed by each script, and each writes its README table's
 * CSV under results/ (benchmark-*.csv, atomically; `scripts/reproduce.sh speed` does the same into a
 * temporary folder first); bench/results/*.md keep notes on past runs.
 *   REGNET_BENCH=sample,tfjs,torch,onnx,amp,loader   choose a subset
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const all: Array<[string, string[], string]> = [
  ['sample', ['bench/sample.ts'], 'sampler: accepted samples/s with flops ranges (one core)'],
  ['tfjs', ['bench/tfjs-wasm.ts', '3'], 'tfjs on wasm: train/infer samples/s, batch 64, 32 px, 10 classes'],
  ['torch', ['bench/torch-vs-pytorch.ts'], 'torch engine vs PyTorch (needs python3-torchvision), same threads, alternating runs'],
  [
    'onnx',
    ['bench/onnx-vs-pytorch.ts'],
    'onnx engine vs torch engine vs PyTorch inference (needs onnxruntime-node), same threads, alternating runs',
  ],
  [
    'amp',
    ['bench/torch-amp-cpu.ts'],
    'torch engine fp32 vs bf16 autocast, NCHW vs channels-last (train and infer, 32 px), alternating steps; writes results/benchmark-*-torch-32px.csv',
  ],
  ['loader', ['bench/loader.ts'], "image loader vs timm's DataLoader (needs python3-torchvision, python3-skimage), alternating runs"],
];
const want = new Set((process.env.REGNET_BENCH ?? all.map((a) => a[0]).join(',')).split(','));
let failed = 0;
for (const [name, args, what] of all) {
  if (!want.has(name)) continue;
  console.log(`\n## ${name}: ${what}\n`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', ...args], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    failed++;
    console.log(`(${name} exited with ${r.status})`);
  }
}
process.exitCode = failed ? 1 : 0;
