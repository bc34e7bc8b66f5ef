/**
 * Weights as plain data, keyed by timm state_dict names (`s1.b1.conv1.conv.weight`, `fc.bias`, ...).
 * Conv weights are OIHW, FC weights [out, in], exactly as in a PyTorch checkpoint; each engine converts
 * layouts itself when it loads them.
 */
export interface WeightTensor {
  shape: number[];
  data: Float32Array;
}

export type WeightMap = Map<string, WeightTensor>;
