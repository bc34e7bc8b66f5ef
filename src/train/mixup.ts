/**
 * Mixup and cutmix with timm's semantics in batch mode (timm.data.Mixup, mode='batch'): one lambda per
 * batch; each sample is mixed with its mirror in the batch (x.flip(0)); with both on, a mixed batch uses
 * cutmix with probability switchProb, else mixup; cutmix pastes a box of area ~(1 - lam) from the
 * mirrored sample and corrects lam to the box area after clipping to the image. The target is
 * lam * onehot(y) + (1 - lam) * onehot(y.flip(0)), label-smoothed by the loss (= timm's mixup_target).
 */
import type { Target } from '../engine/types.js';
import type { Rng } from '../util/rng.js';

export interface MixupSettings {
  /** Beta(alpha, alpha) of mixup; 0 = off */
  mixup: number;
  /** Beta(alpha, alpha) of cutmix; 0 = off */
  cutmix: number;
  /** probability that a batch is mixed */
  mixupProb: number;
  /** probability of cutmix for a mixed batch when both are on */
  mixupSwitchProb: number;
}

export function mixupActive(s: MixupSettings): boolean {
  return s.mixup > 0 || s.cutmix > 0;
}

/** Gamma(shape, 1) (Marsaglia-Tsang; shape < 1 boosted by U^(1/shape)). */
export function sampleGamma(rng: Rng, shape: number): number {
  if (shape < 1) return sampleGamma(rng, shape + 1) * Math.pow(1 - rng.next(), 1 / shape);
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x: number, v: number;
    do {
      x = rng.normal();
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const u = 1 - rng.next();
    if (u < 1 - 0.0331 * x * x * x * x) return d * v;
    if (Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
  }
}

/** Beta(a, b) from two Gamma draws. */
export function sampleBeta(rng: Rng, a: number, b: number): number {
  const x = sampleGamma(rng, a);
  const y = sampleGamma(rng, b);
  return x + y > 0 ? x / (x + y) : 0.5;
}

/** What a batch gets: lam (1 = untouched) and whether it is cutmix. */
export function mixParams(s: MixupSettings, rng: Rng): { lam: number; cutmix: boolean } {
  if (!mixupActive(s) || !(rng.next() < s.mixupProb)) return { lam: 1, cutmix: false };
  if (s.mixup > 0 && s.cutmix > 0) {
    const cutmix = rng.next() < s.mixupSwitchProb;
    return { lam: sampleBeta(rng, cutmix ? s.cutmix : s.mixup, cutmix ? s.cutmix : s.mixup), cutmix };
  }
  if (s.mixup > 0) return { lam: sampleBeta(rng, s.mixup, s.mixup), cutmix: false };
  return { lam: sampleBeta(rng, s.cutmix, s.cutmix), cutmix: true };
}

/**
 * timm's rand_bbox (margin 0): a cut of int(h * sqrt(1 - lam)) x int(w * sqrt(1 - lam)) centred on a
 * uniform pixel, clipped to the image; returns the box and lam corrected to 1 - box area / image area.
 */
export function cutmixBox(h: number, w: number, lam: number, rng: Rng): { y0: number; y1: number; x0: number; x1: number; lam: number } {
  const ratio = Math.sqrt(1 - lam);
  const cutH = Math.trunc(h * ratio);
  const cutW = Math.trunc(w * ratio);
  const cy = rng.int(0, h - 1);
  const cx = rng.int(0, w - 1);
  const clip = (v: number, hi: number) => Math.min(Math.max(v, 0), hi);
  const y0 = clip(cy - Math.floor(cutH / 2), h);
  const y1 = clip(cy + Math.floor(cutH / 2), h);
  const x0 = clip(cx - Math.floor(cutW / 2), w);
  const x1 = clip(cx + Math.floor(cutW / 2), w);
  return { y0, y1, x0, x1, lam: 1 - ((y1 - y0) * (x1 - x0)) / (h * w) };
}

/**
 * Mix a batch in place (NCHW float32, n samples of c x h x w) and return its target: the labels
 * unchanged when the batch is not mixed, else the two label sets with weights lam, 1 - lam.
 */
export function mixBatch(
  x: Float32Array,
  y: Int32Array,
  shape: { n: number; c: number; h: number; w: number },
  s: MixupSettings,
  rng: Rng,
): { target: Target; lam: number; cutmix: boolean } {
  const { n, c, h, w } = shape;
  const p = mixParams(s, rng);
  let lam = p.lam;
  if (lam === 1) return { target: y, lam, cutmix: false };
  const size = c * h * w;
  if (p.cutmix) {
    const box = cutmixBox(h, w, lam, rng);
    lam = box.lam;
    // x[i, :, box] = x[n-1-i, :, box]: swap the boxes of each mirrored pair
    for (let i = 0; i < n >> 1; i++) {
      const a = i * size;
      const b = (n - 1 - i) * size;
      for (let ch = 0; ch < c; ch++)
        for (let yy = box.y0; yy < box.y1; yy++) {
          const row = ch * h * w + yy * w;
          for (let xx = box.x0; xx < box.x1; xx++) {
            const t = x[a + row + xx]!;
            x[a + row + xx] = x[b + row + xx]!;
            x[b + row + xx] = t;
          }
        }
    }
  } else {
    // x = lam * x + (1 - lam) * x.flip(0), pairwise (the middle sample of an odd batch mixes with itself)
    const mu = 1 - lam;
    for (let i = 0; i < (n + 1) >> 1; i++) {
      const a = i * size;
      const b = (n - 1 - i) * size;
      for (let k = 0; k < size; k++) {
        const xa = x[a + k]!;
        const xb = x[b + k]!;
        x[a + k] = Math.fround(Math.fround(lam * xa) + Math.fround(mu * xb));
        if (b !== a) x[b + k] = Math.fround(Math.fround(lam * xb) + Math.fround(mu * xa));
      }
    }
  }
  const flipped = new Int32Array(n);
  for (let i = 0; i < n; i++) flipped[i] = y[n - 1 - i]!;
  return { target: { labels: [y, flipped], weights: [lam, 1 - lam] }, lam, cutmix: p.cutmix };
}
