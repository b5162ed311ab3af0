// A standalone host for benchmarks, holding the mesh identity given in MESH_KEY / MESH_CERT / MESH_CA (PEM)
// when they are set (mTLS on) and none otherwise: a WasmHost running `hello` behind a HostServer on a free
// port, announced with a {"event":"listening"} line.
import { MeshIdentity, setMeshIdentity } from '../../core/mesh-identity.ts';
import { endpointModule } from '../../test/support/modules.ts';
import { WasmHost } from '../../wasm-host/index.ts';
import { HostServer } from '../../wasm-host/server.ts';

const { MESH_KEY, MESH_CERT, MESH_CA } = process.env;
if (MESH_KEY && MESH_CERT && MESH_CA)
  setMeshIdentity(new MeshIdentity({ keyPem: MESH_KEY, certPem: MESH_CERT, caPem: MESH_CA }));
const wasm = new WasmHost({ id: 'bench-host', tier: 'cluster' });
await wasm.activate('hello', wasm.modules.put(endpointModule('hello')));
const server = new HostServer(wasm);
const { port } = await server.listen(0);
console.log(JSON.stringify({ event: 'listening', address: `127.0.0.1:${port}` }));
