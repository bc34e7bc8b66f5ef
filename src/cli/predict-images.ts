/**
 * `regnet predict MODEL --weights FILE --images PATH...`: image files (and folders of them) through
 * timm's eval preprocessing (PIL-exact decode, resize and centre crop; src/data/folder.ts), batch by
 * batch, and the top-5 classes of each, named from the ImageNet-1k list for 1000-class models.
 */
import { decodeImage, normaliseChw } from '../data/folder.js';
import { imagenetClasses } from '../data/imagenet-classes.js';
import type { CompiledNet } from '../engine/types.js';
import type { PreprocessCliOptions } from './preprocess-options.js';

export interface Preprocess extends Omit<PreprocessCliOptions, 'mean' | 'std'> {
  mean: number[];
  std: number[];
}

/** Eval-mode logits of each file (n x classes), preprocessing one batch while the engine runs the last. */
export async function predictImageFiles(model: CompiledNet, files: string[], pre: Preprocess, batch: number): Promise<Float32Array> {
  const k = model.net.numClasses;
  const per = 3 * pre.imgSize * pre.imgSize;
  const out = new Float32Array(files.length * k);
  const load = async (start: number): Promise<Float32Array> => {
    const part = files.slice(start, start + batch);
    const x = new Float32Array(part.length * per);
    await Promise.all(
      part.map(async (f, i) => {
        const bytes = await decodeImage(f, { imgSize: pre.imgSize, cropPct: pre.cropPct, interpolation: pre.interpolation });
        normaliseChw(bytes, 3, pre.mean, pre.std, x, i * per);
      }),
    );
    return x;
  };
  let next = load(0);
  for (let start = 0; start < files.length; start += batch) {
    const x = await next;
    if (start + batch < files.length) {
      next = load(start + batch);
      next.catch(() => undefined); // observed by the await above; not unhandled if predict throws first
    }
    out.set(model.predict(x, x.length / per), start * k);
  }
  return out;
}

export interface ClassScore {
  index: number;
  /** WordNet id and names, for 1000-class (ImageNet-1k) models */
  synset?: string;
  name?: string;
  logit: number;
  /** softmax probability */
  prob: number;
}

export interface ImagePrediction {
  file: string;
  logits: number[];
  top5: ClassScore[];
}

/** Top-k of one row of logits: larger first, ties at the smaller index first (a stable arg-sort). */
export function topK(row: ArrayLike<number>, k: number): ClassScore[] {
  let max = -Infinity;
  for (let j = 0; j < row.length; j++) max = Math.max(max, row[j]!);
  let sum = 0;
  for (let j = 0; j < row.length; j++) sum += Math.exp(row[j]! - max);
  const order = Array.from({ length: row.length }, (_, j) => j).sort((a, b) => row[b]! - row[a]! || a - b);
  const names = row.length === 1000 ? imagenetClasses() : undefined;
  return order.slice(0, k).map((index) => ({
    index,
    ...(names ? { synset: names.synsets[index]!, name: names.names[index]! } : {}),
    logit: row[index]!,
    prob: Math.exp(row[index]! - max) / sum,
  }));
}

export function imagePredictions(files: string[], logits: Float32Array): ImagePrediction[] {
  const k = logits.length / Math.max(files.length, 1);
  return files.map((file, i) => {
    const row = logits.subarray(i * k, (i + 1) * k);
    return { file, logits: Array.from(row), top5: topK(row, 5) };
  });
}

/** Per image: the file, then its top-5 as `index  prob  name (synset)`. */
export function formatImagePredictions(preds: ImagePrediction[]): string {
  return (
    preds
      .map((p) =>
        [
          p.file,
          ...p.top5.map(
            (c) =>
              `  ${String(c.index).padStart(4)}  ${c.prob.toFixed(4)}  ${c.name ? `${c.name} (${c.synset})` : `logit ${c.logit.toPrecision(6)}`}`,
          ),
        ].join('\n'),
      )
      .join('\n') + '\n'
  );
}
