/**
 * Closed-form complexity of a RegNet/AnyNet body for the sampler's hot loop (no IR objects).
 * It must agree exactly with src/arch/complexity.ts on the built IR; a test checks that on random configs.
 */
import { roundHalfEven } from './round.js';

/** Whole-network counts; src/arch/complexity.ts defines what each one counts. */
export interface Complexity {
  params: number;
  macs: number;
  flops: number;
  acts: number;
}

export interface FastStage {
  width: number;
  depth: number;
  bottleneckWidth: number;
  groups: number;
}

export interface FastOptions {
  res: number;
  resH?: number;
  numClasses: number;
  inChans: number;
  stem: 'imagenet' | 'small';
  seRatio: number;
  stemWidth: number;
}

const down = (s: number, stride: number) => Math.floor((s - 1) / stride) + 1; // k=3,p=1 or k=1,p=0

export function bodyComplexity(stages: FastStage[], o: FastOptions): Complexity {
  let params = 0;
  let macs = 0;
  let flops = 0;
  let acts = 0;
  const conv = (cin: number, cout: number, k: number, groups: number, ho: number, wo: number, bias: boolean) => {
    const m = k * k * (cin / groups) * cout * ho * wo;
    params += (k * k * cin * cout) / groups + (bias ? cout : 0);
    macs += m;
    flops += m + (bias ? cout * ho * wo : 0);
    acts += cout * ho * wo;
  };
  const stemStride = o.stem === 'small' ? 1 : 2;
  let h = down(o.resH ?? o.res, stemStride);
  let w = down(o.res, stemStride);
  conv(o.inChans, o.stemWidth, 3, 1, h, w, false);
  params += 2 * o.stemWidth;
  let wIn = o.stemWidth;
  for (const s of stages) {
    const wb = s.bottleneckWidth;
    // Block 1 changes resolution and width; blocks 2..d are identical, so count one and multiply.
    for (let b = 0; b < Math.min(2, s.depth); b++) {
      const times = b === 0 ? 1 : s.depth - 1;
      const p0 = params,
        m0 = macs,
        f0 = flops,
        a0 = acts;
      const stride = b === 0 ? 2 : 1;
      const ho = down(h, stride);
      const wo = down(w, stride);
      conv(wIn, wb, 1, 1, h, w, false);
      conv(wb, wb, 3, s.groups, ho, wo, false);
      params += 4 * wb;
      if (o.seRatio > 0) {
        const wSe = roundHalfEven(wIn * o.seRatio);
        conv(wb, wSe, 1, 1, 1, 1, true);
        conv(wSe, wb, 1, 1, 1, 1, true);
      }
      conv(wb, s.width, 1, 1, ho, wo, false);
      params += 2 * s.width;
      if (wIn !== s.width || stride !== 1) {
        conv(wIn, s.width, 1, 1, ho, wo, false);
        params += 2 * s.width;
      }
      if (times !== 1) {
        params = p0 + (params - p0) * times;
        macs = m0 + (macs - m0) * times;
        flops = f0 + (flops - f0) * times;
        acts = a0 + (acts - a0) * times;
      }
      wIn = s.width;
      h = ho;
      w = wo;
    }
  }
  // head: FC with bias
  params += wIn * o.numClasses + o.numClasses;
  macs += wIn * o.numClasses;
  flops += wIn * o.numClasses + o.numClasses;
  acts += o.numClasses;
  return { params, macs, flops, acts };
}
