/**
 * bench/results/scale.json (an array of run records, the fields first, committed) and
 * what docs/scale.md shows of it, both drawn from every record there (`--report` redraws them):
 * - the plot, docs/scale.svg: heartbeat p99 and burst time (until every task ran) against N, one
 *   line per store and pattern, log–log (hand-written SVG: no plotting dependency);
 * - the table, between the `scale-table` markers in docs/scale.md.
 * The latest run of each store, pattern and N is the one shown.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ScaleRecord } from './run.js';

const ROOT = join(import.meta.dirname, '..', '..');
export const RESULTS = join(ROOT, 'bench', 'results', 'scale.json');
export const PLOT = join(ROOT, 'docs', 'scale.svg');
export const DOC = join(ROOT, 'docs', 'scale.md');
const TABLE_START = '<!-- scale-table:start (npm run bench:scale -- --report) -->';
const TABLE_END = '<!-- scale-table:end -->';

export function readRecords(): ScaleRecord[] {
  if (!existsSync(RESULTS)) return [];
  const parsed = JSON.parse(readFileSync(RESULTS, 'utf8')) as unknown;
  return Array.isArray(parsed) ? (parsed as ScaleRecord[]) : [];
}

export function appendRecord(record: ScaleRecord): string {
  const all = readRecords();
  all.push(record);
  writeFileSync(RESULTS, `${JSON.stringify(all, null, 2)}\n`);
  return RESULTS;
}

const COLORS: Record<string, string> = {
  'raft kvkit': '#1f77b4',
  'etcd kvkit': '#2ca02c',
  'consul kvkit': '#d62728',
  'raft libkv': '#9ecae1',
  'etcd libkv': '#a1d99b',
  'consul libkv': '#fc9272',
};

interface Panel {
  title: string;
  value: (r: ScaleRecord) => number | null;
}

/** The latest run of each store, pattern and N, by store, pattern, then N. */
export function latestRuns(records: ScaleRecord[]): ScaleRecord[] {
  const latest = new Map<string, ScaleRecord>();
  for (const r of records) latest.set(`${r.store} ${r.pattern} ${r.nodes}`, r);
  const order = (r: ScaleRecord) =>
    `${['raft', 'etcd', 'consul'].indexOf(r.store)}${r.pattern === 'kvkit' ? 0 : 1}`;
  return [...latest.values()].sort((a, b) => order(a).localeCompare(order(b)) || a.nodes - b.nodes);
}

/** One row per run, as the console and docs/scale.md show it (times in seconds). */
export function tableRows(records: ScaleRecord[]): Record<string, string>[] {
  const sec = (v: number | null) => (v === null ? '–' : (v / 1000).toFixed(1));
  const num = (v: number | null) => (v === null ? '–' : String(v));
  return records.map((r) => ({
    store: r.store,
    pattern: r.pattern,
    nodes: String(r.nodes),
    tasks: String(r.tasks),
    'hb s': sec(r.heartbeatMs),
    'join s': sec(r.joinMs),
    'hb p50/p99 ms': `${num(r.heartbeatP50Ms)}/${num(r.heartbeatP99Ms)}`,
    'false downs': num(r.falseDowns),
    'alloc/run/DNS s': `${sec(r.allocatedMs)}/${sec(r.runningMs)}/${sec(r.resolvableMs)}`,
    'down/replaced/DNS s': `${sec(r.downDetectedMs)}/${sec(r.replacedMs)}/${sec(r.replacedResolvableMs)}`,
    'leader kill: act s, downs': `${sec(r.leaderKillActMs)}, ${num(r.leaderKillFalseDowns)}`,
    'writes/s': num(r.storeWritesPerS),
    'mgr CPU %': num(r.managerCpuPercent),
    load: `${r.loadStart}→${r.loadEnd}`,
    error: r.error ? r.error.slice(0, 120) : '',
  }));
}

/** Redraws the plot and the table in docs/scale.md from every record; returns what it wrote. */
export function writeReport(records: ScaleRecord[]): string[] {
  const written = [writePlot(records)];
  if (existsSync(DOC)) {
    const doc = readFileSync(DOC, 'utf8');
    const start = doc.indexOf(TABLE_START);
    const end = doc.indexOf(TABLE_END);
    if (start !== -1 && end > start) {
      const table = markdownTable(tableRows(latestRuns(records)));
      writeFileSync(DOC, `${doc.slice(0, start + TABLE_START.length)}\n${table}\n${doc.slice(end)}`);
      written.push(DOC);
    }
  }
  return written;
}

function markdownTable(rows: Record<string, string>[]): string {
  if (rows.length === 0) return '(no runs recorded yet)';
  const columns = Object.keys(rows[0]);
  const line = (cells: string[]) => `| ${cells.map((c) => c.replaceAll('|', '\\|')).join(' | ')} |`;
  return [
    line(columns),
    line(columns.map(() => '---')),
    ...rows.map((r) => line(columns.map((c) => r[c]))),
  ].join('\n');
}

