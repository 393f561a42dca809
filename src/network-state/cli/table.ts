/** Rows as docker prints them: left-aligned columns, three spaces apart, a header line. */
export function formatTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i])))
      .join('   ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

/** `K=V` options (`--opt`, `--label`, `--aux-address`) as an object; null names the bad one. */
export function parsePairs(values: string[], what: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const value of values) {
    const eq = value.indexOf('=');
    if (eq <= 0) throw new CliUsageError(`invalid ${what} ${JSON.stringify(value)}: expected NAME=VALUE`);
    out[value.slice(0, eq)] = value.slice(eq + 1);
  }
  return out;
}

/** A command line that cannot be run as given: printed with the usage, exit code 2. */
export class CliUsageError extends Error {}

/** The short id docker shows. */
export function shortId(id: string): string {
  return id.slice(0, 12);
}
