/**
 * Label sets of image folders: which class index a class folder's images get.
 *
 *  - ImageNet-1k: the 1000 WordNet ids in sorted order (configs/imagenet/imagenet_synsets.txt); a folder
 *    holding part of ImageNet (Imagenette-style wnid folders) keeps the indices of the full list.
 *  - a class map in timm's format (`--class-map FILE`): one class name per line, index = line number.
 *  - the folders present, in sorted order (torchvision's ImageFolder), for folders of other things.
 *
 * A class folder that is not in the label set is a one-line UsageError (see listImageFolder).
 */
import { readFileSync } from 'node:fs';
import { UsageError } from '../util/errors.js';
import { imagenetClasses } from './imagenet-classes.js';

export interface LabelSet {
  /** class names, index = class */
  classes: string[];
  index: Map<string, number>;
  /** what the set is, for messages: 'the 1000 ImageNet classes (...)', 'class map FILE' */
  source: string;
  /** what to suggest when a folder is not in the set */
  hint?: string;
}

function fromList(classes: string[], source: string, hint?: string): LabelSet {
  const index = new Map<string, number>();
  classes.forEach((c, i) => {
    if (c !== '') index.set(c, i);
  });
  return { classes, index, source, hint };
}

let imagenet: LabelSet | undefined;

/** ImageNet-1k: class i = the i-th WordNet id in sorted order, as in timm, torchvision and pycls. */
export function imagenetLabelSet(): LabelSet {
  imagenet ??= fromList(
    imagenetClasses().synsets,
    'the 1000 ImageNet classes (configs/imagenet/imagenet_synsets.txt)',
    'use --class-map FILE for another label set',
  );
  return imagenet;
}

/**
 * timm's class-map text file: line k (0-based) names class k; surrounding whitespace is stripped.
 * Trailing empty lines are ignored; an empty line inside the list or a repeated name is refused.
 */
export function readClassMap(file: string): LabelSet {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new UsageError(`--class-map: cannot read ${file}`);
  }
  const lines = text.split(/\r?\n/).map((l) => l.trim());
  while (lines.length && lines[lines.length - 1] === '') lines.pop();
  if (lines.length === 0) throw new UsageError(`--class-map ${file}: no class names (one per line, index = line number)`);
  const seen = new Map<string, number>();
  lines.forEach((name, i) => {
    if (name === '') throw new UsageError(`--class-map ${file}: line ${i + 1} is empty (one class name per line, index = line number)`);
    const first = seen.get(name);
    if (first !== undefined) throw new UsageError(`--class-map ${file}: '${name}' on lines ${first + 1} and ${i + 1}`);
    seen.set(name, i);
  });
  return fromList(lines, `class map ${file}`, 'add it to the class map');
}

/** The folders present, sorted: torchvision ImageFolder's indices. */
export function sortedFolderLabelSet(folders: string[], dir: string): LabelSet {
  return fromList(
    [...folders].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)),
    `the class folders of ${dir}`,
  );
}

/**
 * The label set of a folder evaluated by a model with `numClasses` outputs: the class map when given;
 * ImageNet's 1000 wnids when the model has 1000 outputs and every folder is an ImageNet wnid (so a part
 * of ImageNet is scored against the right classes); otherwise the sorted folders (ImageFolder).
 */
export function labelSetForFolders(folders: string[], dir: string, numClasses: number, classMap?: string): LabelSet {
  if (classMap) return readClassMap(classMap);
  const inet = imagenetLabelSet();
  if (numClasses === inet.classes.length && folders.length > 0 && folders.every((f) => inet.index.has(f))) return inet;
  return sortedFolderLabelSet(folders, dir);
}
