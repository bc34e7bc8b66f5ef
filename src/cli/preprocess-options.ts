/**
 * The eval-preprocessing options shared by `regnet eval --weights` and `regnet predict --images`:
 * timm's --img-size, --crop-pct, --interpolation, --mean, --std.
 */
import { InvalidArgumentError, type Command } from 'commander';
import { IMAGENET_MEAN, IMAGENET_STD, type Interpolation } from '../data/folder.js';
import { UsageError } from '../util/errors.js';
import { parseChoice, parseFloatOption, parseIntOption } from './options.js';

export const INTERPOLATIONS = ['bicubic', 'bilinear', 'nearest'] as const satisfies readonly Interpolation[];

export interface PreprocessCliOptions {
  imgSize: number;
  cropPct: number;
  interpolation: Interpolation;
  mean?: number[];
  std?: number[];
}

/** `--mean 0.485 0.456 0.406` or `--mean 0.485,0.456,0.406` (commander variadic: called per value). */
export function collectFloats(field: string) {
  return (text: string, prev: number[] | undefined): number[] => {
    const out = [...(prev ?? [])];
    for (const part of text.split(',')) {
      if (part.trim() === '') continue;
      const v = Number(part);
      if (!Number.isFinite(v)) throw new InvalidArgumentError(`${field} takes numbers, e.g. ${field} 0.485 0.456 0.406.`);
      out.push(v);
    }
    return out;
  };
}

/** 1 value (all channels) or 3 (RGB); the default when none are given. */
export function channelStats(field: string, v: number[] | undefined, dflt: number[]): number[] {
  if (!v || v.length === 0) return dflt;
  if (v.length !== 1 && v.length !== 3) throw new UsageError(`${field}: give 1 or 3 values (RGB), got ${v.length}`);
  if (field === '--std' && v.some((x) => !(x > 0))) throw new UsageError('--std: values must be > 0');
  return v.length === 1 ? [v[0]!, v[0]!, v[0]!] : v;
}

/** Mean and std from --mean/--std, ImageNet's by default. */
export function normalisation(o: { mean?: number[]; std?: number[] }): { mean: number[]; std: number[] } {
  return { mean: channelStats('--mean', o.mean, IMAGENET_MEAN), std: channelStats('--std', o.std, IMAGENET_STD) };
}

/** Add the preprocessing flags the command does not have yet. */
export function addPreprocessOptions(cmd: Command): Command {
  const has = (flag: string) => cmd.options.some((o) => o.long === flag);
  if (!has('--img-size')) cmd.option('--img-size <n>', 'eval resolution', parseIntOption('--img-size', 1), 224);
  if (!has('--crop-pct')) {
    cmd.option(
      '--crop-pct <x>',
      'centre-crop fraction: resize the shorter side to floor(img_size / crop_pct)',
      parseFloatOption('--crop-pct', 0.01, 4),
      0.875,
    );
  }
  if (!has('--interpolation')) {
    cmd.option(
      '--interpolation <m>',
      `resize kernel (PIL's): ${INTERPOLATIONS.join(', ')}`,
      parseChoice('--interpolation', INTERPOLATIONS),
      'bicubic',
    );
  }
  if (!has('--mean'))
    cmd.option('--mean <x...>', 'normalisation mean per channel (default ImageNet 0.485 0.456 0.406)', collectFloats('--mean'));
  if (!has('--std'))
    cmd.option('--std <x...>', 'normalisation std per channel (default ImageNet 0.229 0.224 0.225)', collectFloats('--std'));
  return cmd;
}
