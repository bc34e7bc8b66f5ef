/** Plain-text tables for the terminal: columns padded, numbers right-aligned. */
export function renderTable(header: string[], rows: (string | number)[][], rightAlign?: boolean[]): string {
  const cells = rows.map((r) => r.map((c) => String(c)));
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] ?? '').length)));
  const align = rightAlign ?? header.map((_, i) => cells.length > 0 && cells.every((r) => /^[-+]?[\d,.]+[KMGT%x]?$/.test(r[i] ?? '')));
  const line = (r: string[]) =>
    r
      .map((c, i) => (align[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.map(line)].join('\n');
}
