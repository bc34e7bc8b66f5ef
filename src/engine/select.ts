/**
 * Engine selection: `auto` prefers torch (the libtorch addon), unless tfjs-node-gpu works and torch has
 * no CUDA; then tfjs-gpu, tfjs-node, and wasm, which always works. For inference-only work (`inference:
 * true`) auto prefers onnx (onnxruntime-node) when it is installed, unless a CUDA device is asked for and
 * torch has CUDA. The torch and onnx modules are imported lazily so a missing or broken addon or package
 * (or source) only makes that engine unavailable.
 */
import type { Network } from '../arch/ir.js';
import type { WeightMap } from '../arch/weights.js';
import { UsageError } from '../util/errors.js';
import type { CompiledNet, Engine, EngineChoice, EngineName, EngineOptions } from './types.js';
import { ENGINE_CHOICES } from './types.js';
import { installHint, tfjsAvailability, type TfjsKind } from './tfjs/backend.js';

export interface EngineAvailability {
  engine: EngineName;
  available: boolean;
  reason: string;
  /** torch: whether libtorch sees a CUDA device */
  cuda?: boolean;
}

interface TorchModule {
  createTorchEngine(opts: EngineOptions): Engine | Promise<Engine>;
}

interface TorchProbe {
  available: boolean;
  reason: string;
  cuda: boolean;
  mod?: TorchModule;
}

let torchProbe: TorchProbe | null = null;

async function probeTorch(): Promise<TorchProbe> {
  if (torchProbe) return torchProbe;
  try {
    const native = (await import('./torch/native.js')) as {
      torchAvailable?: () => { ok: boolean; reason?: string };
      torchAddon?: () => { cudaAvailable?: () => boolean; version?: () => string };
    };
    const mod = (await import('./torch/engine.js')) as unknown as TorchModule;
    const a = native.torchAvailable?.() ?? { ok: false, reason: 'torch addon loader not found' };
    if (!a.ok) {
      torchProbe = { available: false, reason: a.reason ?? 'torch addon not available', cuda: false };
    } else {
      const addon = native.torchAddon?.();
      const cuda = Boolean(addon?.cudaAvailable?.());
      torchProbe = { available: true, reason: `libtorch ${addon?.version?.() ?? ''}`.trim() + (cuda ? ' (CUDA)' : ' (CPU)'), cuda, mod };
    }
  } catch (e) {
    const msg = String((e as Error)?.message ?? e).split('\n')[0]!;
    torchProbe = { available: false, reason: `torch engine failed to load: ${msg}`, cuda: false };
  }
  return torchProbe;
}

interface OnnxModule {
  createOnnxEngine(opts: EngineOptions): Engine;
}

interface OnnxProbe {
  available: boolean;
  reason: string;
  /** the CUDA execution provider is installed */
  cuda: boolean;
  mod?: OnnxModule;
}

let onnxProbe: OnnxProbe | null = null;

async function probeOnnx(): Promise<OnnxProbe> {
  if (onnxProbe) return onnxProbe;
  try {
    const rt = await import('./onnx/runtime.js');
    const p = rt.loadOrt();
    if (!p.ok) {
      onnxProbe = { available: false, reason: p.reason, cuda: false };
    } else {
      const mod = (await import('./onnx/engine.js')) as OnnxModule;
      const cuda = p.ort.cudaInstalled;
      onnxProbe = {
        available: true,
        reason: `onnxruntime-node ${p.ort.version} (CPU${cuda ? ', CUDA provider installed' : ''})`,
        cuda,
        mod,
      };
    }
  } catch (e) {
    const msg = String((e as Error)?.message ?? e).split('\n')[0]!;
    onnxProbe = { available: false, reason: `onnx engine failed to load: ${msg}`, cuda: false };
  }
  return onnxProbe;
}

const TFJS_KINDS: TfjsKind[] = ['tfjs-gpu', 'tfjs-node', 'wasm', 'cpu'];

/** Every engine with its availability here and why. */
export async function listEngines(): Promise<EngineAvailability[]> {
  const t = await probeTorch();
  const o = await probeOnnx();
  const out: EngineAvailability[] = [
    { engine: 'torch', available: t.available, reason: t.reason, cuda: t.cuda },
    { engine: 'onnx', available: o.available, reason: o.reason, cuda: o.cuda },
  ];
  for (const k of TFJS_KINDS) out.push({ engine: k, ...tfjsAvailability(k) });
  return out;
}

