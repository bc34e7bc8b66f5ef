/**
 * Loading TensorFlow.js backends at run time.
 *
 * wasm and cpu ship with @tensorflow/tfjs(-backend-wasm) and always load. tfjs-node / tfjs-node-gpu are
 * optional dependencies whose install script downloads libtensorflow; where that failed the package is
 * either absent (MODULE_NOT_FOUND) or present without its native binding ("tfjs_binding.node can not be
 * found"). Both mean "not available", never a crash.
 */
import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs';
import { UsageError } from '../../util/errors.js';
import { registerWasmTrainingKernels } from './kernels.js';

export type TfjsKind = 'wasm' | 'cpu' | 'tfjs-node' | 'tfjs-gpu';

export interface Availability {
  available: boolean;
  /** why not (or what was found) */
  reason: string;
}

const require = createRequire(import.meta.url);

const NODE_PACKAGES: Record<'tfjs-node' | 'tfjs-gpu', string> = {
  'tfjs-node': '@tensorflow/tfjs-node',
  'tfjs-gpu': '@tensorflow/tfjs-node-gpu',
};

/** tfjs backend name each kind runs on */
export function backendName(kind: TfjsKind): string {
  return kind === 'wasm' || kind === 'cpu' ? kind : 'tensorflow';
}

function isMissing(e: unknown): boolean {
  const err = e as { code?: string; message?: string };
  const msg = String(err?.message ?? e);
  return (
    err?.code === 'MODULE_NOT_FOUND' ||
    err?.code === 'ERR_MODULE_NOT_FOUND' ||
    /tfjs_binding\.node/.test(msg) ||
    /Cannot find module/.test(msg) ||
    /cannot open shared object file/.test(msg) ||
    /libtensorflow/.test(msg)
  );
}

const nodeProbe = new Map<'tfjs-node' | 'tfjs-gpu', Availability>();
let loadedNodePackage: 'tfjs-node' | 'tfjs-gpu' | null = null;

/** Try to require tfjs-node(-gpu); cached. Only one of the two can own the 'tensorflow' backend. */
function probeNode(kind: 'tfjs-node' | 'tfjs-gpu'): Availability {
  const cached = nodeProbe.get(kind);
  if (cached) return cached;
  let a: Availability;
  if (loadedNodePackage !== null && loadedNodePackage !== kind) {
    a = { available: false, reason: `${NODE_PACKAGES[loadedNodePackage]} is already loaded in this process` };
  } else {
    try {
      require(NODE_PACKAGES[kind]);
      loadedNodePackage = kind;
      const b = tf.findBackend('tensorflow') as unknown as { isUsingGpuDevice?: boolean } | null;
      if (kind === 'tfjs-gpu' && b && b.isUsingGpuDevice === false) {
        a = { available: false, reason: `${NODE_PACKAGES[kind]} loaded but found no CUDA device` };
      } else {
        a = { available: true, reason: `${NODE_PACKAGES[kind]} loaded` };
      }
    } catch (e) {
      const msg = String((e as Error)?.message ?? e).split('\n')[0]!;
      a = {
        available: false,
        reason: isMissing(e)
          ? `${NODE_PACKAGES[kind]} is not installed or its native binding is missing`
          : `${NODE_PACKAGES[kind]} failed to load: ${msg}`,
      };
    }
  }
  nodeProbe.set(kind, a);
  return a;
}

export function tfjsAvailability(kind: TfjsKind): Availability {
  if (kind === 'wasm') return { available: true, reason: '@tensorflow/tfjs-backend-wasm (bundled)' };
  if (kind === 'cpu') return { available: true, reason: '@tensorflow/tfjs pure-JS cpu backend (bundled, slow)' };
  return probeNode(kind);
}

/** How to get a missing engine, for one-line usage errors. */
export function installHint(kind: TfjsKind): string {
  if (kind === 'tfjs-gpu') {
    return 'install @tensorflow/tfjs-node-gpu@4.22.0 (needs internet for libtensorflow, plus CUDA 11.2/cuDNN 8.1)';
  }
  if (kind === 'tfjs-node') return 'install @tensorflow/tfjs-node@4.22.0 (its install script downloads libtensorflow)';
  return '';
}

let wasmKernelsRegistered = false;

/**
 * Make `kind` the active tfjs backend and return its tfjs backend name. Throws UsageError when the
 * kind cannot be loaded here.
 */
export async function loadTfjsBackend(kind: TfjsKind): Promise<string> {
  const a = tfjsAvailability(kind);
  if (!a.available) throw new UsageError(`engine ${kind} is not available: ${a.reason}; ${installHint(kind)}`);
  const name = backendName(kind);
  if (kind === 'wasm') {
    await import('@tensorflow/tfjs-backend-wasm');
    if (!wasmKernelsRegistered) {
      registerWasmTrainingKernels();
      wasmKernelsRegistered = true;
    }
  }
  // The pure-JS backend prints a "use tfjs-node" banner on first use; PROD silences tfjs warnings.
  tf.env().set('PROD', true);
  const ok = await tf.setBackend(name);
  if (!ok) throw new UsageError(`engine ${kind}: tfjs backend '${name}' failed to initialise`);
  await tf.ready();
  return name;
}

/** Switch synchronously to an already initialised backend (setBackend does no async work then). */
export function useBackend(name: string): void {
  if (tf.getBackend() !== name) void tf.setBackend(name);
  if (tf.getBackend() !== name) throw new Error(`tfjs backend ${name} is not initialised`);
}

export { tf };
