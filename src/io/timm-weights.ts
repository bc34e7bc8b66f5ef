/**
 * pytorch-image-models checkpoints (safetensors) <-> our IR.
 *
 * IR layer names are timm's state_dict prefixes, so the mapping is one to one; what is left to do is
 * checking: every parameter present with the right shape, nothing unexpected. `num_batches_tracked`
 * (int64 BN counters) only matter to timm when BN momentum is None, so they are dropped on load and
 * written back as int64 scalars by toTimmStateDict so timm's load_state_dict(strict=True) accepts our
 * checkpoints. Layout conversion (OIHW -> HWIO etc.) is each engine's job in compile()/setWeights().
 */
import { extname } from 'node:path';
import { initWeights } from '../arch/init.js';
import type { Network } from '../arch/ir.js';
import { numel, paramSpecs } from '../arch/params.js';
import type { WeightMap, WeightTensor } from '../arch/weights.js';
import { UsageError } from '../util/errors.js';
import { readSafetensors, writeSafetensors, type TensorInput } from './safetensors.js';

const NBT = '.num_batches_tracked';
/** at most this many names per kind in messages */
const LIST_MAX = 5;

export interface Checkpoint {
  /** float tensors as float32, minus num_batches_tracked */
  weights: WeightMap;
  /** non-float tensors other than num_batches_tracked (never loadable into the IR) */
  nonFloat: Map<string, { dtype: string; shape: number[] }>;
  metadata: Record<string, string>;
}

/**
 * Read a timm/PyTorch checkpoint saved as safetensors. A `module.` prefix on every name (DataParallel
 * checkpoints) is stripped, as timm's clean_state_dict does.
 */
export function readTimmCheckpoint(path: string): Checkpoint {
  const ext = extname(path).toLowerCase();
  if (ext === '.pth' || ext === '.pt' || ext === '.bin' || ext === '.ckpt') {
    throw new UsageError(
      `${path}: pickled PyTorch checkpoints are not supported; convert it with ` +
        `safetensors.torch.save_file(torch.load(path, map_location="cpu"), "model.safetensors")`,
    );
  }
  const f = readSafetensors(path, { floatToF32: true });
  const names = [...f.tensors.keys()];
  const strip = names.length > 0 && names.every((n) => n.startsWith('module.'));
  const weights: WeightMap = new Map();
  const nonFloat = new Map<string, { dtype: string; shape: number[] }>();
  for (const [raw, t] of f.tensors) {
    const name = strip ? raw.slice('module.'.length) : raw;
    if (name.endsWith(NBT)) continue;
    if (t.data instanceof Float32Array) weights.set(name, { shape: t.shape, data: t.data });
    else nonFloat.set(name, { dtype: t.dtype, shape: t.shape });
  }
  return { weights, nonFloat, metadata: f.metadata };
}

export interface ShapeMismatch {
  name: string;
  got: number[];
  expected: number[];
}

export interface WeightMatch {
  /** the checkpoint tensors that fit the network (name and shape) */
  matched: WeightMap;
  /** network parameters the checkpoint lacks */
  missing: string[];
  /** checkpoint tensors the network has no parameter for */
  unexpected: string[];
  mismatched: ShapeMismatch[];
}

/** Compare a checkpoint with a network's parameters (paramSpecs order for missing/mismatched). */
export function matchWeights(net: Network, ckpt: WeightMap, nonFloat?: Checkpoint['nonFloat']): WeightMatch {
  const specs = paramSpecs(net);
  const known = new Set(specs.map((s) => s.name));
  const matched: WeightMap = new Map();
  const missing: string[] = [];
  const mismatched: ShapeMismatch[] = [];
  for (const s of specs) {
    const w = ckpt.get(s.name);
    if (!w) {
      const nf = nonFloat?.get(s.name);
      if (nf) mismatched.push({ name: `${s.name} (dtype ${nf.dtype})`, got: nf.shape, expected: s.shape });
      else missing.push(s.name);
    } else if (w.shape.length !== s.shape.length || w.shape.some((d, i) => d !== s.shape[i]) || w.data.length !== numel(s.shape)) {
      mismatched.push({ name: s.name, got: w.shape, expected: s.shape });
    } else {
      matched.set(s.name, w);
    }
  }
  const unexpected = [...ckpt.keys(), ...(nonFloat?.keys() ?? [])].filter((n) => !known.has(n));
  return { matched, missing, unexpected, mismatched };
}

function listSome(items: string[]): string {
  const head = items.slice(0, LIST_MAX).join(', ');
  return items.length > LIST_MAX ? `${head}, ... ${items.length - LIST_MAX} more` : head;
}

