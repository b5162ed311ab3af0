// The route table: an immutable, versioned map from method + path pattern (+ optional host) to an endpoint,
// and from each endpoint to its weighted targets. A new table is built off the request path and swapped in
// whole; a request keeps the table it started with (STYLE.md, "config off the request path").
import { InvalidArgumentError } from '../core/errors.ts';
import { type CallerPolicy, checkCallerPolicy } from '../core/mesh-authz.ts';

/** Where an endpoint can run: this proxy's embedded host, a standalone host, or the legacy upstream. */
export type TargetSpec =
  | { kind: 'local'; weight: number }
  | { kind: 'host'; url: string; weight: number; id?: string; tier?: string }
  | { kind: 'upstream'; weight: number };

export interface RouteSpec {
  /** "GET /cart/*", "* /hello", "POST /checkout/{user}"; a trailing "/*" matches any deeper path. */
  match: string;
  endpoint: string;
  host?: string;
  timeoutMs?: number;
  /** Retries after the first attempt, for connect failures and idempotent methods. */
  retries?: number;
}

export interface EndpointSpec {
  targets: TargetSpec[];
  /** Module digest for local targets (the embedded host runs it). */
  digest?: string;
  /** Which mesh identities may call it through `/.roam/call/` (absent: any); see core/mesh-authz.ts. */
  callers?: CallerPolicy;
}

export interface RouteConfig {
  version: number;
  routes: RouteSpec[];
  endpoints: Record<string, EndpointSpec>;
}

export interface Route {
  method: string;
  host: string | undefined;
  /** Path segments; "*" as the last one matches the rest, "{x}" one segment. */
  segments: string[];
  prefix: boolean;
  endpoint: string;
  timeoutMs: number;
  retries: number;
  /** The route as written ("GET /checkout/{user}"). */
  source: string;
  /** Its path template ("/checkout/{user}"): OpenTelemetry's `http.route`, which never carries the method. */
  template: string;
}

export interface Target {
  key: string;
  spec: TargetSpec;
}

export interface EndpointTargets {
  name: string;
  digest: string | undefined;
  targets: Target[];
  totalWeight: number;
  callers: CallerPolicy | undefined;
}

export const DEFAULT_ROUTE_TIMEOUT_MS = 15_000;
const METHODS = new Set(['*', 'GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']);

export function targetKey(t: TargetSpec): string {
  return t.kind === 'host' ? `host:${t.url}` : t.kind;
}

function compileRoute(spec: RouteSpec, index: number): Route {
  const where = `routes[${index}]`;
  if (typeof spec.match !== 'string')
    throw new InvalidArgumentError(`${where}.match must be a string like "GET /cart/*"`);
  const parts = spec.match.trim().split(/\s+/);
  if (parts.length !== 2)
    throw new InvalidArgumentError(`${where}.match "${spec.match}" must be "METHOD /path"`);
  const method = parts[0]!.toUpperCase();
  const path = parts[1]!;
  if (!METHODS.has(method)) throw new InvalidArgumentError(`${where}.match has unknown method "${parts[0]}"`);
  if (!path.startsWith('/'))
    throw new InvalidArgumentError(`${where}.match path "${path}" must start with "/"`);
  const segments = path.split('/').slice(1);
  const prefix = segments[segments.length - 1] === '*';
  if (prefix) segments.pop();
  if (segments.includes('*')) {
    throw new InvalidArgumentError(`${where}.match "${spec.match}": "*" is only allowed as the last segment`);
  }
  if (typeof spec.endpoint !== 'string' || spec.endpoint === '') {
    throw new InvalidArgumentError(`${where}.endpoint must name an endpoint`);
  }
  const timeoutMs = spec.timeoutMs ?? DEFAULT_ROUTE_TIMEOUT_MS;
  const retries = spec.retries ?? 1;
  if (!(timeoutMs > 0)) throw new InvalidArgumentError(`${where}.timeoutMs must be positive`);
  if (!Number.isInteger(retries) || retries < 0 || retries > 5) {
    throw new InvalidArgumentError(`${where}.retries must be an integer from 0 to 5`);
  }
  return {
    method,
    host: spec.host?.toLowerCase(),
    segments,
    prefix,
    endpoint: spec.endpoint,
    timeoutMs,
    retries,
    source: spec.match,
    template: path,
  };
}

