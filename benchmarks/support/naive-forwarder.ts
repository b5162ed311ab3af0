// The baseline issue 15 measures the sidecar against: a node:http server that sends each request on with
// undici's request() and pipes the answer back, the ~20 lines anyone would write. No routing, no metrics, no
// limits. Usage: node naive-forwarder.ts --listen HOST:PORT --upstream URL
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { Agent, request } from 'undici';

const { values } = parseArgs({ options: { listen: { type: 'string' }, upstream: { type: 'string' } } });
const [host, port] = (values.listen ?? '127.0.0.1:0').split(':');
const upstream = values.upstream!;
const dispatcher = new Agent({ connections: 128 });

const server = createServer(async (req, res) => {
  try {
    const answer = await request(`${upstream}${req.url}`, {
      method: req.method as 'GET',
      headers: { ...req.headers, host: undefined, connection: undefined },
      body: req.method === 'GET' || req.method === 'HEAD' ? null : req,
      dispatcher,
    });
    res.writeHead(answer.statusCode, answer.headers as Record<string, string>);
    answer.body.pipe(res);
  } catch {
    res.writeHead(502).end();
  }
});
server.listen(Number(port), host, () => {
  const a = server.address() as AddressInfo;
  console.log(JSON.stringify({ event: 'listening', address: `${a.address}:${a.port}` }));
});