const TORCH_HINT = 'build the libtorch addon (apt-get install libtorch-dev, then node scripts/build-native.mjs)';
const ONNX_HINT = 'npm install onnxruntime-node@1.30.0 (an optional dependency; see README, ONNX)';

export interface AutoOptions {
  /** the command only runs inference (predict, eval, bench --mode infer, compare without --train) */
  inference?: boolean;
  /** the requested --device (cpu when absent) */
  device?: string;
}

/** The engine `auto` resolves to here. */
export async function resolveAuto(o: AutoOptions = {}): Promise<EngineName> {
  const t = await probeTorch();
  if (o.inference) {
    const cuda = /^\s*cuda/i.test(o.device ?? '');
    if (cuda && t.available && t.cuda) return 'torch';
    const x = await probeOnnx();
    if (x.available && (!cuda || x.cuda)) return 'onnx';
  }
  const gpu = tfjsAvailability('tfjs-gpu').available;
  if (t.available && !(gpu && !t.cuda)) return 'torch';
  if (gpu) return 'tfjs-gpu';
  if (tfjsAvailability('tfjs-node').available) return 'tfjs-node';
  return 'wasm';
}

/** `sel.inference`: the caller only predicts, so auto may pick the inference-only onnx engine. */
export async function selectEngine(choice: EngineChoice, opts: EngineOptions = {}, sel: { inference?: boolean } = {}): Promise<Engine> {
  if (!(ENGINE_CHOICES as readonly string[]).includes(choice)) {
    throw new UsageError(`--engine: '${choice}' is not one of ${ENGINE_CHOICES.join(', ')}`);
  }
  // mixed precision and channels-last are the torch engine's: auto means torch then
  const torchOnly = opts.amp !== undefined || opts.channelsLast === true;
  if (torchOnly && choice !== 'auto' && choice !== 'torch')
    throw new UsageError(
      `${opts.amp ? '--amp' : '--channels-last'}: only the torch engine has it (got --engine ${choice}); use --engine torch`,
    );
  const name: EngineName =
    choice === 'auto' ? (torchOnly ? 'torch' : await resolveAuto({ inference: sel.inference, device: opts.device })) : choice;
  if (name === 'onnx') {
    const o = await probeOnnx();
    if (!o.available || !o.mod) throw new UsageError(`engine onnx is not available: ${o.reason}; ${ONNX_HINT}`);
    return o.mod.createOnnxEngine(opts);
  }
  if (name === 'torch') {
    const t = await probeTorch();
    if (!t.available || !t.mod) throw new UsageError(`engine torch is not available: ${t.reason}; ${TORCH_HINT}`);
    return await t.mod.createTorchEngine(opts);
  }
  const a = tfjsAvailability(name);
  if (!a.available) throw new UsageError(`engine ${name} is not available: ${a.reason}; ${installHint(name)}`);
  const { createTfjsEngine } = await import('./tfjs/engine.js');
  return createTfjsEngine(name, opts);
}

/** Which engine to run on, as the commands' --engine/--threads/--device give it. */
export interface EngineSelection {
  engine: EngineChoice;
  threads?: number;
  device?: string;
  /** torch only: mixed precision and NHWC (see EngineOptions) */
  amp?: EngineOptions['amp'];
  channelsLast?: boolean;
}

/** The EngineOptions of a selection (amp and channelsLast only when set). */
export function engineOptionsOf(sel: Omit<EngineSelection, 'engine'>): EngineOptions {
  return {
    threads: sel.threads,
    device: sel.device,
    ...(sel.amp !== undefined ? { amp: sel.amp } : {}),
    ...(sel.channelsLast ? { channelsLast: true } : {}),
  };
}

/**
 * Select an engine for inference (auto may pick the inference-only onnx engine) and compile `net` with
 * `weights` on it; the engine is closed if compiling fails.
 */
export async function compileOn(sel: EngineSelection, net: Network, weights: WeightMap): Promise<{ engine: Engine; model: CompiledNet }> {
  const engine = await selectEngine(sel.engine, engineOptionsOf(sel), { inference: true });
  try {
    return { engine, model: engine.compile(net, weights) };
  } catch (e) {
    engine.close?.();
    throw e;
  }
}
