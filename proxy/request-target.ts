// Reads what a request asks for (RFC 9112 3.2, RFC 9113 8.3.1): the path and query routes match on, and the
// authority (Host) they are for. An absolute-form target is routed by its path like an origin-form one, with
// its authority standing in for Host; anything a proxy in front of one service cannot serve is a 400 here,
// before any route or upstream sees it.
import type { IncomingMessage } from 'node:http';
import { Http2ServerRequest } from 'node:http2';
import { BadRequestError, HttpVersionError } from '../core/errors.ts';

export interface RequestTarget {
  /** The target in origin form, as sent: path and query (with its "?" even when the query is empty). */
  origin: string;
  /** The path as sent (still percent-encoded), always starting with "/". */
  path: string;
  /** What follows "?", without it; "" when there is none. */
  query: string;
  /** The authority the request is for, lower-cased, without the port; undefined when the client sent none. */
  host: string | undefined;
  /** Set when the target was in absolute form: what to send on as Host (the authority with its port). */
  authority?: string;
}

// RFC 3986 reg-name / IPv4 / bracketed IPv6, with an optional port.
const AUTHORITY = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~!$&'()*+,;=%-]*)(?::\d{0,5})?$/;

function hostOf(authority: string): string {
  const end = authority.startsWith('[') ? authority.indexOf(']') + 1 : authority.lastIndexOf(':');
  return (end > 0 ? authority.slice(0, end) : authority).toLowerCase();
}

/** The host of a Host header's value (lower-cased, no port), or undefined if it is not a valid authority. */
export function hostOfAuthority(value: string): string | undefined {
  return value !== '' && AUTHORITY.test(value) ? hostOf(value) : undefined;
}

function checkedAuthority(value: string, what: string): string {
  if (value === '' || !AUTHORITY.test(value)) {
    throw new BadRequestError(`${what} ${JSON.stringify(value.slice(0, 200))} is not a valid authority`);
  }
  return value;
}

function split(origin: string): { origin: string; path: string; query: string } {
  const q = origin.indexOf('?');
  return q < 0
    ? { origin, path: origin, query: '' }
    : { origin, path: origin.slice(0, q), query: origin.slice(q + 1) };
}

/** True for a request that arrived over HTTP/2 (not an HTTP/1 request line that merely claims 2.0). */
export function isHttp2(req: IncomingMessage | Http2ServerRequest): req is Http2ServerRequest {
  return req instanceof Http2ServerRequest;
}

/** Parses `req`'s target and authority, or throws BadRequestError saying what was wrong. */
export function requestTarget(req: IncomingMessage | Http2ServerRequest): RequestTarget {
  const url = req.url ?? '';
  let hostHeader: string | undefined;
  if (isHttp2(req)) {
    const authority = req.headers[':authority'];
    const host = req.headers.host;
    if (typeof authority === 'string' && typeof host === 'string' && authority !== host)
      throw new BadRequestError(`:authority "${authority}" and host "${host}" disagree`);
    hostHeader = typeof authority === 'string' ? authority : host;
  } else {
    if (req.httpVersionMajor === 0)
      throw new BadRequestError('the request line has no HTTP version (HTTP/0.9 is not served)');
    if (req.httpVersionMajor !== 1) {
      throw new HttpVersionError(
        `HTTP/${req.httpVersion} is not spoken here: send HTTP/1.1, or HTTP/2 with its connection preface`,
      );
    }
    const raw = req.rawHeaders;
    let hosts = 0;
    for (let i = 0; i < raw.length; i += 2) {
      if (raw[i]!.length === 4 && raw[i]!.toLowerCase() === 'host') hosts++;
    }
    if (hosts > 1) throw new BadRequestError('the request has more than one Host header');
    if (hosts === 0 && req.httpVersion === '1.1')
      throw new BadRequestError('an HTTP/1.1 request must carry a Host header');
    hostHeader = req.headers.host;
  }
  // Checked in every form: even where an absolute target's authority replaces it, an invalid Host is a 400
  // (RFC 9112 3.2).
  const host = hostHeader === undefined ? undefined : hostOf(checkedAuthority(hostHeader, 'Host header'));
  if (url.startsWith('/')) return { ...split(url), host };
  if (url === '*') throw new BadRequestError(`"${req.method} *" (asterisk-form) is not served by this proxy`);
  const scheme = /^https?:\/\//i.exec(url);
  if (scheme === null) {
    throw new BadRequestError(
      `request target ${JSON.stringify(url.slice(0, 200))} must be a path ("/...") or an absolute http URL`,
    );
  }
  const rest = url.slice(scheme[0].length);
  const slash = rest.search(/[/?]/);
  const authority = checkedAuthority(slash < 0 ? rest : rest.slice(0, slash), 'authority');
  const pathAndQuery = slash < 0 ? '/' : rest[slash] === '?' ? `/${rest.slice(slash)}` : rest.slice(slash);
  return { ...split(pathAndQuery), host: hostOf(authority), authority };
}
