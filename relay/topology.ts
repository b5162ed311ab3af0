// The topology file: sites with their tier and the links between them (round-trip time, jitter, bandwidth,
// loss). Parsing refuses a bad file naming the field; `linkTable` gives the link for every pair of sites,
// filling pairs the file leaves out from the tiers' defaults and taking the lowest-RTT path.
import { readFileSync } from 'node:fs';
import { InvalidArgumentError } from '../core/errors.ts';
import { filePath } from '../core/paths.ts';

/** Tiers a site can have. An in-process host lives inside a proxy, so it is at that proxy's site. */
export const SITE_TIERS = ['cluster', 'edge', 'device'] as const;
export type SiteTier = (typeof SITE_TIERS)[number];

export interface Link {
  /** Round-trip time added by the link, in ms; each direction pays half. */
  rttMs: number;
  /** Extra round-trip delay, uniform in [0, jitterMs] (half per direction): the RTT never drops below rttMs. */
  jitterMs: number;
  /** Megabits per second each way; null is unlimited. */
  bandwidthMbps: number | null;
  /** Probability that a TCP segment (1460 bytes) is lost and has to be retransmitted, 0 <= loss < 1. */
  loss: number;
}

export interface DeclaredLink extends Link {
  between: [string, string];
}

export interface Topology {
  sites: Record<string, { tier: SiteTier }>;
  links: DeclaredLink[];
}

export const DEFAULT_TOPOLOGY_FILE = filePath('relay/default-topology.json');

/** Links between tiers when the file declares none between two sites: a device is 10 ms from the edge, the
 * edge 40 ms from the cluster, and farther pairs pay the sum of the hops between them. */
const BASE_LINKS: Record<string, Link> = {
  'device|edge': { rttMs: 10, jitterMs: 2, bandwidthMbps: 100, loss: 0 },
  'cluster|edge': { rttMs: 40, jitterMs: 4, bandwidthMbps: 1000, loss: 0 },
  'cluster|cluster': { rttMs: 1, jitterMs: 0, bandwidthMbps: 10_000, loss: 0 },
};

/** Joins two links end to end: delays add, the narrower bandwidth wins, survival probabilities multiply. */
export function chain(a: Link, b: Link): Link {
  const bw =
    a.bandwidthMbps === null
      ? b.bandwidthMbps
      : b.bandwidthMbps === null
        ? a.bandwidthMbps
        : Math.min(a.bandwidthMbps, b.bandwidthMbps);
  return {
    rttMs: a.rttMs + b.rttMs,
    jitterMs: a.jitterMs + b.jitterMs,
    bandwidthMbps: bw,
    loss: 1 - (1 - a.loss) * (1 - b.loss),
  };
}

const pairKey = (a: string, b: string) => (a < b ? `${a}|${b}` : `${b}|${a}`);

/** The default link between two tiers: a base link, or the chain of base links between them. */
export function tierLink(a: SiteTier, b: SiteTier): Link {
  const base = BASE_LINKS[pairKey(a, b)];
  if (base) return base;
  const de = BASE_LINKS['device|edge']!;
  const ec = BASE_LINKS['cluster|edge']!;
  if (pairKey(a, b) === 'cluster|device') return chain(de, ec);
  if (a === 'device') return chain(de, de); // two devices talk through their edge
  return chain(ec, ec); // two edges talk through the cluster
}

function fail(field: string, problem: string): never {
  throw new InvalidArgumentError(`topology: ${field} ${problem}`);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function onlyKeys(obj: Record<string, unknown>, allowed: string[], field: string): void {
  for (const k of Object.keys(obj))
    if (!allowed.includes(k)) fail(`${field}.${k}`, `is not a known field (known: ${allowed.join(', ')})`);
}

function number(v: unknown, field: string, check: (n: number) => boolean, rule: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || !check(v))
    fail(field, `must be ${rule}, got ${JSON.stringify(v)}`);
  return v;
}

const SITE_NAME = /^[A-Za-z0-9._-]{1,64}$/;

