/**
 * Our image loader (src/data/loader.ts) vs timm's: torch.utils.data.DataLoader over
 * torchvision.datasets.ImageFolder with timm's eval transform (Resize(int(224 / 0.875), bicubic),
 * CenterCrop(224), ToTensor, Normalize), batch 32, num_workers = cores, on the same folder of full-size
 * JPEGs. Both produce the same normalised float32 batches (ours are PIL-exact).
 *
 *   node --import tsx bench/loader.ts [--images 520] [--rounds 3] [--workers N] [--dir DIR] [--python /usr/bin/python3] [--results-dir DIR]
 *
 * The folder is made at bench time from scikit-image's sample photographs (Debian python3-skimage):
 * random crops and scales re-encoded as JPEG (quality 75-95), 500x375 to 1024x768, landscape and portrait,
 * in 10 class folders; --dir reuses (or creates) a folder. Each round runs ours, then timm's, each over
 * two passes of the folder with the same workers (persistent_workers=True on timm's side): the first pass
 * includes starting the workers, the second is the steady state. Reports images/s (median over rounds)
 * and the ratio ours / timm (> 1: ours is faster), and the CPU time per image of each process over both
 * passes (all its threads or worker processes, from after importing torch on timm's side), which a
 * loaded machine disturbs less than wall-clock rates. --lanes 1 runs one image at a time per worker (no
 * decode/resize overlap), which keeps our runnable threads to timm's count on a busy machine.
 * The rows (pass 1, pass 2, both passes; CPU time per image over both) go to results/benchmark-loader-224px.csv,
 * written atomically, with the load average at the start and end.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { IMAGENET_MEAN, IMAGENET_STD, listImageFolder } from '../src/data/folder.js';
import { imagenetClasses } from '../src/data/imagenet-classes.js';
import { ImageLoader, sequentialPlans } from '../src/data/loader.js';
import { median } from '../src/util/median.js';
import { Rng } from '../src/util/rng.js';
import { load1, RESULTS_DIR, stamp, writeResultsCsv } from './csv.js';

const { values: args } = parseArgs({
  options: {
    images: { type: 'string', default: '520' },
    rounds: { type: 'string', default: '3' },
    workers: { type: 'string' },
    lanes: { type: 'string', default: '2' },
    dir: { type: 'string' },
    python: { type: 'string', default: '/usr/bin/python3' },
    'results-dir': { type: 'string' },
  },
});
const IMAGES = Number(args.images);
const ROUNDS = Number(args.rounds);
const WORKERS = args.workers !== undefined ? Number(args.workers) : availableParallelism();
const BATCH = 32;
const SKIMAGE = '/usr/lib/python3/dist-packages/skimage/data';
const PHOTOS = [
  'astronaut.png',
  'chelsea.png',
  'coffee.png',
  'rocket.jpg',
  'hubble_deep_field.jpg',
  'motorcycle_left.png',
  'camera.png',
  'horse.png',
];

/** 10 class folders of full-size JPEGs cut from the sample photographs (seeded: the same folder every time). */
async function makeFolder(dir: string, n: number): Promise<void> {
  const photos = PHOTOS.map((p) => join(SKIMAGE, p)).filter((p) => existsSync(p));
  if (photos.length < 3) throw new Error(`${SKIMAGE}: scikit-image's sample photographs are missing (apt-get install python3-skimage)`);
  const metas = await Promise.all(photos.map((p) => sharp(p).metadata()));
  const wnids = imagenetClasses().synsets.slice(0, 10);
  const rng = new Rng(12);
  for (let i = 0; i < n; i++) {
    const k = i % photos.length;
    const { width: W = 0, height: H = 0 } = metas[k]!;
    // a crop of 55-100% of each side, scaled so the long side is 500-1024 px, 4:3 or 3:4
    const cw = Math.round(W * rng.uniform(0.55, 1)),
      ch = Math.round(H * rng.uniform(0.55, 1));
    const left = rng.int(0, W - cw),
      top = rng.int(0, H - ch);
    const long = rng.int(500, 1024),
      short = Math.round((long * 3) / 4);
    const portrait = rng.next() < 0.25;
    const [w, h] = portrait ? [short, long] : [long, short];
    const d = join(dir, wnids[i % wnids.length]!);
    mkdirSync(d, { recursive: true });
    await sharp(photos[k]!)
      .extract({ left, top, width: cw, height: ch })
      .resize(w, h, { fit: 'fill' })
      .toColourspace('srgb')
      .jpeg({ quality: rng.int(75, 95) })
      .toFile(join(d, `img_${String(i).padStart(5, '0')}.jpg`));
  }
}

