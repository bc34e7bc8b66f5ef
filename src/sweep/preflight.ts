/**
 * Before a sweep trains its first model: the dataset, its folder, the recipe and the engine must be
 * there. A problem is a SetupError (one line, exit 2) before anything is written, so a sweep never
 * records its environment as results; fixing the config and rerunning trains every model.
 *
 * 'quick' (a --workers parent, before starting its workers): the dataset name, data_dir, the recipe and
 * whether the engine exists here, without loading the trainer. 'full' (whoever trains): also reads the
 * dataset, resolves the training config and starts the engine once, as every model will.
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { DATASET_NAMES, trainSize } from '../data/types.js';
import type { TrainRequest } from '../train/types.js';
import { asSetupError, SetupError } from '../util/errors.js';
import { baseRequest, type ResolvedSweep } from './config.js';
import { sweepEntries } from './models.js';

export async function checkSweepSetup(
  sweep: ResolvedSweep,
  depth: 'quick' | 'full' = 'full',
  /** the devices the models will run on (a --workers parent with --devices: every worker's); default the config's */
  devices: string[] = sweep.config.device !== undefined ? [sweep.config.device] : [],
): Promise<void> {
  const where = sweep.file ?? 'sweep config';
  try {
    await quickChecks(sweep);
    await checkDevices(sweep.config.engine, devices);
    if (depth === 'full') await fullChecks(sweep);
  } catch (e) {
    const setup = asSetupError(e);
    if (setup instanceof SetupError) throw new SetupError(`${where}: ${setup.message}`, setup.exitCode);
    throw e;
  }
}

async function quickChecks(sweep: ResolvedSweep): Promise<void> {
  const c = sweep.config;
  if (!(DATASET_NAMES as readonly string[]).includes(c.dataset)) {
    throw new SetupError(`dataset '${c.dataset}' is not one of ${DATASET_NAMES.join(', ')}`);
  }
  if (c.data_dir !== undefined && !(existsSync(c.data_dir) && statSync(c.data_dir).isDirectory())) {
    throw new SetupError(`data_dir '${c.data_dir}' is not a folder here`);
  }
  if (c.dataset === 'folder') {
    // decoding every image is the trainer's work; here only the listing
    if (c.data_dir === undefined) throw new SetupError('dataset folder needs data_dir (a folder with train/ and val/ class folders)');
    const { listImageFolder } = await import('../data/folder.js');
    listImageFolder(join(c.data_dir, 'train'));
    if (!['val', 'validation', 'test'].some((d) => existsSync(join(c.data_dir!, d))))
      throw new SetupError(`data_dir '${c.data_dir}' has no val/ (or validation/, test/) folder`);
  }
  if (c.recipe !== undefined) {
    const { loadRecipe } = await import('../train/recipe.js');
    loadRecipe(c.recipe);
  }
  // imported here, not above: heavy, and only sweeps need them
  if (c.engine === 'torch') {
    const { torchAvailable } = await import('../engine/torch/native.js');
    const a = torchAvailable();
    if (!a.ok) throw new SetupError(`engine torch is not available: ${a.reason}`);
  } else if (c.engine === 'onnx') {
    throw new SetupError('engine onnx is inference-only and sweeps train; use torch, wasm or auto');
  } else if (c.engine !== 'auto') {
    const { installHint, tfjsAvailability } = await import('../engine/tfjs/backend.js');
    const a = tfjsAvailability(c.engine);
    if (!a.available) throw new SetupError(`engine ${c.engine} is not available: ${a.reason}; ${installHint(c.engine)}`);
  }
}

/**
 * A CUDA device needs the torch engine (given, or what auto picks here for training) built with CUDA
 * and a GPU of that index: checked with the addon's own probes, before any dataset is read.
 */
export async function checkDevices(engine: ResolvedSweep['config']['engine'], devices: string[]): Promise<void> {
  const cuda = devices.filter((d) => d.startsWith('cuda'));
  if (cuda.length === 0) return;
  const first = cuda[0]!;
  let name: string = engine;
  if (engine === 'auto') {
    const { resolveAuto } = await import('../engine/select.js');
    name = await resolveAuto({ device: first });
  }
  if (name !== 'torch') {
    throw new SetupError(
      `device ${first} needs the torch engine (engine ${engine}${engine === 'auto' ? ` picks ${name} here` : ''}); use --engine torch or --device cpu`,
    );
  }
  const { torchAvailable, torchAddon } = await import('../engine/torch/native.js');
  const t = torchAvailable();
  if (!t.ok) throw new SetupError(`device ${first} needs the torch engine, which is not available: ${t.reason}`);
  const a = torchAddon();
  if (!a.cudaAvailable()) {
    throw new SetupError(
      `device ${first}: CUDA is not available to libtorch ${a.version()} (a CPU-only build, or no GPU visible); use --device cpu`,
    );
  }
  const count = a.cudaDeviceCount();
  for (const d of cuda) {
    const idx = d === 'cuda' ? 0 : Number(d.slice(5));
    if (idx >= count) throw new SetupError(`device ${d}: only ${count} CUDA device(s) visible (cuda:0..cuda:${count - 1})`);
  }
}

/** What the trainer does before its first step, done once: a problem here would fail every model. */
async function fullChecks(sweep: ResolvedSweep): Promise<void> {
  const c = sweep.config;
  const { loadDataset } = await import('../train/run.js');
  const { resolveConfig } = await import('../train/config.js');
  const { selectEngine } = await import('../engine/select.js');
  const first = sweepEntries(sweep)[0];
  const base = baseRequest(sweep);
  if (first && c.dataset !== 'folder') {
    const request: TrainRequest = { ...base, model: { name: first.name, spec: first.spec }, seed: 0 };
    const ds = await loadDataset(c.dataset, c.data_dir, base.overrides?.res);
    const trainN = trainSize(ds);
    resolveConfig(request, ds, (limit) => (limit === undefined ? trainN : Math.min(limit, trainN)));
  }
  const engine = await selectEngine(c.engine, { threads: c.threads, device: c.device });
  engine.close?.();
}
