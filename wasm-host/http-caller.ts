// Endpoint-to-endpoint calls over HTTP, to the Roam node given as the mesh: a proxy (URL path
// `/.roam/call`) or a host (URL path `/invoke`, the default), over an undici keep-alive pool, carrying the
// caller's trace context; a cancelled caller aborts the request, which cancels the callee where it runs.
import type { Pool } from 'undici';
import { NotFoundError, UpstreamError } from '../core/errors.ts';
import { meshConnector } from '../core/network.ts';
import { undici } from '../core/undici.ts';
import type { EndpointResponse, HeaderList } from './abi.ts';
import type { EndpointCaller } from './host-services.ts';

export function httpCaller(baseUrl: string): EndpointCaller & { close(): Promise<void> } {
  const url = new URL(baseUrl);
  const prefix = url.pathname === '/' ? '/invoke' : url.pathname.replace(/\/$/, '');
  const pool = new (undici().Pool)(url.origin, { connections: 32, connect: meshConnector() });
  const caller = async (
    name: string,
    req: Parameters<EndpointCaller>[1],
    ctx: Parameters<EndpointCaller>[2],
  ) => {
    const headers: Record<string, string> = {};
    for (const [k, v] of req.headers) headers[k] = v;
    headers['x-roam-caller'] = ctx.caller;
    if (ctx.traceparent) headers.traceparent = ctx.traceparent;
    const path = `${prefix}/${encodeURIComponent(name)}${req.path}${req.query ? `?${req.query}` : ''}`;
    let res: Awaited<ReturnType<Pool['request']>>;
    try {
      res = await pool.request({
        method: req.method as 'GET',
        path,
        headers,
        body: req.body.length ? req.body : null,
        signal: ctx.signal,
      });
    } catch (err) {
      throw new UpstreamError(`call to endpoint "${name}" failed: ${(err as Error).message}`, {
        endpoint: name,
        cause: err,
      });
    }
    const body = new Uint8Array(await res.body.arrayBuffer());
    if (
      res.headers['x-roam-error'] === 'ROAM_ERR_ENDPOINT_NOT_ACTIVE' ||
      res.headers['x-roam-error'] === 'ROAM_ERR_NOT_FOUND'
    ) {
      throw new NotFoundError(`endpoint "${name}" is not known to the mesh`, { endpoint: name });
    }
    const out: HeaderList = [];
    for (const [k, v] of Object.entries(res.headers)) {
      if (v !== undefined) out.push([k, Array.isArray(v) ? v.join(', ') : v]);
    }
    return { status: res.statusCode, headers: out, body } satisfies EndpointResponse;
  };
  return Object.assign(caller, { close: () => pool.close() });
}