/** Draws the plot from every record (the latest run of each store, pattern and N); returns its path. */
export function writePlot(records: ScaleRecord[]): string {
  const runs = latestRuns(records);
  const panels: Panel[] = [
    { title: 'heartbeat p99 (ms) as the agents see it', value: (r) => r.heartbeatP99Ms },
    { title: 'burst: ms until every task runs', value: (r) => r.runningMs },
  ];
  const W = 460;
  const H = 300;
  const M = { left: 60, right: 20, top: 30, bottom: 45 };
  const parts: string[] = [];
  const ns = runs.map((r) => r.nodes);
  const nMin = Math.min(100, ...ns);
  const nMax = Math.max(10_000, ...ns);
  panels.forEach((panel, pi) => {
    const x0 = pi * W;
    const vals = runs.map(panel.value).filter((v): v is number => v !== null && v > 0);
    const vMin = 10 ** Math.floor(Math.log10(Math.min(1, ...vals)));
    const vMax = 10 ** Math.ceil(Math.log10(Math.max(10, ...vals)));
    const px = (n: number) =>
      x0 +
      M.left +
      ((Math.log10(n) - Math.log10(nMin)) / (Math.log10(nMax) - Math.log10(nMin))) * (W - M.left - M.right);
    const py = (v: number) =>
      M.top +
      (1 - (Math.log10(v) - Math.log10(vMin)) / (Math.log10(vMax) - Math.log10(vMin))) *
        (H - M.top - M.bottom);
    parts.push(`<text x="${x0 + W / 2}" y="18" text-anchor="middle" font-size="13">${panel.title}</text>`);
    parts.push(
      `<rect x="${x0 + M.left}" y="${M.top}" width="${W - M.left - M.right}" height="${H - M.top - M.bottom}" fill="none" stroke="#999"/>`,
    );
    for (let v = vMin; v <= vMax; v *= 10) {
      parts.push(
        `<line x1="${x0 + M.left}" x2="${x0 + W - M.right}" y1="${py(v)}" y2="${py(v)}" stroke="#eee"/>`,
      );
      parts.push(
        `<text x="${x0 + M.left - 5}" y="${py(v) + 4}" text-anchor="end" font-size="10">${v}</text>`,
      );
    }
    for (const n of [100, 250, 500, 1000, 2500, 4700, 10_000].filter((n) => n >= nMin && n <= nMax)) {
      parts.push(
        `<text x="${px(n)}" y="${H - M.bottom + 14}" text-anchor="middle" font-size="10">${n}</text>`,
      );
    }
    parts.push(`<text x="${x0 + W / 2}" y="${H - 8}" text-anchor="middle" font-size="11">nodes (N)</text>`);
    for (const [series, color] of Object.entries(COLORS)) {
      const pts = runs
        .filter((r) => `${r.store} ${r.pattern}` === series)
        .sort((a, b) => a.nodes - b.nodes)
        .map((r) => ({ n: r.nodes, v: panel.value(r), broke: r.error !== undefined }));
      const drawn = pts.filter((p) => p.v !== null && p.v > 0) as { n: number; v: number; broke: boolean }[];
      if (drawn.length > 1) {
        const d = drawn
          .map((p, i) => `${i === 0 ? 'M' : 'L'}${px(p.n).toFixed(1)},${py(p.v).toFixed(1)}`)
          .join(' ');
        const dash = series.endsWith('libkv') ? ' stroke-dasharray="5,3"' : '';
        parts.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="2"${dash}/>`);
      }
      for (const p of drawn) {
        parts.push(`<circle cx="${px(p.n).toFixed(1)}" cy="${py(p.v).toFixed(1)}" r="3" fill="${color}"/>`);
      }
      for (const p of pts.filter((q) => q.v === null && q.broke)) {
        parts.push(
          `<text x="${px(p.n).toFixed(1)}" y="${M.top + 12}" text-anchor="middle" font-size="12" fill="${color}">✕</text>`,
        );
      }
    }
  });
  const legend = Object.entries(COLORS)
    .filter(([series]) => runs.some((r) => `${r.store} ${r.pattern}` === series))
    .map(
      ([series, color], i) =>
        `<g transform="translate(${20 + i * 150},${H + 12})"><rect width="14" height="4" y="-4" fill="${color}"/><text x="20" font-size="11">${series}</text></g>`,
    );
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${2 * W}" height="${H + 25}" font-family="sans-serif">
<rect width="100%" height="100%" fill="white"/>
${[...parts, ...legend].join('\n')}
<text x="${2 * W - 10}" y="${H + 12}" text-anchor="end" font-size="10">✕: the run did not finish that phase</text>
</svg>
`;
  writeFileSync(PLOT, svg);
  return PLOT;
}
