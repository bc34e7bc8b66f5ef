/**
 * Rounding as Python, numpy and torch do it: halves go to the even neighbour.
 * JavaScript's Math.round sends halves up, which changes published RegNet widths: the reference generators
 * (pycls `generate_regnet`, timm `generate_regnet`) round s_j (eq. 4 of Radosavovic et al. 2020) and the
 * multiple-of-8 quantization with np.round, and the group step (`adjust_ws_gs_comp`,
 * `adjust_widths_groups_comp`) with Python's round; both round half to even.
 */
export function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const diff = x - f; // exact for finite doubles
  if (diff < 0.5) return f;
  if (diff > 0.5) return f + 1;
  return f % 2 === 0 ? f : f + 1;
}

/** torchvision's divisibility rule (timm `_tv` variants): round half up to a multiple, never below 90%. */
export function makeDivisible(v: number, divisor: number, minValue: number = divisor, roundLimit = 0.9): number {
  let newV = Math.max(minValue, Math.floor(Math.floor(v + divisor / 2) / divisor) * divisor);
  if (newV < roundLimit * v) newV += divisor;
  return newV;
}
