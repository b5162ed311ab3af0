// Runs of a scenario side by side (`roam tune`, the adaptive-placement benchmark): what each run measured over
// all its requests and per request kind, the placements it ended with, and the table and SVG chart that compare
// them. Pure: reports in, text out.
import { Histogram } from '../core/histogram.ts';
import type { LoadReport } from './runner.ts';

export interface RunSummary {
  /** What the run was: "before", "adaptive", "static: all in the cluster", ... */
  label: string;
  /** Every request of the run. */
  all: { p50Ms: number; p99Ms: number; count: number; errors: number };
  /** Per request kind of the scenario (hello, cart-add, ...). */
  requests: Record<string, { p50Ms: number; p99Ms: number; count: number; errors: number }>;
  /**
   * 'request: status 502 ("the first such body")' or "request: ECONNRESET" -> how many; empty when nothing
   * failed.
   */
  errorsBy: Record<string, number>;
  /** Endpoint -> hosts it ran on when the run ended. */
  placement: Record<string, string[]>;
}

export function summarize(
  label: string,
  report: LoadReport,
  placement: Record<string, string[]>,
): RunSummary {
  const all = new Histogram();
  let count = 0;
  let errors = 0;
  const requests: RunSummary['requests'] = {};
  const errorsBy: Record<string, number> = {};
  for (const [name, s] of Object.entries(report.total)) {
    for (const [status, n] of Object.entries(s.rejected))
      errorsBy[`${name}: status ${status} (${JSON.stringify(s.rejectedSample[status] ?? '')})`] = n;
    for (const [code, n] of Object.entries(s.failures)) errorsBy[`${name}: ${code}`] = n;
    all.merge(s.histogram);
    count += s.count;
    errors += s.errors;
    requests[name] = { p50Ms: s.p50Ms, p99Ms: s.p99Ms, count: s.count, errors: s.errors };
  }
  return {
    label,
    all: { p50Ms: all.quantile(0.5), p99Ms: all.quantile(0.99), count, errors },
    requests,
    errorsBy,
    placement,
  };
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows
    .map((r) =>
      r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  '),
    )
    .join('\n');
}

/** p50/p99 of every run, each as a ratio to the `baseline` run (> 1: the baseline is slower). */
export function formatComparison(runs: RunSummary[], baseline: string): string {
  const base = runs.find((r) => r.label === baseline) ?? runs[0]!;
  const rows = [
    ['run', 'requests', 'errors', 'p50 ms', 'p99 ms', `p50 vs ${base.label}`, `p99 vs ${base.label}`],
  ];
  for (const r of runs) {
    rows.push([
      r.label,
      String(r.all.count),
      String(r.all.errors),
      r.all.p50Ms.toFixed(1),
      r.all.p99Ms.toFixed(1),
      `${(r.all.p50Ms / base.all.p50Ms).toFixed(2)}x`,
      `${(r.all.p99Ms / base.all.p99Ms).toFixed(2)}x`,
    ]);
  }
  return table(rows);
}

/** Per request kind, p50/p99 in each run; then where each endpoint ran at the end of each run. */
export function formatDetail(runs: RunSummary[]): string {
  const kinds = [...new Set(runs.flatMap((r) => Object.keys(r.requests)))].sort();
  const rows = [['request', ...runs.flatMap((r) => [`${r.label} p50`, `${r.label} p99`])]];
  for (const k of kinds)
    rows.push([
      k,
      ...runs.flatMap((r) => [
        r.requests[k]?.p50Ms.toFixed(1) ?? '-',
        r.requests[k]?.p99Ms.toFixed(1) ?? '-',
      ]),
    ]);
  const endpoints = [...new Set(runs.flatMap((r) => Object.keys(r.placement)))].sort();
  const placed = [['endpoint', ...runs.map((r) => `${r.label}: placement`)]];
  for (const e of endpoints) placed.push([e, ...runs.map((r) => (r.placement[e] ?? []).join(',') || '-')]);
  const failed = runs
    .filter((r) => Object.keys(r.errorsBy).length > 0)
    .map(
      (r) =>
        `errors in ${r.label}: ${Object.entries(r.errorsBy)
          .map(([k, n]) => `${k} x${n}`)
          .join(', ')}`,
    );
  return [table(rows), table(placed), ...(failed.length > 0 ? [failed.join('\n')] : [])].join('\n\n');
}

/** A bar chart of p50 and p99 per run (milliseconds), as a standalone SVG document. */
export function comparisonChart(runs: RunSummary[], title: string): string {
  const width = 640;
  const barArea = 420;
  const rowHeight = 44;
  const height = 60 + runs.length * rowHeight;
  const max = Math.max(...runs.map((r) => r.all.p99Ms), 1);
  const x = (ms: number) => (ms / max) * barArea;
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  const bars = runs
    .map((r, i) => {
      const y = 40 + i * rowHeight;
      return [
        `<text x="8" y="${y + 18}" font-size="12">${esc(r.label)}</text>`,
        `<rect x="200" y="${y + 4}" width="${x(r.all.p99Ms).toFixed(1)}" height="14" fill="#f2a65a"/>`,
        `<rect x="200" y="${y + 20}" width="${x(r.all.p50Ms).toFixed(1)}" height="14" fill="#4c8bf5"/>`,
        `<text x="${(204 + x(r.all.p99Ms)).toFixed(1)}" y="${y + 15}" font-size="11">p99 ${r.all.p99Ms.toFixed(1)} ms</text>`,
        `<text x="${(204 + x(r.all.p50Ms)).toFixed(1)}" y="${y + 31}" font-size="11">p50 ${r.all.p50Ms.toFixed(1)} ms</text>`,
      ].join('\n');
    })
    .join('\n');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif">
<rect width="100%" height="100%" fill="white"/>
<text x="8" y="22" font-size="15" font-weight="bold">${esc(title)}</text>
${bars}
</svg>
`;
}
