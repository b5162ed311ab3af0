// Calls to other endpoints by name (the ABI's `call`): the mesh routes each call to wherever the callee runs
// now, in the same process or across the network; the endpoint's code does not change either way.
import { call, result_read } from "./host";
import { Request, Response } from "./http";

/** Why the last call failed: 0 none, -3 unknown endpoint, -4 call failed (timeout, no healthy target). */
export let lastCallError: i32 = 0;

export function callEndpoint(name: string, req: Request): Response | null {
  const nameBytes = String.UTF8.encode(name);
  const size = req.encodedSize();
  const buf = heap.alloc(size);
  req.encodeInto(buf);
  const n = call(changetype<usize>(nameBytes), nameBytes.byteLength, buf, <i32>size);
  heap.free(buf);
  if (n < 0) {
    lastCallError = n;
    return null;
  }
  const out = new Uint8Array(n);
  result_read(out.dataStart, n);
  return Response.decode(out.dataStart, n);
}
