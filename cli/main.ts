// The `roam` command: one entry point, one subcommand per component.
import { RoamError } from '../core/errors.ts';
import { installNetworkMap } from '../core/network.ts';
import {
  deployCommand,
  endpointsCommand,
  historyCommand,
  hostsCommand,
  migrateCommand,
  pauseCommand,
  planCommand,
  profileCommand,
  resumeCommand,
  rollbackCommand,
  statusCommand,
} from './admin.ts';
import { type Command, UsageError } from './args.ts';
import { controlPlaneCommand, tokenCommand } from './control-plane.ts';
import { hostCommand } from './host.ts';
import { loadCommand } from './load.ts';
import { takeNetworkMapFlag } from './network-map.ts';
import { proxyCommand } from './proxy.ts';
import { relayCommand } from './relay.ts';
import { tuneCommand } from './tune.ts';
import { upCommand } from './up.ts';

const commands: Command[] = [
  upCommand,
  proxyCommand,
  hostCommand,
  controlPlaneCommand,
  deployCommand,
  rollbackCommand,
  migrateCommand,
  planCommand,
  pauseCommand,
  resumeCommand,
  statusCommand,
  endpointsCommand,
  hostsCommand,
  historyCommand,
  profileCommand,
  tokenCommand,
  relayCommand,
  loadCommand,
  tuneCommand,
];

function help(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    'Usage: roam <command> [options]',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Run "roam <command> --help" for a command\'s options.',
  ].join('\n');
}

export async function main(rawArgv: string[]): Promise<number> {
  let argv = rawArgv;
  let networkMapFile: string | undefined;
  try {
    ({ argv, file: networkMapFile } = takeNetworkMapFlag(rawArgv));
  } catch (err) {
    console.error(`roam: ${(err as Error).message}`);
    return 2;
  }
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    console.log(help());
    return 0;
  }
  const command = commands.find((c) => c.name === name);
  if (!command) {
    console.error(`roam: unknown command "${name}"\n\n${help()}`);
    return 2;
  }
  try {
    installNetworkMap(networkMapFile);
    return (await command.run(rest)) ?? 0;
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`roam ${name}: ${err.message}`);
      return 2;
    }
    if (err instanceof RoamError) {
      console.error(`roam ${name}: ${err.message} (${err.code})`);
      return 1;
    }
    throw err;
  }
}
