// Header handling for a proxy hop (RFC 9110 7.6.1): hop-by-hop headers, and any named in Connection, are not
// forwarded; X-Forwarded-For/Proto are appended so the upstream sees the client.

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'http2-settings',
  // Answered on the client's hop: Node sends the client its 100 Continue, the upstream gets the whole body.
  'expect',
]);

/** HTTP/2 pseudo-headers and hop-by-hop headers never cross a hop as headers. */
function dropped(name: string, connectionTokens: Set<string> | undefined): boolean {
  return name.charCodeAt(0) === 58 /* ':' */ || HOP_BY_HOP.has(name) || connectionTokens?.has(name) === true;
}

function connectionTokens(value: string | string[] | undefined): Set<string> | undefined {
  if (value === undefined) return undefined;
  const joined = Array.isArray(value) ? value.join(',') : value;
  return new Set(
    joined
      .split(',')
      .map((t) => t.trim().toLowerCase())
      .filter(Boolean),
  );
}

/**
 * Request headers to send upstream, from Node's raw header list (names as sent, repeated headers kept).
 * `te: trailers` survives: gRPC needs it end to end. With `traceparent`, it replaces the incoming one (the
 * proxy's own span becomes the upstream's parent).
 */
export function forwardRequestHeaders(
  raw: string[],
  clientAddress: string | undefined,
  proto: 'http' | 'https',
  traceparent?: string,
): string[] {
  let tokens: Set<string> | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.toLowerCase() === 'connection') tokens = connectionTokens(raw[i + 1]);
  }
  const out: string[] = [];
  let xff: string | undefined;
  let hasProto = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    const value = raw[i + 1]!;
    if (name === 'te') {
      if (value.toLowerCase().includes('trailers')) out.push('te', 'trailers');
      continue;
    }
    if (dropped(name, tokens)) continue;
    if (name === 'x-forwarded-for') {
      xff = xff ? `${xff}, ${value}` : value;
      continue;
    }
    if (name === 'x-forwarded-proto') hasProto = true;
    if (name === 'traceparent' && traceparent !== undefined) continue;
    out.push(name, value);
  }
  if (clientAddress) out.push('x-forwarded-for', xff ? `${xff}, ${clientAddress}` : clientAddress);
  else if (xff) out.push('x-forwarded-for', xff);
  if (!hasProto) out.push('x-forwarded-proto', proto);
  if (traceparent !== undefined) out.push('traceparent', traceparent);
  return out;
}

/** Response headers to send to the client, from undici's raw header buffers. */
export function forwardResponseHeaders(raw: Buffer[] | string[]): [string, string][] {
  let tokens: Set<string> | undefined;
  const pairs: [string, string][] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toString().toLowerCase();
    const value = raw[i + 1]!.toString();
    if (name === 'connection') tokens = connectionTokens(value);
    pairs.push([name, value]);
  }
  return pairs.filter(([name]) => !dropped(name, tokens));
}
