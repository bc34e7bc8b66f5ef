/**
 * Learning rate per step: linear warm-up from lr/warmup to lr over the first `warmupSteps` steps, then a
 * half cosine from lr down to 0 over the remaining steps (evaluated per step, not per epoch).
 */
export function lrAt(step: number, totalSteps: number, warmupSteps: number, baseLr: number): number {
  const warm = Math.min(Math.max(0, Math.round(warmupSteps)), totalSteps);
  if (step < warm) return (baseLr * (step + 1)) / warm;
  const rest = totalSteps - warm;
  if (rest <= 0) return baseLr;
  const t = Math.min(step - warm, rest) / rest;
  return 0.5 * baseLr * (1 + Math.cos(Math.PI * t));
}