const PY = String.raw`
import json, resource, sys, time
import torch
from torch.utils.data import DataLoader
from torchvision import datasets, transforms
from torchvision.transforms import InterpolationMode
root, workers, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
tf = transforms.Compose([
    transforms.Resize(int(224 / 0.875), interpolation=InterpolationMode.BICUBIC),
    transforms.CenterCrop(224),
    transforms.ToTensor(),
    transforms.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
])
def cpu(who):
    u = resource.getrusage(who)
    return u.ru_utime + u.ru_stime
cpu0 = cpu(resource.RUSAGE_SELF)  # after importing torch
ds = datasets.ImageFolder(root, transform=tf)
loader = DataLoader(ds, batch_size=batch, shuffle=False, num_workers=workers, persistent_workers=workers > 0)
passes = []
for p in range(2):
    t = time.perf_counter()
    n = 0
    for x, y in loader:
        n += x.shape[0]
    passes.append([n, time.perf_counter() - t])
del loader  # shuts the workers down, so their CPU time is counted as the children's
print(json.dumps({'passes': passes, 'cpu': cpu(resource.RUSAGE_SELF) - cpu0 + cpu(resource.RUSAGE_CHILDREN)}))
`;

interface Passes {
  /** [images, seconds] of pass 1 and pass 2 */
  passes: Array<[number, number]>;
  /** CPU seconds of the whole process (all threads / worker processes) over both passes */
  cpu: number;
}

