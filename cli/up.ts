// `roam up`: a local mesh on one machine. Today it starts one standalone host per tier as separate processes,
// each with its data stores, and deploys the example endpoints to all of them; the proxy, control plane and
// traffic generator join as they are built.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { request } from 'undici';
import { TIERS } from '../wasm-host/index.ts';
import { type Command, parse } from './args.ts';
import { onShutdown } from './lifecycle.ts';
import { type RoamProcess, startRoam, stopAll } from './spawn.ts';

const usage = `Usage: roam up [--base-port N]

Starts a local mesh: one Roam host per tier (in-process, cluster, edge, device), each with the stores the
examples use, and deploys the example endpoints (build them first with "npm run build"; "npm start" does).

Options:
  --base-port N   first port; the hosts listen on N, N+1, ... (default: 7100; 0 picks free ports)`;

const ENDPOINTS_DIR = new URL('../build/endpoints/', import.meta.url);

async function deploy(host: RoamProcess, name: string, bytes: Uint8Array): Promise<void> {
  const up = await request(`${host.url}/modules`, { method: 'POST', body: bytes });
  const { digest } = (await up.body.json()) as { digest: string };
  const act = await request(`${host.url}/endpoints/${name}`, {
    method: 'PUT',
    body: JSON.stringify({ digest }),
  });
  if (act.statusCode !== 200) throw new Error(`activating ${name} failed: ${await act.body.text()}`);
  await act.body.dump();
}

export const upCommand: Command = {
  name: 'up',
  summary: 'run a local mesh on this machine (what `npm start` runs)',
  usage,
  async run(argv) {
    const { values } = parse(argv, { 'base-port': { type: 'string' } }, usage);
    if (values.help) {
      console.log(usage);
      return 0;
    }
    const basePort = Number(values['base-port'] ?? 7100);
    if (!existsSync(ENDPOINTS_DIR)) {
      console.error('roam up: no compiled endpoints in build/endpoints; run "npm run build" first');
      return 1;
    }
    const modules = readdirSync(ENDPOINTS_DIR)
      .filter((f) => f.endsWith('.wasm'))
      .map((f) => ({ name: f.slice(0, -5), bytes: readFileSync(new URL(f, ENDPOINTS_DIR)) }));
    const hosts: RoamProcess[] = [];
    try {
      for (const [i, tier] of TIERS.entries()) {
        const port = basePort === 0 ? 0 : basePort + i;
        const stores = ['carts', 'catalog', 'orders'].flatMap((s) => ['--store', `${s}=memory`]);
        hosts.push(
          await startRoam(['host', '--tier', tier, '--id', tier, '--listen', `127.0.0.1:${port}`, ...stores]),
        );
      }
      for (const host of hosts) for (const m of modules) await deploy(host, m.name, m.bytes);
    } catch (err) {
      await stopAll();
      throw err;
    }
    // Handlers go in before the listening line: a supervisor may signal as soon as it reads it.
    const stopped = onShutdown(async () => {
      await Promise.all(hosts.map((h) => h.stop('SIGTERM')));
    });
    console.log(JSON.stringify({ event: 'listening', component: 'mesh', address: hosts[0]!.address }));
    console.log('\nRoam local mesh is up. Hosts:');
    for (const [i, host] of hosts.entries()) console.log(`  ${TIERS[i]!.padEnd(10)} ${host.url}`);
    const cluster = hosts[1]!.url;
    console.log(`\nEndpoints: ${modules.map((m) => m.name).join(', ')}. Try:`);
    console.log(`  curl '${cluster}/invoke/hello/hello?name=you'`);
    console.log(`  curl -X POST '${cluster}/invoke/cart/cart/ada/items' -d 'sku=book&qty=2'`);
    console.log(`  curl -X POST '${cluster}/invoke/checkout/checkout/ada'`);
    console.log(`  curl '${cluster}/stats'`);
    console.log('\nCtrl-C stops everything.');
    await stopped;
    return 0;
  },
};
