/**
 * --amp [dtype], --amp-dtype and --channels-last for the commands that run the torch engine (train, eval,
 * bench), as timm's train.py / validate.py / benchmark.py spell them:
 *
 *   ours                    timm
 *   --amp                   --amp            (dtype: float16 on CUDA, bfloat16 on the CPU, see below)
 *   --amp bf16              --amp --amp-dtype bfloat16
 *   --amp fp16              --amp --amp-dtype float16
 *   --amp-dtype bfloat16    (accepted too; implies --amp)
 *   --channels-last         --channels-last
 *
 * `--amp` alone takes autocast's default dtype for the device: float16 on CUDA (timm's `--amp-dtype`
 * default) and bfloat16 on the CPU, the only dtype libtorch 1.13's CPU autocast lowers to; `--amp fp16` on
 * the CPU is refused before anything runs.
 */
import { InvalidArgumentError, type Command } from 'commander';
import { resolveAmp } from '../engine/torch/amp.js';
import type { AmpDtype, EngineChoice } from '../engine/types.js';
import { UsageError } from '../util/errors.js';

export interface PrecisionCliOptions {
  /** true: the flag alone */
  amp?: AmpDtype | true;
  ampDtype?: AmpDtype;
  channelsLast?: boolean;
}

/** bf16 / bfloat16 -> bf16, fp16 / float16 / half -> fp16 */
export function parseAmpDtype(field: string) {
  return (text: string): AmpDtype => {
    const t = text.trim().toLowerCase();
    if (t === 'bf16' || t === 'bfloat16') return 'bf16';
    if (t === 'fp16' || t === 'float16' || t === 'half') return 'fp16';
    throw new InvalidArgumentError(`${field} must be one of bf16, fp16 (or timm's bfloat16, float16), got '${text}'.`);
  };
}

export function addPrecisionOptions(cmd: Command): Command {
  return cmd
    .option(
      '--amp [dtype]',
      'mixed precision on the torch engine (autocast): bf16 or fp16, fp16 with a dynamic grad scaler; alone: fp16 on CUDA, bf16 on the CPU',
      parseAmpDtype('--amp'),
    )
    .option('--amp-dtype <dtype>', "timm's spelling of the --amp dtype: bfloat16 or float16 (implies --amp)", parseAmpDtype('--amp-dtype'))
    .option('--channels-last', 'NHWC memory format for inputs, activations and conv weights (torch engine)');
}

/**
 * The engine options these flags give, checked against the engine and device before anything runs:
 * a one-line UsageError for fp16 on the CPU, disagreeing dtypes, or an engine other than torch.
 */
export function precisionEngineOptions(
  o: PrecisionCliOptions,
  engine: EngineChoice | undefined,
  device: string | undefined,
): { amp?: AmpDtype; channelsLast?: boolean } {
  if (o.amp !== undefined && o.amp !== true && o.ampDtype !== undefined && o.amp !== o.ampDtype)
    throw new UsageError(`--amp ${o.amp} and --amp-dtype ${o.ampDtype} disagree; give one dtype`);
  const asked = o.ampDtype ?? o.amp;
  const amp = resolveAmp(asked, device);
  const channelsLast = o.channelsLast === true ? true : undefined;
  if ((amp || channelsLast) && engine !== undefined && engine !== 'auto' && engine !== 'torch')
    throw new UsageError(`${amp ? '--amp' : '--channels-last'}: only the torch engine has it (got --engine ${engine}); use --engine torch`);
  return { ...(amp ? { amp } : {}), ...(channelsLast ? { channelsLast } : {}) };
}
