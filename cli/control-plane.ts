// `roam control-plane`: the registry and config server (gRPC for nodes, HTTP for the admin API), and
// `roam token`, which prints the credentials derived from its secret.
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AdminApi } from '../control-plane/admin-api.ts';
import { adminToken, nodeToken } from '../control-plane/auth.ts';
import { ControlPlane } from '../control-plane/control-plane.ts';
import { startDiscoveryServer } from '../control-plane/discovery-service.ts';
import { State } from '../control-plane/state.ts';
import { parseHostPort } from '../core/http.ts';
import { type Command, parse, UsageError } from './args.ts';
import { onShutdown } from './lifecycle.ts';

export const DEFAULT_DATA_DIR = '.roam/control-plane';

const usage = `Usage: roam control-plane [--grpc HOST:PORT] [--admin HOST:PORT] [--data-dir DIR]

Options:
  --grpc HOST:PORT       discovery for proxies and hosts (default: 127.0.0.1:7950)
  --admin HOST:PORT      admin API for the roam CLI (default: 127.0.0.1:7900)
  --data-dir DIR         state (SQLite) and module blobs (default: ${DEFAULT_DATA_DIR})
  --node-timeout-ms MS   a node silent this long is marked down (default: 3000)

The admin token is written to DIR/admin.token; "roam token --node ID" prints a node's token.`;

export const controlPlaneCommand: Command = {
  name: 'control-plane',
  summary: 'run the control plane: registry, config push over gRPC, deploys, admin API',
  usage,
  async run(argv) {
    const { values } = parse(
      argv,
      {
        grpc: { type: 'string' },
        admin: { type: 'string' },
        'data-dir': { type: 'string' },
        'node-timeout-ms': { type: 'string' },
      },
      usage,
    );
    if (values.help) {
      console.log(usage);
      return 0;
    }
    const grpcAt = parseHostPort(values.grpc ?? '127.0.0.1:7950', '--grpc');
    const adminAt = parseHostPort(values.admin ?? '127.0.0.1:7900', '--admin');
    const dataDir = values['data-dir'] ?? DEFAULT_DATA_DIR;
    const timeout = values['node-timeout-ms'] === undefined ? undefined : Number(values['node-timeout-ms']);
    if (timeout !== undefined && !(timeout > 0))
      throw new UsageError('--node-timeout-ms expects a positive number');
    const cp = new ControlPlane({ dataDir, ...(timeout ? { nodeTimeoutMs: timeout } : {}) });
    const tokenFile = join(dataDir, 'admin.token');
    writeFileSync(tokenFile, `${adminToken(cp.state.secret())}\n`);
    chmodSync(tokenFile, 0o600);
    const { server, port } = await startDiscoveryServer(cp, grpcAt.host, grpcAt.port);
    const admin = new AdminApi(cp);
    const adminAddress = await admin.listen(adminAt.port, adminAt.host);
    const stopped = onShutdown(async () => {
      await admin.close();
      await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
      cp.close();
    });
    console.log(
      JSON.stringify({
        event: 'listening',
        component: 'control-plane',
        address: `${adminAddress.address}:${adminAddress.port}`,
        grpc: `${grpcAt.host}:${port}`,
        dataDir,
      }),
    );
    await stopped;
    return 0;
  },
};

const tokenUsage = `Usage: roam token [--data-dir DIR] [--node ID]

Prints the admin token, or with --node the token node ID presents to the control plane.`;

export const tokenCommand: Command = {
  name: 'token',
  summary: "print the admin token or a node's token",
  usage: tokenUsage,
  async run(argv) {
    const { values } = parse(argv, { 'data-dir': { type: 'string' }, node: { type: 'string' } }, tokenUsage);
    if (values.help) {
      console.log(tokenUsage);
      return 0;
    }
    const state = new State(values['data-dir'] ?? DEFAULT_DATA_DIR);
    const secret = state.secret();
    state.close();
    console.log(values.node ? nodeToken(secret, values.node) : adminToken(secret));
    return 0;
  },
};
