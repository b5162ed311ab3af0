// The bundled load generator: runs a scenario open loop against the mesh's entry proxies. Each request is
// sent at its scheduled time however long earlier ones take, and its latency is counted from that scheduled
// time, so a slow system cannot slow the arrivals down and hide its own latency (no coordinated omission).
import { performance } from 'node:perf_hooks';
import { Agent } from 'undici';
import { InvalidArgumentError } from '../core/errors.ts';
import { Histogram, type HistogramSnapshot } from '../core/histogram.ts';
import { seededRandom } from '../core/random.ts';
import {
  fill,
  isOk,
  originsOf,
  type Phase,
  pick,
  type RequestTemplate,
  type Scenario,
  scenarioProblems,
} from './scenario.ts';

export interface RunOptions {
  /** Origin site -> the URL of the proxy requests from that site enter at. */
  targets: Record<string, string>;
  /** Multiplies every phase's duration (0.1: a run ten times shorter). */
  timeScale?: number;
  /** Multiplies every phase's arrival rate. */
  rateScale?: number;
  seed?: number;
  /** Requests outstanding at once; an arrival past it is dropped and counted, never delayed. */
  maxInFlight?: number;
  /** A request not answered in full by then fails with "timeout". */
  timeoutMs?: number;
  onPhase?: (phase: Phase, index: number) => void;
  /** Stops sending; requests in flight are still waited for and counted. */
  signal?: AbortSignal;
}

export interface RequestStats {
  endpoint: string;
  /** Arrivals sent. */
  count: number;
  ok: number;
  /** Answers with a status the request does not accept, plus failures without an answer. */
  errors: number;
  /** Arrivals not sent because `maxInFlight` requests were outstanding. */
  dropped: number;
  statuses: Record<string, number>;
  /** Answers counted as errors, by status (a subset of `statuses`). */
  rejected: Record<string, number>;
  /** Per status in `rejected`, the start of the first such answer's body: what the mesh said was wrong. */
  rejectedSample: Record<string, string>;
  /** Failures without an answer, by undici error code (or "timeout"). */
  failures: Record<string, number>;
  p50Ms: number;
  p99Ms: number;
  meanMs: number;
  /** Latency of every answered request, mergeable across runs (core/histogram.ts). */
  histogram: HistogramSnapshot;
}

export interface PhaseReport {
  name: string;
  durationS: number;
  /** Arrivals per second asked for (after `rateScale`). */
  rate: number;
  /** Arrivals sent per second, measured over the phase. */
  sentRate: number;
  origins: Record<string, number>;
  requests: Record<string, RequestStats>;
}

export interface LoadReport {
  scenario: string;
  description: string;
  startedAt: string;
  durationS: number;
  targets: Record<string, string>;
  phases: PhaseReport[];
  /** Per request over the whole run. */
  total: Record<string, RequestStats>;
}

class Tally {
  readonly histogram = new Histogram();
  count = 0;
  ok = 0;
  errors = 0;
  dropped = 0;
  readonly statuses: Record<string, number> = {};
  readonly rejected: Record<string, number> = {};
  readonly rejectedSample: Record<string, string> = {};
  readonly failures: Record<string, number> = {};
  private readonly endpoint: string;

  constructor(endpoint: string) {
    this.endpoint = endpoint;
  }

  answered(status: number, ok: boolean, ms: number, body: () => string): void {
    this.statuses[status] = (this.statuses[status] ?? 0) + 1;
    if (ok) this.ok++;
    else {
      this.errors++;
      this.rejected[status] = (this.rejected[status] ?? 0) + 1;
      this.rejectedSample[status] ??= body().slice(0, 200);
    }
    this.histogram.record(ms);
  }

  failed(code: string): void {
    this.errors++;
    this.failures[code] = (this.failures[code] ?? 0) + 1;
  }

