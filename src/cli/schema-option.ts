/**
 * Number flags whose allowed values are a zod schema defined elsewhere (training hyper-parameters in
 * src/train/hyper.ts): the flag states no bounds of its own, and a bad value is reported on one line
 * as `--FLAG: must be ...`, the schema's message.
 */
import { InvalidArgumentError } from 'commander';
import type { z } from 'zod';

/** decimal notation, optionally with an exponent: 3, -2, 0.5, .5, 1e-3 */
const NUMBER = /^\s*[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?\s*$/;

/** The number a flag's text states in decimal notation; NaN for anything else ('0x10', '', 'abc'). */
export function numberText(text: string): number {
  return NUMBER.test(text) ? Number(text) : NaN;
}

export function parseSchemaNumber(flag: string, schema: z.ZodType<number>) {
  return (text: string): number => {
    const r = schema.safeParse(numberText(text));
    if (!r.success) throw new InvalidArgumentError(`${flag}: ${r.error.issues[0]!.message}`);
    return r.data;
  };
}
