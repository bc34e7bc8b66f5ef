/**
 * Engine selection: `auto` prefers torch (the libtorch addon), unless tfjs-node-gpu works and torch has
 * no CUDA; then tfjs-gpu, tfjs-node, and wasm, which always works. The torch modules are imported lazily
 * so a missing or broken addon (or source) only makes torch unavailable.
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

const TFJS_KINDS: TfjsKind[] = ['tfjs-gpu', 'tfjs-node', 'wasm', 'cpu'];

/** Every engine with its availability here and why. */
export async function listEngines(): Promise<EngineAvailability[]> {
  const t = await probeTorch();
  const out: EngineAvailability[] = [{ engine: 'torch', available: t.available, reason: t.reason, cuda: t.cuda }];
  for (const k of TFJS_KINDS) out.push({ engine: k, ...tfjsAvailability(k) });
  return out;
}

const TORCH_HINT = 'build the libtorch addon (apt-get install libtorch-dev, then node scripts/build-native.mjs)';

/** The engine `auto` resolves to here. */
export async function resolveAuto(): Promise<EngineName> {
  const t = await probeTorch();
  const gpu = tfjsAvailability('tfjs-gpu').available;
  if (t.available && !(gpu && !t.cuda)) return 'torch';
  if (gpu) return 'tfjs-gpu';
  if (tfjsAvailability('tfjs-node').available) return 'tfjs-node';
  return 'wasm';
}

export async function selectEngine(choice: EngineChoice, opts: EngineOptions = {}): Promise<Engine> {
  if (!(ENGINE_CHOICES as readonly string[]).includes(choice)) {
    throw new UsageError(`--engine: '${choice}' is not one of ${ENGINE_CHOICES.join(', ')}`);
  }
  const name: EngineName = choice === 'auto' ? await resolveAuto() : choice;
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
}

/** Select an engine and compile `net` with `weights` on it; the engine is closed if compiling fails. */
export async function compileOn(sel: EngineSelection, net: Network, weights: WeightMap): Promise<{ engine: Engine; model: CompiledNet }> {
  const engine = await selectEngine(sel.engine, { threads: sel.threads, device: sel.device });
  try {
    return { engine, model: engine.compile(net, weights) };
  } catch (e) {
    engine.close?.();
    throw e;
  }
}