function compileEndpoint(name: string, spec: EndpointSpec): EndpointTargets {
  if (!Array.isArray(spec.targets) || spec.targets.length === 0) {
    throw new InvalidArgumentError(`endpoints.${name}.targets must list at least one target`);
  }
  let total = 0;
  const targets: Target[] = [];
  for (const [i, t] of spec.targets.entries()) {
    const where = `endpoints.${name}.targets[${i}]`;
    if (t.kind !== 'local' && t.kind !== 'host' && t.kind !== 'upstream') {
      throw new InvalidArgumentError(`${where}.kind must be local, host or upstream`);
    }
    if (t.kind === 'host') {
      try {
        new URL(t.url);
      } catch {
        throw new InvalidArgumentError(`${where}.url "${t.url}" is not a URL`);
      }
    }
    const weight = t.weight ?? 1;
    if (!(weight >= 0)) throw new InvalidArgumentError(`${where}.weight must be >= 0`);
    if (t.kind === 'local' && !spec.digest) {
      throw new InvalidArgumentError(
        `endpoints.${name} has a local target but no "digest" for the embedded host`,
      );
    }
    total += weight;
    targets.push({ key: targetKey(t), spec: { ...t, weight } });
  }
  if (total <= 0) throw new InvalidArgumentError(`endpoints.${name}: target weights add up to 0`);
  const callers =
    spec.callers === undefined ? undefined : checkCallerPolicy(spec.callers, `endpoints.${name}.callers`);
  return { name, digest: spec.digest, targets, totalWeight: total, callers };
}

export class RouteTable {
  readonly version: number;
  readonly config: RouteConfig;
  private readonly routes: Route[];
  private readonly endpoints: Map<string, EndpointTargets>;

  private constructor(config: RouteConfig, routes: Route[], endpoints: Map<string, EndpointTargets>) {
    this.version = config.version;
    this.config = config;
    this.routes = routes;
    this.endpoints = endpoints;
  }

  /** Validates a config and builds a table; throws InvalidArgumentError naming the first problem. */
  static build(config: RouteConfig): RouteTable {
    if (!Number.isInteger(config.version) || config.version < 0) {
      throw new InvalidArgumentError('route config "version" must be a non-negative integer');
    }
    const endpoints = new Map<string, EndpointTargets>();
    for (const [name, spec] of Object.entries(config.endpoints ?? {}))
      endpoints.set(name, compileEndpoint(name, spec));
    const routes = (config.routes ?? []).map(compileRoute);
    for (const r of routes) {
      if (!endpoints.has(r.endpoint)) {
        throw new InvalidArgumentError(
          `route "${r.source}" names endpoint "${r.endpoint}", which has no targets`,
        );
      }
    }
    // Most specific first: more literal segments, then exact before prefix, then a host before none.
    routes.sort(
      (a, b) =>
        b.segments.length - a.segments.length ||
        Number(a.prefix) - Number(b.prefix) ||
        Number(b.host !== undefined) - Number(a.host !== undefined) ||
        Number(a.method === '*') - Number(b.method === '*'),
    );
    return new RouteTable(structuredClone(config), routes, endpoints);
  }

  static empty(): RouteTable {
    return RouteTable.build({ version: 0, routes: [], endpoints: {} });
  }

  match(method: string, host: string | undefined, path: string): Route | undefined {
    const segs = path.split('/');
    for (const r of this.routes) {
      if (r.method !== '*' && r.method !== method && !(method === 'HEAD' && r.method === 'GET')) continue;
      if (r.host !== undefined && r.host !== host) continue;
      if (matchSegments(r, segs)) return r;
    }
    return undefined;
  }

  endpoint(name: string): EndpointTargets | undefined {
    return this.endpoints.get(name);
  }

  endpointNames(): string[] {
    return [...this.endpoints.keys()];
  }
}

function matchSegments(r: Route, segs: string[]): boolean {
  // segs[0] is "" (the path starts with "/").
  const n = segs.length - 1;
  if (r.prefix ? n < r.segments.length : n !== r.segments.length) return false;
  for (let i = 0; i < r.segments.length; i++) {
    const want = r.segments[i]!;
    const got = segs[i + 1]!;
    if (want.startsWith('{') && want.endsWith('}')) {
      if (got === '') return false;
    } else if (want !== got) {
      return false;
    }
  }
  return true;
}

/** Weighted pick among targets not in `skip` (ejected or already tried); `rand` in [0, 1). */
export function pickTarget(
  ep: EndpointTargets,
  skip: (t: Target) => boolean,
  rand: number,
): Target | undefined {
  let total = 0;
  for (const t of ep.targets) if (!skip(t)) total += t.spec.weight;
  if (total <= 0) {
    // Only standbys (weight 0) are left: they take attempts no weighted target can, e.g. the old replicas of
    // an endpoint just moved, while the new one fails.
    const standby = ep.targets.filter((t) => !skip(t));
    return standby[Math.floor(rand * standby.length)];
  }
  let x = rand * total;
  for (const t of ep.targets) {
    if (skip(t)) continue;
    x -= t.spec.weight;
    if (x < 0) return t;
  }
  return ep.targets.findLast((t) => !skip(t));
}
