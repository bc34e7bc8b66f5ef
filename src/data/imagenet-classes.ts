/**
 * The ImageNet-1k class list shipped in configs/imagenet/ (see its README): class index i = line i of
 * the sorted WordNet ids, as in timm, torchvision and pycls, with the human-readable names.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface ImageNetClasses {
  /** WordNet ids, index = class */
  synsets: string[];
  /** 'tench, Tinca tinca', ... in the same order */
  names: string[];
}

/** configs/imagenet, both from src/data (tsx) and dist/data (built). */
export function imagenetDir(): string {
  return fileURLToPath(new URL('../../configs/imagenet/', import.meta.url));
}

let cached: ImageNetClasses | undefined;

export function imagenetClasses(): ImageNetClasses {
  if (cached) return cached;
  const dir = imagenetDir();
  const lines = (f: string) =>
    readFileSync(dir + f, 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '');
  const synsets = lines('imagenet_synsets.txt');
  const names = new Map(lines('imagenet_synset_to_lemma.txt').map((l) => [l.slice(0, l.indexOf('\t')), l.slice(l.indexOf('\t') + 1)]));
  if (synsets.length !== 1000) throw new Error(`${dir}imagenet_synsets.txt: ${synsets.length} classes, expected 1000`);
  cached = { synsets, names: synsets.map((s) => names.get(s) ?? s) };
  return cached;
}
