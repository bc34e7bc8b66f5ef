/**
 * Exponential moving average of a network's weights and BN buffers (timm's ModelEmaV2 without warm-up):
 * after every optimiser step ema = decay * ema + (1 - decay) * current, for every tensor of the state
 * dict. Kept on the host as float32 (engine-independent); evaluated by loading it into the network.
 */
import type { WeightMap } from '../arch/weights.js';

export class WeightEma {
  readonly weights: WeightMap;

  constructor(
    readonly decay: number,
    start: WeightMap,
  ) {
    this.weights = new Map();
    for (const [k, t] of start) this.weights.set(k, { shape: [...t.shape], data: Float32Array.from(t.data) });
  }

  update(current: WeightMap): void {
    const d = this.decay;
    for (const [k, e] of this.weights) {
      const cur = current.get(k);
      if (!cur) throw new Error(`ema: '${k}' is missing from the current weights`);
      const a = e.data;
      const b = cur.data;
      for (let i = 0; i < a.length; i++) a[i] = d * a[i]! + (1 - d) * b[i]!;
    }
  }
}
