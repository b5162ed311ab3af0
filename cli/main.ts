// The `roam` command: one entry point, one subcommand per component.
import { RoamError } from '../core/errors.ts';
import { installNetworkMap } from '../core/network.ts';
import { type Command, UsageError } from './args.ts';
import { takeNetworkMapFlag } from './network-map.ts';

/**
 * Each command's module is loaded only when that command runs: a sidecar proxy should not carry the control
 * plane, the solver or the load runner in its memory.
 */
const admin = () => import('./admin.ts');
const commands: Record<string, () => Promise<Command>> = {
  up: async () => (await import('./up.ts')).upCommand,
  proxy: async () => (await import('./proxy.ts')).proxyCommand,
  host: async () => (await import('./host.ts')).hostCommand,
  'control-plane': async () => (await import('./control-plane.ts')).controlPlaneCommand,
  deploy: async () => (await admin()).deployCommand,
  rollback: async () => (await admin()).rollbackCommand,
  migrate: async () => (await admin()).migrateCommand,
  plan: async () => (await admin()).planCommand,
  pause: async () => (await admin()).pauseCommand,
  resume: async () => (await admin()).resumeCommand,
  status: async () => (await admin()).statusCommand,
  endpoints: async () => (await admin()).endpointsCommand,
  hosts: async () => (await admin()).hostsCommand,
  history: async () => (await admin()).historyCommand,
  profile: async () => (await admin()).profileCommand,
  token: async () => (await import('./control-plane.ts')).tokenCommand,
  relay: async () => (await import('./relay.ts')).relayCommand,
  load: async () => (await import('./load.ts')).loadCommand,
  tune: async () => (await import('./tune.ts')).tuneCommand,
};

/** The list of commands with their summaries: loads every command module, which only `roam --help` pays. */
async function help(): Promise<string> {
  const all = await Promise.all(Object.values(commands).map((load) => load()));
  const width = Math.max(...all.map((c) => c.name.length));
  return [
    'Usage: roam <command> [options]',
    '',
    'Commands:',
    ...all.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
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
    console.log(await help());
    return 0;
  }
  const load = Object.hasOwn(commands, name) ? commands[name] : undefined;
  if (!load) {
    console.error(`roam: unknown command "${name}"\n\n${await help()}`);
    return 2;
  }
  const command = await load();
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
      return err.code === 'ROAM_ERR_UNREACHABLE' ? 3 : 1;
    }
    throw err;
  }
}
