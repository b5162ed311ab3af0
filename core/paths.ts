// Where Roam's files are, whether this process runs from source (.ts through Node's type stripping) or from the
// JavaScript build in build/js (tsconfig.build.json, made by `npm run build`), which the image runs: the type
// stripper stays resident in a process that uses it (about 29 MB), a cost every sidecar would pay.
// Modules and files named by path (workers, the `roam` entry, the .proto, static files) are found through
// here, so both layouts work.
import { fileURLToPath } from 'node:url';

const fromBuild = import.meta.url.endsWith('.js');
const rootUrl = new URL(fromBuild ? '../../../' : '../', import.meta.url);

/** The checkout's (or image's) root directory, ending in "/". */
export const ROOT = fileURLToPath(rootUrl);

/** A module, named by its source path ("wasm-host/worker.ts"), as this process loads modules. */
export function moduleUrl(sourcePath: string): URL {
  return fromBuild
    ? new URL(`build/js/${sourcePath.replace(/\.ts$/, '.js')}`, rootUrl)
    : new URL(sourcePath, rootUrl);
}

/** A file that is not code (the .proto, static assets), by its path from the root. */
export function filePath(path: string): string {
  return fileURLToPath(new URL(path, rootUrl));
}
