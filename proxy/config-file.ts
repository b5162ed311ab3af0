// The route config file a proxy reads when it runs without a control plane (docs/proxy.md shows the format).
// Local targets may name a module file instead of a digest; the file is loaded into the embedded host's store.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { InvalidArgumentError } from '../core/errors.ts';
import type { ModuleStore } from '../wasm-host/index.ts';
import type { EndpointSpec, RouteConfig, RouteSpec } from './route-table.ts';

interface FileEndpoint extends EndpointSpec {
  /** Path of a .wasm file, relative to the config file. */
  module?: string;
}

export function loadRouteFile(path: string, modules: ModuleStore | undefined): RouteConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new InvalidArgumentError(`cannot read route file ${path}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  const file = raw as { version?: number; routes?: RouteSpec[]; endpoints?: Record<string, FileEndpoint> };
  const endpoints: Record<string, EndpointSpec> = {};
  for (const [name, ep] of Object.entries(file.endpoints ?? {})) {
    let digest = ep.digest;
    if (ep.module !== undefined) {
      if (!modules)
        throw new InvalidArgumentError(`endpoint "${name}" names a module but this proxy embeds no host`);
      const bytes = readFileSync(resolve(dirname(path), ep.module));
      digest = modules.put(bytes, ep.digest);
    }
    endpoints[name] = digest === undefined ? { targets: ep.targets } : { targets: ep.targets, digest };
  }
  return { version: file.version ?? 1, routes: file.routes ?? [], endpoints };
}
