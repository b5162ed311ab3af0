// The last layer: sends an attempt to its target. A local target is the Wasm host embedded in this proxy (no
// network at all); a host target is a standalone `roam host` reached over a keep-alive pool; the upstream
// target is the legacy service, for endpoints that still live there.
import type { Pool } from 'undici';
import { errorFromCode, UpstreamError } from '../core/errors.ts';
import type { EndpointResponse, HeaderList, WasmHost } from '../wasm-host/index.ts';
import type { Dispatch, EndpointCall } from './dispatch.ts';

export interface Transports {
  local: WasmHost | undefined;
  /** The legacy service's pool (made on first use), if this proxy fronts one. */
  upstream(): Pool | undefined;
  /** A pool per origin of standalone hosts (and other proxies' embedded hosts), made on first use. */
  hostPool(origin: string): Pool;
}

/** A target URL split into the pool's origin and the path prefix invocations go under. */
const targetBases = new Map<string, { origin: string; prefix: string }>();
function targetBase(url: string): { origin: string; prefix: string } {
  let base = targetBases.get(url);
  if (base === undefined) {
    const u = new URL(url);
    base = { origin: u.origin, prefix: u.pathname.replace(/\/$/, '') };
    targetBases.set(url, base);
  }
  return base;
}

function outboundHeaders(call: EndpointCall): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [k, v] of call.req.headers) headers[k] = headers[k] === undefined ? v : `${headers[k]}, ${v}`;
  if (call.traceparent) headers.traceparent = call.traceparent;
  return headers;
}

async function send(pool: Pool, path: string, call: EndpointCall, what: string): Promise<EndpointResponse> {
  const name = call.endpoint.name;
  let res: Awaited<ReturnType<Pool['request']>>;
  try {
    res = await pool.request({
      method: call.req.method as 'GET',
      path,
      headers: outboundHeaders(call),
      body: call.req.body.length > 0 ? call.req.body : null,
      signal: call.signal,
    });
  } catch (err) {
    const code = (err as { code?: string }).code ?? '';
    throw new UpstreamError(
      `${what} for endpoint "${name}" failed: ${(err as Error).message} ${code}`.trim(),
      {
        endpoint: name,
        cause: err,
      },
    );
  }
  const body = new Uint8Array(await res.body.arrayBuffer());
  const roamError = res.headers['x-roam-error'];
  if (typeof roamError === 'string' && what === 'host') {
    // The host answered with its own error (not the endpoint's response): keep its code so the retry and
    // outlier layers can tell "not active here" from "the endpoint trapped".
    let message = `host error ${res.statusCode}`;
    try {
      message = (JSON.parse(Buffer.from(body).toString()) as { message: string }).message;
    } catch {
      // keep the generic message
    }
    throw errorFromCode(roamError, message, name);
  }
  const headers: HeaderList = [];
  for (const [k, v] of Object.entries(res.headers)) {
    if (v === undefined || k === 'connection' || k === 'keep-alive' || k === 'transfer-encoding') continue;
    if (Array.isArray(v)) for (const one of v) headers.push([k, one]);
    else headers.push([k, v]);
  }
  return { status: res.statusCode, headers, body };
}

export function transport(t: Transports): Dispatch {
  return (call) => {
    const target = call.target!.spec;
    const q = call.req.query ? `?${call.req.query}` : '';
    switch (target.kind) {
      case 'local':
        if (!t.local)
          throw new UpstreamError('this proxy has no embedded host', { endpoint: call.endpoint.name });
        return t.local.invoke(call.endpoint.name, call.req, call.traceparent, call.signal);
      case 'host': {
        const base = targetBase(target.url);
        return send(
          t.hostPool(base.origin),
          `${base.prefix}/invoke/${encodeURIComponent(call.endpoint.name)}${call.req.path}${q}`,
          call,
          'host',
        );
      }
      case 'upstream': {
        const upstream = t.upstream();
        if (upstream === undefined)
          throw new UpstreamError('the route targets the upstream service, but this proxy fronts none', {
            endpoint: call.endpoint.name,
          });
        return send(upstream, `${call.req.path}${q}`, call, 'upstream');
      }
    }
  };
}