/** One line: `3 missing (a, b, c); 1 unexpected (x); 1 shape mismatch (fc.weight [10,368] vs expected [1000,368])`. */
export function describeMismatch(m: WeightMatch): string {
  const parts: string[] = [];
  if (m.missing.length) parts.push(`${m.missing.length} missing (${listSome(m.missing)})`);
  if (m.unexpected.length) parts.push(`${m.unexpected.length} unexpected (${listSome(m.unexpected)})`);
  if (m.mismatched.length) {
    const items = m.mismatched.map((x) => `${x.name} [${x.got.join(',')}] vs expected [${x.expected.join(',')}]`);
    parts.push(`${m.mismatched.length} shape mismatch${m.mismatched.length > 1 ? 'es' : ''} (${listSome(items)})`);
  }
  return parts.join('; ');
}

export function isExactMatch(m: WeightMatch): boolean {
  return m.missing.length === 0 && m.unexpected.length === 0 && m.mismatched.length === 0;
}

export interface LoadOptions {
  /** default true: any difference is an error; false: report through onWarn and load what fits */
  strict?: boolean;
  /** seed for parameters the checkpoint lacks (non-strict) */
  seed?: number;
  onWarn?: (msg: string) => void;
}

export interface LoadedWeights {
  /** a complete weight map for `net` (missing parameters from initWeights when non-strict) */
  weights: WeightMap;
  match: WeightMatch;
}

/** Check a checkpoint against a network and return a full weight map for Engine.compile(net, weights). */
export function fitWeights(net: Network, ckpt: Checkpoint, label: string, opts: LoadOptions = {}): LoadedWeights {
  const match = matchWeights(net, ckpt.weights, ckpt.nonFloat);
  if (isExactMatch(match)) return { weights: match.matched, match };
  const what = describeMismatch(match);
  if (opts.strict ?? true) {
    throw new UsageError(`${label} does not match ${net.name}: ${what}; pass --strict false to load the parameters that fit`);
  }
  if (match.matched.size === 0) throw new UsageError(`${label}: no tensor fits ${net.name} (${what})`);
  opts.onWarn?.(`warning: ${label} does not match ${net.name}: ${what}; skipped those, the rest loaded`);
  const weights: WeightMap = new Map();
  const fresh = match.missing.length || match.mismatched.length ? initWeights(net, opts.seed ?? 0) : undefined;
  for (const s of paramSpecs(net)) weights.set(s.name, match.matched.get(s.name) ?? fresh!.get(s.name)!);
  return { weights, match };
}

/** readTimmCheckpoint + fitWeights. */
export function loadTimmWeights(path: string, net: Network, opts: LoadOptions = {}): LoadedWeights {
  return fitWeights(net, readTimmCheckpoint(path), path, opts);
}

/**
 * The classifier's output count in a checkpoint (last fc layer of `net`, e.g. `head.fc` or `fc`), so
 * commands can build a network with the checkpoint's number of classes.
 */
export function checkpointNumClasses(net: Network, ckpt: WeightMap): number | undefined {
  const fc = net.nodes[net.output];
  if (!fc || fc.op !== 'fc') return undefined;
  const w = ckpt.get(`${fc.name}.weight`);
  return w && w.shape.length === 2 ? w.shape[0] : undefined;
}

/**
 * Our weights as a timm state_dict: adds `<bn>.num_batches_tracked` (int64 scalar) next to every
 * BatchNorm's running_mean, so timm's model.load_state_dict(strict=True) accepts the file.
 * `batchesTracked` is the number of training steps the statistics have seen (timm's counter).
 */
export function toTimmStateDict(weights: WeightMap, batchesTracked = 0): Map<string, TensorInput> {
  if (!Number.isSafeInteger(batchesTracked) || batchesTracked < 0) {
    throw new UsageError(`num_batches_tracked must be a non-negative integer, got ${batchesTracked}`);
  }
  const out = new Map<string, TensorInput>();
  for (const [name, w] of weights) {
    out.set(name, w as WeightTensor);
    if (name.endsWith('.running_mean')) {
      const bn = name.slice(0, -'.running_mean'.length);
      out.set(bn + NBT, { dtype: 'I64', shape: [], data: BigInt64Array.of(BigInt(batchesTracked)) });
    }
  }
  return out;
}

/** Write a checkpoint timm can load (sorted names, atomic). */
export function writeTimmCheckpoint(path: string, weights: WeightMap, batchesTracked = 0, metadata?: Record<string, string>): void {
  writeSafetensors(path, toTimmStateDict(weights, batchesTracked), metadata);
}
