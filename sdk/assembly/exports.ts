// The functions ABI v1 requires a module to export (protocol/abi.md, "Exports"). An entry file makes them
// exports of its module with `export * from "<sdk>/assembly/exports";` (only an entry file's exports are
// exported from a Wasm module); this file exports nothing else.
import { Request, Response } from "./http";
import { currentHandler } from "./serve";

// The request buffer lives in an arena of whole pages outside the allocator's heap, obtained with memory.grow,
// so that roam_alloc can answer 0 when memory is exhausted, as the ABI asks: AssemblyScript's allocator traps
// instead. The arena is reused for every request and only grows (at least doubling, so the pages abandoned
// when it cannot be extended in place add up to less than its final size).
let arenaPtr: usize = 0;
let arenaSize: usize = 0;
/** The encoded response, kept until the next call as the ABI requires, then freed. */
let responsePtr: usize = 0;
const descriptor = memory.data(8);

/** The ABI version this module implements. */
export function roam_abi_version(): i32 {
  return 1;
}

/** Returns `size` writable bytes for the host to write a request into, or 0 if memory is exhausted. */
export function roam_alloc(size: i32): usize {
  if (size < 0) return 0;
  const need = <usize>size;
  if (need <= arenaSize) return arenaPtr;
  // The allocator claims all memory up to the current end when it first runs, so it must run before the
  // arena takes pages past that end.
  if (arenaPtr == 0) heap.free(heap.alloc(16));
  const end = <usize>memory.size() << 16;
  if (arenaPtr != 0 && arenaPtr + arenaSize == end) {
    // Still the last thing in memory: extend in place.
    const extra = <i32>((need - arenaSize + 0xffff) >>> 16);
    if (memory.grow(extra) < 0) return 0;
    arenaSize += <usize>extra << 16;
    return arenaPtr;
  }
  const pages = <i32>max<usize>((need + 0xffff) >>> 16, (arenaSize >>> 16) << 1);
  let base = memory.grow(pages);
  let got = pages;
  if (base < 0) {
    // Doubling failed; settle for exactly what this request needs.
    got = <i32>((need + 0xffff) >>> 16);
    base = memory.grow(got);
    if (base < 0) return 0;
  }
  arenaPtr = <usize>base << 16;
  arenaSize = <usize>got << 16;
  return arenaPtr;
}

/** Handles the request at [ptr, ptr+len) and returns the address of an 8-byte {u32 ptr, u32 len} descriptor. */
export function roam_handle(ptr: usize, len: i32): usize {
  if (responsePtr != 0) {
    heap.free(responsePtr);
    responsePtr = 0;
  }
  const req: Request | null = len < 0 ? null : Request.decode(ptr, <usize>len);
  const handler = currentHandler();
  let res: Response;
  if (req == null) res = Response.text(400, "malformed request encoding");
  else if (handler == null) res = Response.text(500, "the endpoint registered no handler (call serve() at top level)");
  else res = handler(req);
  const size = res.encodedSize();
  responsePtr = heap.alloc(size);
  res.encodeInto(responsePtr);
  store<u32>(descriptor, <u32>responsePtr);
  store<u32>(descriptor, <u32>size, 4);
  // With the minimal runtime nothing collects during a request; everything the request allocated is garbage
  // now (the response was copied out), so collect here and every request starts from the same heap.
  if (ASC_RUNTIME == 1) __collect();
  return descriptor;
}
