/** CSV reading and writing through csv-parse / csv-stringify, with errors that name the file. */
import { readFileSync } from 'node:fs';
import { parse } from 'csv-parse/sync';
import { stringify } from 'csv-stringify/sync';
import { UsageError } from '../util/errors.js';

export type CsvRecord = Record<string, string>;

export function readCsv(path: string): CsvRecord[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new UsageError(`cannot read CSV '${path}': ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  return parseCsv(text, path);
}

export function parseCsv(text: string, where: string): CsvRecord[] {
  return parseCsvTable(text, where).records;
}

/** The header and the records; `relaxColumnCount` accepts rows with fewer or more cells than the header. */
export function parseCsvTable(text: string, where: string, opts: { relaxColumnCount?: boolean } = {}): { columns: string[]; records: CsvRecord[] } {
  let columns: string[] = [];
  try {
    const records = parse(text, {
      columns: (header: string[]) => (columns = header),
      skip_empty_lines: true,
      trim: true,
      bom: true,
      relax_column_count: opts.relaxColumnCount ?? false,
    }) as CsvRecord[];
    return { columns, records };
  } catch (e) {
    throw new UsageError(`bad CSV '${where}': ${(e as Error).message.split('\n')[0]}`);
  }
}

/**
 * A text cell that a spreadsheet would run as a formula (leading = + - @, tab or CR) gets a leading
 * apostrophe, as OWASP's CSV-injection advice says; numbers such as -0.5, -inf or +1e3 stay as they are.
 */
export function neutraliseFormula(cell: string): string {
  return /^[=+\-@\t\r]/.test(cell) && !/^[-+]?(\d|\.\d|inf|nan)/i.test(cell) ? `'${cell}` : cell;
}

export function toCsv(header: string[], rows: Array<Record<string, unknown>>): string {
  return stringify(rows, {
    header: true,
    columns: header,
    cast: { number: (v) => String(v), boolean: (v) => String(v), string: (v) => neutraliseFormula(v) },
  });
}

/** Check that a CSV has the columns a command needs. */
export function requireColumns(rows: CsvRecord[], cols: string[], where: string): void {
  const have = new Set(Object.keys(rows[0] ?? {}));
  const missing = cols.filter((c) => !have.has(c));
  if (rows.length > 0 && missing.length) {
    throw new UsageError(`CSV '${where}' lacks column(s) ${missing.join(', ')} (has: ${[...have].join(', ')})`);
  }
}