  stats(): RequestStats {
    const h = this.histogram;
    return {
      endpoint: this.endpoint,
      count: this.count,
      ok: this.ok,
      errors: this.errors,
      dropped: this.dropped,
      statuses: this.statuses,
      rejected: this.rejected,
      rejectedSample: this.rejectedSample,
      failures: this.failures,
      p50Ms: h.quantile(0.5),
      p99Ms: h.quantile(0.99),
      meanMs: h.count === 0 ? 0 : h.sum / h.count,
      histogram: h.snapshot(),
    };
  }
}

/** Checks a scenario and its targets before anything is sent; the error names what is wrong. */
export function checkRun(scenario: Scenario, targets: Record<string, string>): void {
  const problems = scenarioProblems(scenario);
  const missing = originsOf(scenario).filter((o) => targets[o] === undefined);
  if (missing.length > 0)
    problems.push(`no target for origin ${missing.map((o) => `"${o}"`).join(', ')} (give --target SITE=URL)`);
  for (const [site, url] of Object.entries(targets)) {
    if (!URL.canParse(url) || !/^https?:$/.test(new URL(url).protocol))
      problems.push(`target "${site}" must be an http:// or https:// URL, got "${url}"`);
  }
  if (problems.length > 0) throw new InvalidArgumentError(`scenario ${problems.join('; ')}`);
}

function failureCode(err: unknown): string {
  const e = err as { name?: string; code?: string };
  if (e.name === 'TimeoutError' || e.name === 'AbortError') return 'timeout';
  return e.code ?? e.name ?? 'error';
}

export async function runScenario(scenario: Scenario, options: RunOptions): Promise<LoadReport> {
  const { targets, timeScale = 1, rateScale = 1, seed = 1, maxInFlight = 4096, timeoutMs = 10_000 } = options;
  checkRun(scenario, targets);
  if (!(timeScale > 0) || !(rateScale > 0))
    throw new InvalidArgumentError('time and rate scales must be above 0');
  const random = seededRandom(seed);
  const agent = new Agent({ keepAliveTimeout: 10_000, connections: null });
  const startedAt = new Date().toISOString();

  // The whole schedule, fixed up front: phase i sends `count` arrivals `interval` ms apart from `startMs`.
  let startMs = 0;
  const schedule = scenario.phases.map((phase) => {
    const durationMs = phase.durationS * 1000 * timeScale;
    const rate = phase.rate * rateScale;
    const slot = {
      phase,
      startMs,
      durationMs,
      rate,
      intervalMs: 1000 / rate,
      count: Math.floor((durationMs * rate) / 1000),
    };
    startMs += durationMs;
    return slot;
  });
  const totalMs = startMs;
  const tallies = schedule.map(() => new Map<string, Tally>());
  const origins = schedule.map(() => ({}) as Record<string, number>);
  const tallyOf = (i: number, name: string, t: RequestTemplate) => {
    const tally = tallies[i]!.get(name) ?? new Tally(t.endpoint);
    tallies[i]!.set(name, tally);
    return tally;
  };

  const inFlight = new Set<Promise<void>>();
  let seq = 0;
  const send = (i: number, scheduledAt: number) => {
    const phase = schedule[i]!.phase;
    const origin = pick(phase.origins, random());
    const name = pick(phase.mix, random());
    const template = scenario.requests[name]!;
    const tally = tallyOf(i, name, template);
    if (inFlight.size >= maxInFlight) {
      tally.dropped++;
      return;
    }
    tally.count++;
    origins[i]![origin] = (origins[i]![origin] ?? 0) + 1;
    const req = fill(scenario, template, seq++, random);
    const p = agent
      .request({
        origin: targets[origin]!,
        method: req.method,
        path: req.path,
        headers: req.headers,
        body: req.body ?? null,
        signal: AbortSignal.timeout(timeoutMs),
      })
      .then(async (res) => {
        const body = await res.body.arrayBuffer();
        tally.answered(res.statusCode, isOk(template, res.statusCode), performance.now() - scheduledAt, () =>
          Buffer.from(body).toString('utf8'),
        );
      })
      .catch((err: unknown) => tally.failed(failureCode(err)))
      .finally(() => inFlight.delete(p));
    inFlight.add(p);
  };

  const t0 = performance.now();
  await new Promise<void>((resolve) => {
    let i = 0;
    let k = 0;
    let announced = -1;
    const tick = () => {
      const now = performance.now() - t0;
      while (i < schedule.length && !options.signal?.aborted) {
        const slot = schedule[i]!;
        if (announced < i) {
          announced = i;
          options.onPhase?.(slot.phase, i);
        }
        if (k >= slot.count) {
          i++;
          k = 0;
          continue;
        }
        const at = slot.startMs + k * slot.intervalMs;
        if (at > now) {
          setTimeout(tick, at - now);
          return;
        }
        send(i, t0 + at);
        k++;
      }
      resolve();
    };
    tick();
  });
  while (inFlight.size > 0) await Promise.all([...inFlight]);
  await agent.close();

  const phases: PhaseReport[] = schedule.map((slot, i) => {
    const sent = [...tallies[i]!.values()].reduce((n, t) => n + t.count, 0);
    const requests: Record<string, RequestStats> = {};
    for (const [name, t] of [...tallies[i]!].sort(([a], [b]) => a.localeCompare(b)))
      requests[name] = t.stats();
    return {
      name: slot.phase.name,
      durationS: slot.durationMs / 1000,
      rate: slot.rate,
      sentRate: (sent / slot.durationMs) * 1000,
      origins: origins[i]!,
      requests,
    };
  });
  return {
    scenario: scenario.name,
    description: scenario.description,
    startedAt,
    durationS: totalMs / 1000,
    targets,
    phases,
    total: mergeStats(phases),
  };
}

