// Shared command-line plumbing: option parsing with clear errors, and a uniform way to report them.
import { existsSync, readFileSync } from 'node:fs';
import { type ParseArgsConfig, parseArgs } from 'node:util';

export interface Command {
  name: string;
  summary: string;
  usage: string;
  run(argv: string[]): Promise<number | undefined>;
}

export class UsageError extends Error {}

/** An optional integer flag: undefined when absent, else at least `min`, or a UsageError naming the flag. */
export function integerFlag(flag: string, value: string | undefined, min = 1): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) {
    const wanted = min === 1 ? 'a positive integer' : `an integer of at least ${min}`;
    throw new UsageError(`${flag} expects ${wanted}, got "${value}"`);
  }
  return n;
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** A duration flag such as `90s`, `30m`, `2h` or `1d` (ms, s, m, h, d), in milliseconds. */
export function durationFlag(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(value.trim());
  const ms = m ? Math.round(Number(m[1]) * UNIT_MS[m[2]!]!) : Number.NaN;
  if (!(ms > 0 && Number.isSafeInteger(ms)))
    throw new UsageError(`${flag} expects a duration such as 90s, 30m, 2h or 1d, got "${value}"`);
  return ms;
}

/** `--ca FILE` of a node (default $ROAM_CA): the mesh CA's certificate, which must exist if named. */
export function meshCaFlag(value: string | undefined): string | undefined {
  const file = value ?? process.env.ROAM_CA;
  if (file !== undefined && !existsSync(file))
    throw new UsageError(
      `--ca / $ROAM_CA: no file at ${file} (the control plane writes it to DATA_DIR/ca.pem)`,
    );
  return file;
}

/**
 * A node's credential for the control plane: `--node-token`, or `--token-file FILE` read again at each call (on
 * Kubernetes the pod's projected service-account token, which kubelet rotates), else $ROAM_NODE_TOKEN or
 * $ROAM_NODE_TOKEN_FILE. Undefined when none is given.
 */
export function nodeCredentialFlag(
  token: string | undefined,
  file: string | undefined,
): string | (() => string) | undefined {
  if (token !== undefined && file !== undefined)
    throw new UsageError('--node-token and --token-file are two ways to give one credential: pass one');
  const value = token ?? (file === undefined ? process.env.ROAM_NODE_TOKEN : undefined);
  if (value !== undefined) return value;
  const path = file ?? process.env.ROAM_NODE_TOKEN_FILE;
  if (path === undefined) return undefined;
  const read = () => {
    const text = readFileSync(path, 'utf8').trim();
    if (!text) throw new Error(`the node token file ${path} is empty`);
    return text;
  };
  try {
    read();
  } catch (err) {
    throw new UsageError(`--token-file / $ROAM_NODE_TOKEN_FILE: ${(err as Error).message}`);
  }
  return read;
}

export function parse<T extends NonNullable<ParseArgsConfig['options']>>(
  argv: string[],
  options: T,
  usage: string,
) {
  try {
    return parseArgs({
      args: argv,
      options: { ...options, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    throw new UsageError(`${(err as Error).message}\n\n${usage}`);
  }
}
