// `--network-map FILE`, which every roam command accepts (anywhere on its command line): the network map
// (core/network.ts) this process's outgoing connections follow; `ROAM_NETWORK_MAP=FILE` does the same.
import { UsageError } from './args.ts';

/** Removes `--network-map FILE` (or `--network-map=FILE`) from `argv` and answers the file. */
export function takeNetworkMapFlag(argv: string[]): { argv: string[]; file: string | undefined } {
  const rest: string[] = [];
  let file: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--network-map') {
      file = argv[++i];
      if (file === undefined || file.startsWith('--')) throw new UsageError('--network-map expects a FILE');
    } else if (arg.startsWith('--network-map=')) file = arg.slice('--network-map='.length);
    else rest.push(arg);
  }
  return { argv: rest, file };
}
