// The three functions ABI v1 requires a module to export. An endpoint's entry file re-exports them:
//   export { roam_abi_version, roam_alloc, roam_handle } from "<sdk>/exports";
import { Request, Response } from "./http";

export type Handler = (req: Request) => Response;

let handler: Handler | null = null;
/** The last response's buffer, freed on the next call (the ABI keeps it valid until then). */
let lastResponse: usize = 0;
const descriptor = memory.data(8);

/** Registers the endpoint's handler; call it once at the top level of the entry file. */
export function serve(h: Handler): void {
  handler = h;
}

export function roam_abi_version(): i32 {
  return 1;
}

export function roam_alloc(size: i32): usize {
  return size <= 0 ? heap.alloc(1) : heap.alloc(<usize>size);
}

export function roam_handle(ptr: usize, len: i32): usize {
  const req = Request.decode(ptr, len);
  heap.free(ptr);
  let res: Response;
  if (req == null) res = Response.text(400, "malformed request encoding");
  else if (handler == null) res = Response.text(500, "endpoint registered no handler (call serve())");
  else res = handler!(req);
  if (lastResponse != 0) heap.free(lastResponse);
  const size = res.encodedSize();
  lastResponse = heap.alloc(size);
  res.encodeInto(lastResponse);
  store<u32>(descriptor, <u32>lastResponse);
  store<u32>(descriptor + 4, <u32>size);
  return descriptor;
}
