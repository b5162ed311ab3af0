// Calls to other endpoints by name (the ABI's `call`): the mesh routes each call to wherever the callee runs
// now, in the same process or across the network; the caller's code is the same either way.
import { call, result_read } from "./host";
import { Request, Response } from "./http";
import { releaseScratch, takeScratch, writeUtf8 } from "./wire";

/** `lastCallError` when the callee is not known to the mesh. */
export const CALL_UNKNOWN_ENDPOINT: i32 = -3;
/** `lastCallError` when the call failed: timeout, no healthy target, or a malformed response. */
export const CALL_FAILED: i32 = -4;

/** Why the last callEndpoint returned null: 0 if it did not, else CALL_UNKNOWN_ENDPOINT or CALL_FAILED. */
export let lastCallError: i32 = 0;

/**
 * Calls endpoint `name` with `req` and returns its response (whatever its status), or null if there was none;
 * lastCallError says why.
 */
export function callEndpoint(name: string, req: Request): Response | null {
  const nameLen = <usize>String.UTF8.byteLength(name);
  const reqLen = req.encodedSize();
  const buf = takeScratch(nameLen + reqLen);
  writeUtf8(name, buf);
  req.encodeInto(buf + nameLen);
  const n = call(buf, <i32>nameLen, buf + nameLen, <i32>reqLen);
  releaseScratch(buf);
  if (n < 0) {
    lastCallError = n == CALL_UNKNOWN_ENDPOINT ? n : CALL_FAILED;
    return null;
  }
  // Decoded straight from scratch memory: the body is copied once.
  const res = takeScratch(<usize>n);
  const got = <usize>max(result_read(res, n), 0);
  const decoded = Response.decode(res, got);
  releaseScratch(res);
  lastCallError = decoded == null ? CALL_FAILED : 0;
  return decoded;
}
