// hello as a wasi:http/proxy component, built with componentize-js: the same answers as the AssemblyScript
// hello (examples/endpoints/hello). It exports incoming-handler itself rather than using the fetch event,
// because StarlingMonkey's fetch event serves one request per instance (StarlingMonkey issue #247) and Roam
// reuses one instance across requests.
//   GET /hello?name=X -> {"message":"Hello, X!","hash":"<FNV-1a of X's UTF-8 bytes, 8 hex digits>"}
import { Fields, OutgoingBody, OutgoingResponse, ResponseOutparam } from 'wasi:http/types@0.2.10';

const encoder = new TextEncoder();

/** 32-bit FNV-1a over the UTF-8 bytes of `s`, as 8 lower-case hex digits. */
function fnv1a(s) {
  let h = 0x811c9dc5;
  for (const b of encoder.encode(s)) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return h.toString(16).padStart(8, '0');
}

function respond(out, status, headers, text) {
  const body = encoder.encode(text);
  const fields = Fields.fromList(headers);
  const response = new OutgoingResponse(fields);
  response.setStatusCode(status);
  const outgoing = response.body();
  ResponseOutparam.set(out, { tag: 'ok', val: response });
  const stream = outgoing.write();
  stream.blockingWriteAndFlush(body);
  stream[Symbol.dispose]?.();
  OutgoingBody.finish(outgoing, undefined);
}

export const incomingHandler = {
  handle(request, out) {
    const method = request.method().tag;
    if (method !== 'get' && method !== 'head') {
      respond(
        out,
        405,
        [
          ['content-type', encoder.encode('text/plain; charset=utf-8')],
          ['allow', encoder.encode('GET, HEAD')],
        ],
        'use GET',
      );
      return;
    }
    const query = new URLSearchParams((request.pathWithQuery() ?? '').split('?')[1] ?? '');
    const name = query.get('name') || 'world';
    const json = JSON.stringify({ message: `Hello, ${name}!`, hash: fnv1a(name) });
    respond(out, 200, [['content-type', encoder.encode('application/json')]], json);
  },
};