/** Checks a parsed topology file; the error names the first bad field, e.g. `links[1].rttMs`. */
export function parseTopology(value: unknown): Topology {
  if (!isObject(value)) fail('the file', 'must be a JSON object with "sites" and "links"');
  onlyKeys(value, ['sites', 'links'], 'topology');
  if (!isObject(value.sites) || Object.keys(value.sites).length === 0)
    fail('sites', 'must be an object naming at least one site, e.g. {"edge": {"tier": "edge"}}');
  const sites: Topology['sites'] = {};
  for (const [name, site] of Object.entries(value.sites)) {
    const field = `sites.${name}`;
    if (!SITE_NAME.test(name)) fail(field, 'must be named with 1 to 64 of [A-Za-z0-9._-]');
    if (!isObject(site)) fail(field, 'must be an object with a "tier"');
    onlyKeys(site, ['tier'], field);
    if (site.tier === 'in-process')
      fail(
        `${field}.tier`,
        'cannot be "in-process": an in-process host lives inside a proxy, at the proxy\'s site',
      );
    if (!SITE_TIERS.includes(site.tier as SiteTier))
      fail(`${field}.tier`, `must be one of ${SITE_TIERS.join(', ')}, got ${JSON.stringify(site.tier)}`);
    sites[name] = { tier: site.tier as SiteTier };
  }
  const rawLinks = value.links ?? [];
  if (!Array.isArray(rawLinks)) fail('links', 'must be an array');
  const seen = new Set<string>();
  const links = rawLinks.map((raw: unknown, i): DeclaredLink => {
    const field = `links[${i}]`;
    if (!isObject(raw)) fail(field, 'must be an object');
    onlyKeys(raw, ['between', 'rttMs', 'jitterMs', 'bandwidthMbps', 'loss'], field);
    const between = raw.between;
    if (!Array.isArray(between) || between.length !== 2 || between.some((s) => typeof s !== 'string'))
      fail(`${field}.between`, 'must be two site names, e.g. ["device", "edge"]');
    const [a, b] = between as [string, string];
    for (const s of [a, b])
      if (!(s in sites)) fail(`${field}.between`, `names "${s}", which is not in "sites"`);
    if (a === b)
      fail(`${field}.between`, 'must name two different sites (traffic within a site is not relayed)');
    if (seen.has(pairKey(a, b))) fail(`${field}.between`, `repeats the link between "${a}" and "${b}"`);
    seen.add(pairKey(a, b));
    return {
      between: [a, b],
      rttMs: number(
        raw.rttMs,
        `${field}.rttMs`,
        (n) => n >= 0 && n <= 60_000,
        'a number of ms from 0 to 60000',
      ),
      jitterMs: number(
        raw.jitterMs ?? 0,
        `${field}.jitterMs`,
        (n) => n >= 0 && n <= 60_000,
        'a number of ms from 0 to 60000',
      ),
      bandwidthMbps:
        raw.bandwidthMbps === undefined || raw.bandwidthMbps === null
          ? null
          : number(
              raw.bandwidthMbps,
              `${field}.bandwidthMbps`,
              (n) => n > 0,
              'a positive number of Mbit/s (omit it for unlimited)',
            ),
      loss: number(
        raw.loss ?? 0,
        `${field}.loss`,
        (n) => n >= 0 && n < 1,
        'a probability from 0 up to (not including) 1',
      ),
    };
  });
  return { sites, links };
}

export function loadTopology(file: string): Topology {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new InvalidArgumentError(`topology ${file}: ${(err as Error).message}`, { cause: err });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new InvalidArgumentError(`topology ${file}: not valid JSON (${(err as Error).message})`, {
      cause: err,
    });
  }
  return parseTopology(value);
}

/**
 * The link for every ordered pair of distinct sites. Pairs the file does not link get their tiers' default
 * link; then traffic takes the lowest-RTT path (so with device-edge and edge-cluster declared, device-cluster
 * is their sum unless the file says otherwise).
 */
export function linkTable(topology: Topology): (from: string, to: string) => Link {
  const names = Object.keys(topology.sites);
  const best = new Map<string, Link>();
  for (const a of names)
    for (const b of names)
      if (a < b) best.set(pairKey(a, b), tierLink(topology.sites[a]!.tier, topology.sites[b]!.tier));
  for (const l of topology.links) best.set(pairKey(l.between[0], l.between[1]), l);
  // Floyd-Warshall on RTT: a handful of sites, so cubic is nothing.
  for (const k of names)
    for (const a of names)
      for (const b of names) {
        if (a >= b || a === k || b === k) continue;
        const via = chain(best.get(pairKey(a, k))!, best.get(pairKey(k, b))!);
        if (via.rttMs < best.get(pairKey(a, b))!.rttMs) best.set(pairKey(a, b), via);
      }
  return (from, to) => {
    if (!(from in topology.sites)) throw new InvalidArgumentError(`topology: no site "${from}"`);
    if (!(to in topology.sites)) throw new InvalidArgumentError(`topology: no site "${to}"`);
    if (from === to) return { rttMs: 0, jitterMs: 0, bandwidthMbps: null, loss: 0 };
    const { rttMs, jitterMs, bandwidthMbps, loss } = best.get(pairKey(from, to))!;
    return { rttMs, jitterMs, bandwidthMbps, loss };
  };
}
