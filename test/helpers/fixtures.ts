/**
 * Reference data for the tests (test/fixtures/, see its README) and the reasons a test skips when an
 * optional part is missing. Tests open reference files only through here, never outside the repository.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { torchAvailable } from '../../src/engine/torch/native.js';

export const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url));

/** The reference complexity table: model -> its row (param_count, macs, flops, acts at 224). */
export interface ZooRow {
  model: string;
  res: number;
  param_count: number;
  macs: number;
  flops: number;
  acts: number;
}

export function zooReference(): ZooRow[] {
  const [header, ...lines] = readFileSync(join(FIXTURES, 'zoo_224.csv'), 'utf8').trim().split('\n');
  const cols = header!.split(',');
  return lines.map((line) => {
    const cells = line.split(',');
    const row: Record<string, string | number> = {};
    cols.forEach((c, i) => (row[c] = c === 'model' ? cells[i]! : Number(cells[i])));
    return row as unknown as ZooRow;
  });
}

/** Why the torch engine cannot run here, or false when it can. */
export function torchSkip(): string | false {
  const a = torchAvailable();
  return a.ok ? false : `torch addon unavailable (optional: apt-get install libtorch-dev): ${(a as { reason: string }).reason}`;
}

/** The training engine the tests use: torch where its addon is built, else the embedded wasm engine. */
export function trainEngine(): 'torch' | 'wasm' {
  return torchAvailable().ok ? 'torch' : 'wasm';
}

/** A python3 that imports every module named (the pyenv python3 on PATH may lack Debian's packages). */
export function findPython(modules: string[]): string | null {
  const candidates = [process.env.PYTHON, 'python3', '/usr/bin/python3'].filter(Boolean) as string[];
  return candidates.find((p) => spawnSync(p, ['-c', `import ${modules.join(', ')}`], { encoding: 'utf8' }).status === 0) ?? null;
}

export interface TimmReference {
  /** the checkpoint (timm state_dict names) */
  weights: string;
  /** `input` and reference `logits` */
  io: string;
  /** names and shapes of the checkpoint, in order */
  keys: string;
}

let resnet18Dir: string | null | undefined;

/** Generate the resnet18 reference with torchvision once per machine (cached in the temp folder). */
function resnet18Reference(): string | null {
  if (resnet18Dir !== undefined) return resnet18Dir;
  resnet18Dir = null;
  const python = findPython(['torch', 'torchvision']);
  if (!python) return null;
  const script = join(FIXTURES, 'make_resnet18_reference.py');
  const dir = join(tmpdir(), `regnet-fixtures-${process.getuid?.() ?? 0}`, 'resnet18-v1');
  if (!existsSync(join(dir, 'resnet18.io.safetensors'))) {
    mkdirSync(dir, { recursive: true });
    const r = spawnSync(python, [script, dir], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${script} failed: ${r.stderr}`);
  }
  resnet18Dir = dir;
  return dir;
}

/** The timm reference of MODEL (regnetx_002 is committed; resnet18 is generated), or why it is missing. */
export function timmReference(model: 'regnetx_002' | 'resnet18'): TimmReference | { skip: string } {
  const keys = join(FIXTURES, 'timm-weights', `${model}.keys.txt`);
  let dir = join(FIXTURES, 'timm-weights');
  if (model === 'resnet18') {
    const generated = resnet18Reference();
    if (!generated)
      return {
        skip: 'resnet18 reference needs python3 with torchvision (optional; its 45 MB timm checkpoint is generated, not committed)',
      };
    dir = generated;
  }
  return { weights: join(dir, `${model}.safetensors`), io: join(dir, `${model}.io.safetensors`), keys };
}

/** Names and shapes of a keys.txt file, in order. */
export function readKeys(file: string): Array<[string, number[]]> {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => [l.slice(0, l.indexOf(' ')), JSON.parse(l.slice(l.indexOf(' ') + 1)) as number[]]);
}

let effnetDir: string | null | undefined;

/**
 * The EfficientNet-B0 (torchvision, renamed to timm's names) and RegNetV (torch.nn rendering of timm's)
 * logits references of test/fixtures/effnet_reference.py, generated once per machine in the temp folder;
 * `{ skip }` where python3 with torchvision is absent.
 */
export function effnetReference(
  model: 'efficientnet_b0' | 'regnetv_040' | 'regnetv_064',
): { weights: string; io: string } | { skip: string } {
  if (effnetDir === undefined) {
    effnetDir = null;
    const python = findPython(['torch', 'torchvision', 'numpy']);
    if (python) {
      const script = join(FIXTURES, 'effnet_reference.py');
      const dir = join(tmpdir(), `regnet-fixtures-${process.getuid?.() ?? 0}`, 'effnet-v2');
      if (!existsSync(join(dir, 'regnetv_064.io.safetensors'))) {
        mkdirSync(dir, { recursive: true });
        const r = spawnSync(python, [script, 'logits', dir], { encoding: 'utf8' });
        if (r.status !== 0) throw new Error(`${script} failed: ${r.stderr}`);
      }
      effnetDir = dir;
    }
  }
  if (!effnetDir)
    return { skip: `${model} reference needs python3 with torch, torchvision and numpy (optional; generated, not committed)` };
  return { weights: join(effnetDir, `${model}.safetensors`), io: join(effnetDir, `${model}.io.safetensors`) };
}
