// What a load-test scenario is, as plain data both runners read: the Node runner (loadtests/runner.ts) and the
// k6 script (loadtests/k6/script.ts). Nothing here imports Node or k6, so k6 can load it as it is.

export type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';

/**
 * One kind of request. `path`, `body` and header values may hold `{user}` (one of the scenario's users),
 * `{sku}` (one of its skus) and `{n}` (the request's sequence number).
 */
export interface RequestTemplate {
  /** The mesh endpoint this request exercises, for reports that group by endpoint. */
  endpoint: string;
  method: Method;
  path: string;
  body?: string;
  headers?: Record<string, string>;
  /** Statuses that count as success (default: 200-399), e.g. checkout's 409 for an empty cart. */
  ok?: number[];
}

export interface Phase {
  name: string;
  durationS: number;
  /** Open-loop arrival rate, requests per second, whatever the latency. */
  rate: number;
  /** Origin site -> weight: where requests enter the mesh (each origin has its entry proxy). */
  origins: Record<string, number>;
  /** Request name (a key of `requests`) -> weight. */
  mix: Record<string, number>;
}

export interface Scenario {
  name: string;
  description: string;
  /** `{user}` is one of user1..userN, `{sku}` one of sku1..skuN. */
  users: number;
  skus: number;
  requests: Record<string, RequestTemplate>;
  phases: Phase[];
}

export interface FilledRequest {
  method: Method;
  path: string;
  body: string | undefined;
  headers: Record<string, string>;
}

/** Problems with a scenario, each naming its field; empty when it is sound. */
export function scenarioProblems(s: Scenario): string[] {
  const problems: string[] = [];
  const positive = (v: unknown) => typeof v === 'number' && Number.isFinite(v) && v > 0;
  if (!Number.isInteger(s.users) || s.users < 1) problems.push(`${s.name}: users must be a positive integer`);
  if (!Number.isInteger(s.skus) || s.skus < 1) problems.push(`${s.name}: skus must be a positive integer`);
  for (const [name, r] of Object.entries(s.requests))
    if (!r.path.startsWith('/')) problems.push(`${s.name}: requests.${name}.path must start with "/"`);
  if (s.phases.length === 0) problems.push(`${s.name}: phases must not be empty`);
  s.phases.forEach((p, i) => {
    const at = `${s.name}: phases[${i}] (${p.name})`;
    if (!positive(p.durationS)) problems.push(`${at}.durationS must be a positive number`);
    if (!positive(p.rate)) problems.push(`${at}.rate must be a positive number`);
    for (const [field, weights] of [
      ['origins', p.origins],
      ['mix', p.mix],
    ] as const) {
      const entries = Object.entries(weights);
      if (entries.length === 0 || entries.some(([, w]) => !(w >= 0)) || !entries.some(([, w]) => w > 0))
        problems.push(`${at}.${field} needs weights >= 0, at least one above 0`);
    }
    for (const name of Object.keys(p.mix))
      if (!(name in s.requests)) problems.push(`${at}.mix names "${name}", which is not in requests`);
  });
  return problems;
}

/** Every origin site the scenario sends from. */
export function originsOf(s: Scenario): string[] {
  return [...new Set(s.phases.flatMap((p) => Object.keys(p.origins).filter((o) => p.origins[o]! > 0)))];
}

/** The key whose weight range holds `r` (0 <= r < 1). */
export function pick(weights: Record<string, number>, r: number): string {
  const entries = Object.entries(weights).filter(([, w]) => w > 0);
  const total = entries.reduce((sum, [, w]) => sum + w, 0);
  let x = r * total;
  for (const [key, w] of entries) {
    if (x < w) return key;
    x -= w;
  }
  return entries[entries.length - 1]![0];
}

/** Fills a template's placeholders; `random` draws the user and sku. */
export function fill(s: Scenario, t: RequestTemplate, n: number, random: () => number): FilledRequest {
  const user = `user${1 + Math.floor(random() * s.users)}`;
  const sku = `sku${1 + Math.floor(random() * s.skus)}`;
  const values: Record<string, string> = { user, sku, n: String(n) };
  const sub = (text: string) => text.replace(/\{(user|sku|n)\}/g, (_, key: string) => values[key]!);
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(t.headers ?? {})) headers[k] = sub(v);
  return {
    method: t.method,
    path: sub(t.path),
    body: t.body === undefined ? undefined : sub(t.body),
    headers,
  };
}

export function isOk(t: RequestTemplate, status: number): boolean {
  return t.ok ? t.ok.includes(status) : status >= 200 && status < 400;
}