/** timm's loader in a python3 process (CPU time counted from after importing torch). */
function timmPasses(dir: string): Passes {
  const r = spawnSync(args.python!, ['-c', PY, dir, String(WORKERS), String(BATCH)], { encoding: 'utf8', maxBuffer: 1 << 20 });
  if (r.status !== 0) throw new Error(`${args.python}: ${r.stderr || r.error?.message}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Passes;
}

/** Ours on the same folder: the same two passes on one loader (its workers started inside pass 1). */
async function ourPasses(dir: string): Promise<Passes> {
  const list = listImageFolder(dir);
  const transform = {
    kind: 'eval' as const,
    imgSize: 224,
    cropPct: 0.875,
    interpolation: 'bicubic' as const,
    mean: IMAGENET_MEAN,
    std: IMAGENET_STD,
  };
  const out: Array<[number, number]> = [];
  let loader: ImageLoader | undefined;
  const cpu0 = process.cpuUsage();
  try {
    for (let p = 0; p < 2; p++) {
      const t = performance.now();
      loader ??= new ImageLoader({ workers: WORKERS, lanes: Number(args.lanes) });
      let n = 0;
      for await (const b of loader.stream(sequentialPlans(list.files, list.labels, BATCH), { transform, maxBatch: BATCH })) n += b.n;
      out.push([n, (performance.now() - t) / 1000]);
    }
  } finally {
    await loader?.close();
  }
  const cpu = process.cpuUsage(cpu0);
  return { passes: out, cpu: (cpu.user + cpu.system) / 1e6 };
}

async function main(): Promise<void> {
  const dir = args.dir ?? mkdtempSync(join(tmpdir(), 'regnet-loader-bench-'));
  const made = !args.dir;
  try {
    const have = existsSync(dir) ? readdirSync(dir).length : 0;
    if (have === 0) {
      console.log(`making ${IMAGES} JPEGs in ${dir} ...`);
      await makeFolder(dir, IMAGES);
    }
    const list = listImageFolder(dir);
    for (const f of list.files) readFileSync(f); // both sides then read from the page cache
    const up = () =>
      loadavg()
        .map((v) => v.toFixed(2))
        .join(' ');
    const load0 = up();
    const loadStart = load1();
    console.log(
      `${list.files.length} JPEGs, ${list.classes.length} classes; batch ${BATCH}, ${WORKERS} workers each (${availableParallelism()} cores), ${args.lanes} lane(s) per worker of ours; load average ${up()}`,
    );
    // per round: pass 1 img/s, pass 2 img/s, CPU ms per image over both passes, img/s over both passes
    const ours: number[][] = [[], [], [], []],
      timm: number[][] = [[], [], [], []];
    const n = list.files.length;
    for (let r = 0; r < ROUNDS; r++) {
      const a = await ourPasses(dir);
      const b = timmPasses(dir);
      for (let p = 0; p < 2; p++) {
        ours[p]!.push(a.passes[p]![0] / a.passes[p]![1]);
        timm[p]!.push(b.passes[p]![0] / b.passes[p]![1]);
      }
      ours[2]!.push((1000 * a.cpu) / (2 * n));
      timm[2]!.push((1000 * b.cpu) / (2 * n));
      const both = (x: Passes) => (x.passes[0]![0] + x.passes[1]![0]) / (x.passes[0]![1] + x.passes[1]![1]);
      ours[3]!.push(both(a));
      timm[3]!.push(both(b));
      const f = (x: Passes) =>
        `${x.passes.map(([k, s]) => (k / s).toFixed(1)).join(' / ')} img/s, ${((1000 * x.cpu) / (2 * n)).toFixed(1)} CPU ms/img`;
      console.log(`round ${r + 1}: ours ${f(a)}; timm ${f(b)} (pass 1 / pass 2); load average ${up()}`);
    }
    const lines = [
      `| | ours | timm's DataLoader | ours vs timm (> 1: ours faster) |`,
      `|---|---:|---:|---:|`,
      ...[0, 1].map((p) => {
        const o = median(ours[p]!),
          t = median(timm[p]!);
        return `| pass ${p === 0 ? '1 (workers starting)' : '2 (steady state)'} | ${o.toFixed(1)} img/s | ${t.toFixed(1)} img/s | ${(o / t).toFixed(2)}x |`;
      }),
      (() => {
        const o = median(ours[2]!),
          t = median(timm[2]!);
        return `| CPU time per image, all threads and processes | ${o.toFixed(1)} ms | ${t.toFixed(1)} ms | ${(t / o).toFixed(2)}x |`;
      })(),
    ];
    const summary = [
      `${list.files.length} JPEGs (500x375 to 1024x768), 224 px, crop_pct 0.875, bicubic, batch ${BATCH}, ${WORKERS} workers each (${args.lanes} lane(s) per worker of ours), ` +
        `${availableParallelism()} cores, median of ${ROUNDS} alternating rounds; load average (1, 5, 15 min) ${load0} at the start, ${up()} at the end`,
      '',
      ...lines,
    ].join('\n');
    console.log('\n' + summary);
    const loadEnd = load1();
    const COLUMNS = [
      'pass',
      'img_size',
      'batch_size',
      'images',
      'samples_per_sec',
      'cpu_ms_per_sample',
      'engine',
      'device',
      'threads',
      'lanes',
      'peer',
      'peer_samples_per_sec',
      'peer_cpu_ms_per_sample',
      'ratio',
      'cpu_ratio',
      'rounds',
      'load_start',
      'load_end',
      'measured',
    ];
    const rows = (['1', '2', 'both'] as const).map((pass) => {
      const k = pass === 'both' ? 3 : Number(pass) - 1;
      const o = median(ours[k]!),
        t = median(timm[k]!);
      const co = pass === 'both' ? median(ours[2]!) : undefined,
        ct = pass === 'both' ? median(timm[2]!) : undefined;
      return {
        pass,
        img_size: '224',
        batch_size: String(BATCH),
        images: String(pass === 'both' ? 2 * n : n),
        samples_per_sec: o.toFixed(2),
        cpu_ms_per_sample: co === undefined ? '' : co.toFixed(2),
        engine: 'regnet ImageLoader',
        device: 'cpu',
        threads: String(WORKERS),
        lanes: String(args.lanes),
        peer: 'timm DataLoader (torchvision ImageFolder)',
        peer_samples_per_sec: t.toFixed(2),
        peer_cpu_ms_per_sample: ct === undefined ? '' : ct.toFixed(2),
        ratio: (o / t).toFixed(3),
        cpu_ratio: co === undefined ? '' : (ct! / co).toFixed(3),
        rounds: String(ROUNDS),
        load_start: loadStart,
        load_end: loadEnd,
        measured: stamp(),
      };
    });
    writeResultsCsv(join(args['results-dir'] ?? RESULTS_DIR, 'benchmark-loader-224px.csv'), COLUMNS, rows);
  } finally {
    if (made) rmSync(dir, { recursive: true, force: true });
  }
}

await main();
