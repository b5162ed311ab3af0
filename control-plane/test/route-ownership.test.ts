// A deploy does not take another endpoint's route silently (issue 18, point 4): it is refused with 409 naming
// the owner, unless the operator says --take-route; then the route leaves its owner and the history says so.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { endpointModule } from '../../test/support/modules.ts';
import { ControlPlane } from '../control-plane.ts';

let dir: string;
let cp: ControlPlane;
let digest: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'roam-routes-'));
  cp = new ControlPlane({ dataDir: dir });
  // One host to place endpoints on; it never answers (nothing here needs a snapshot applied).
  cp.subscribe(
    {
      nodeId: 'c1',
      kind: 'host',
      tier: 'cluster',
      location: 'cluster',
      address: 'http://c1.invalid',
      cpuMillis: 2000,
      memoryMib: 1024,
      capabilities: [],
      appliedVersion: 0,
      stores: [],
    },
    { sentVersion: -1, send: () => {} },
  );
  digest = cp.uploadModule(endpointModule('hello'));
  cp.deploy('hello', digest, [
    { match: 'GET /hello', endpoint: 'hello' },
    { match: 'GET /hi', endpoint: 'hello' },
  ]);
});

afterEach(() => {
  cp.close();
  rmSync(dir, { recursive: true, force: true });
});

const routesOf = (name: string) => cp.state.endpoint(name)!.routes.map((r) => r.match);

describe('route ownership', () => {
  it("refuses a deploy that would take another endpoint's route, naming the owner", () => {
    expect(() => cp.deploy('greeter', digest, [{ match: 'get  /hello', endpoint: 'greeter' }])).toThrow(
      expect.objectContaining({
        status: 409,
        message: expect.stringMatching(/route "GET \/hello" belongs to endpoint "hello".*--take-route/),
      }),
    );
    expect(cp.state.endpoint('greeter')).toBeUndefined();
    expect(routesOf('hello')).toEqual(['GET /hello', 'GET /hi']);
  });

  it('moves the route when told to, leaves the owner its other routes, and records it', () => {
    cp.deploy('greeter', digest, [{ match: 'GET /hello', endpoint: 'greeter' }], undefined, {
      takeRoute: true,
    });
    expect(routesOf('greeter')).toEqual(['GET /hello']);
    expect(routesOf('hello')).toEqual(['GET /hi']);
    const taken = cp.state.history('greeter').find((h) => h.action === 'route-taken');
    expect(taken?.detail).toMatchObject({ route: 'GET /hello', from: 'hello' });
  });

  it('lets an endpoint deploy its own routes again, and a route on another host is another route', () => {
    expect(() => cp.deploy('hello', digest, [{ match: 'GET /hello', endpoint: 'hello' }])).not.toThrow();
    expect(() =>
      cp.deploy('greeter', digest, [{ match: 'GET /hello', host: 'other.example', endpoint: 'greeter' }]),
    ).not.toThrow();
  });
});
