// Where an endpoint registers its handler. Kept apart from exports.ts so that an entry file can re-export
// every ABI function with `export * from ".../exports"` without exporting anything else.
import { Request, Response } from "./http";

export type Handler = (req: Request) => Response;

let registered: Handler | null = null;

/** Registers the endpoint's handler. Call it once, at the top level of the entry file (it runs at start). */
export function serve(handler: Handler): void {
  registered = handler;
}

/** The registered handler, or null if the entry file never called serve(). */
export function currentHandler(): Handler | null {
  return registered;
}
