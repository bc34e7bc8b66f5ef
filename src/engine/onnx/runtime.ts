/**
 * Loading onnxruntime-node (an optional dependency) at run time, as a synchronous session.
 *
 * CompiledNet.predict is synchronous. onnxruntime-node's public InferenceSession.run() is a Promise around
 * a synchronous native call (its backend schedules binding.InferenceSession.run with setImmediate), so
 * this module drives that native session object directly: the same computation, without the Promise.
 * That binding is internal to the package, so the version is pinned in package.json and its shape is
 * checked here; a package that is missing, fails to load, or has another binding only makes the onnx
 * engine unavailable, never a crash. Nothing here is imported unless the onnx engine is asked about.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

export const ORT_PACKAGE = 'onnxruntime-node';
/** The version whose native binding this module was written against. */
export const ORT_VERSION = '1.30.0';

/** What the native binding takes as a tensor: onnxruntime-common's Tensor. */
export interface OrtTensor {
  readonly data: unknown;
  readonly dims: readonly number[];
  readonly type: string;
}

export interface OrtTensorConstructor {
  new (type: 'float32', data: Float32Array, dims: readonly number[]): OrtTensor;
}

export interface OrtSessionOptions {
  intraOpNumThreads?: number;
  interOpNumThreads?: number;
  graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'all';
  executionMode?: 'sequential' | 'parallel';
  executionProviders?: Array<string | { name: string; deviceId?: number }>;
  logSeverityLevel?: 0 | 1 | 2 | 3 | 4;
}

/** binding.InferenceSession of onnxruntime-node (dist/binding.d.ts). */
export interface NativeSession {
  loadModel(buffer: ArrayBuffer, byteOffset: number, byteLength: number, options: OrtSessionOptions): void;
  readonly inputMetadata: Array<{ name: string }>;
  readonly outputMetadata: Array<{ name: string }>;
  run(feeds: Record<string, OrtTensor>, fetches: Record<string, null>, options: Record<string, unknown>): Record<string, OrtTensor>;
  dispose(): void;
}

export interface OrtRuntime {
  version: string;
  Tensor: OrtTensorConstructor;
  /** a new native session (call loadModel on it) */
  newSession(): NativeSession;
  /** whether the CUDA execution provider's library is installed beside the binding */
  cudaInstalled: boolean;
  /** the folder of the native binding (for messages) */
  binDir: string;
}

export type OrtProbe = { ok: true; ort: OrtRuntime } | { ok: false; reason: string };

let probe: OrtProbe | undefined;

function isMissing(e: unknown): boolean {
  const err = e as { code?: string; message?: string };
  return err?.code === 'MODULE_NOT_FOUND' || err?.code === 'ERR_MODULE_NOT_FOUND' || /Cannot find module/.test(String(err?.message ?? e));
}

/** Load onnxruntime-node once; why not when it cannot be used. */
export function loadOrt(): OrtProbe {
  if (probe) return probe;
  const require = createRequire(import.meta.url);
  try {
    const pkgPath = require.resolve(`${ORT_PACKAGE}/package.json`);
    const version = (require(pkgPath) as { version: string }).version;
    const main = require(ORT_PACKAGE) as { Tensor?: OrtTensorConstructor };
    const b = require(`${ORT_PACKAGE}/dist/binding.js`) as {
      binding?: { InferenceSession?: new () => NativeSession };
      initOrt?: () => void;
    };
    if (typeof main.Tensor !== 'function' || typeof b.initOrt !== 'function' || typeof b.binding?.InferenceSession !== 'function') {
      probe = {
        ok: false,
        reason: `${ORT_PACKAGE} ${version} has an unexpected native binding (this engine is written for ${ORT_VERSION}; npm install ${ORT_PACKAGE}@${ORT_VERSION})`,
      };
      return probe;
    }
    const Session = b.binding.InferenceSession;
    const initOrt = b.initOrt;
    const binDir = join(dirname(pkgPath), 'bin', 'napi-v6', process.platform, process.arch);
    const cudaLib = process.platform === 'win32' ? 'onnxruntime_providers_cuda.dll' : 'libonnxruntime_providers_cuda.so';
    probe = {
      ok: true,
      ort: {
        version,
        Tensor: main.Tensor,
        newSession: () => {
          initOrt();
          return new Session();
        },
        cudaInstalled: existsSync(join(binDir, cudaLib)),
        binDir,
      },
    };
  } catch (e) {
    const msg = String((e as Error)?.message ?? e).split('\n')[0]!;
    probe = {
      ok: false,
      reason: isMissing(e) ? `${ORT_PACKAGE} is not installed (optional dependency)` : `${ORT_PACKAGE} failed to load: ${msg}`,
    };
  }
  return probe;
}

export const ORT_INSTALL_HINT = `npm install ${ORT_PACKAGE}@${ORT_VERSION} (with onnxruntime-node-install=skip in .npmrc where its CUDA download cannot be reached)`;