/** Per-request totals over the phases: histograms add exactly, so quantiles stay right. */
function mergeStats(phases: PhaseReport[]): Record<string, RequestStats> {
  const merged = new Map<string, Tally>();
  for (const phase of phases)
    for (const [name, s] of Object.entries(phase.requests)) {
      const t = merged.get(name) ?? new Tally(s.endpoint);
      merged.set(name, t);
      t.count += s.count;
      t.ok += s.ok;
      t.errors += s.errors;
      t.dropped += s.dropped;
      for (const [k, v] of Object.entries(s.statuses)) t.statuses[k] = (t.statuses[k] ?? 0) + v;
      for (const [k, v] of Object.entries(s.rejected)) t.rejected[k] = (t.rejected[k] ?? 0) + v;
      for (const [k, v] of Object.entries(s.rejectedSample)) t.rejectedSample[k] ??= v;
      for (const [k, v] of Object.entries(s.failures)) t.failures[k] = (t.failures[k] ?? 0) + v;
      t.histogram.merge(s.histogram);
    }
  const out: Record<string, RequestStats> = {};
  for (const [name, t] of [...merged].sort(([a], [b]) => a.localeCompare(b))) out[name] = t.stats();
  return out;
}

/** The report as a terminal table: a row per phase and request, then the totals. */
export function formatReport(report: LoadReport): string {
  const rows: string[][] = [['phase', 'request', 'sent', 'ok', 'errors', 'dropped', 'p50 ms', 'p99 ms']];
  const row = (phase: string, name: string, s: RequestStats) =>
    rows.push([
      phase,
      name,
      String(s.count),
      String(s.ok),
      String(s.errors),
      String(s.dropped),
      s.p50Ms.toFixed(2),
      s.p99Ms.toFixed(2),
    ]);
  for (const p of report.phases) for (const [name, s] of Object.entries(p.requests)) row(p.name, name, s);
  for (const [name, s] of Object.entries(report.total)) row('(all)', name, s);
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  const lines = rows.map((r) =>
    r.map((cell, c) => (c < 2 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  '),
  );
  const rates = report.phases.map((p) => `${p.name} ${p.sentRate.toFixed(1)}/${p.rate} req/s`).join(', ');
  return [`scenario ${report.scenario}: ${report.durationS.toFixed(1)} s; sent ${rates}`, ...lines].join(
    '\n',
  );
}
