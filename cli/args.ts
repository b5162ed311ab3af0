// Shared command-line plumbing: option parsing with clear errors, and a uniform way to report them.
import { type ParseArgsConfig, parseArgs } from 'node:util';

export interface Command {
  name: string;
  summary: string;
  usage: string;
  run(argv: string[]): Promise<number | undefined>;
}

export class UsageError extends Error {}

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
