// gRPC passes through the proxy unchanged: unary and streaming calls, metadata, and error statuses, which gRPC
// carries in HTTP/2 trailers (a trailers-only response for an immediate error).
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RoamProcess, startRoam, stopAll } from '../../test/support/processes.ts';

type Reply = { message: string; index: number };
type EchoClient = grpc.Client & {
  Say(req: object, md: grpc.Metadata, cb: (err: grpc.ServiceError | null, res?: Reply) => void): void;
  Repeat(req: object): grpc.ClientReadableStream<Reply>;
};

const definition = protoLoader.loadSync(new URL('./fixtures/echo.proto', import.meta.url).pathname);
const Echo = (
  grpc.loadPackageDefinition(definition) as { roam: { test: { Echo: grpc.ServiceClientConstructor } } }
).roam.test.Echo;

const server = new grpc.Server();
let proxy: RoamProcess;
let client: EchoClient;

beforeAll(async () => {
  server.addService(Echo.service, {
    Say(
      call: grpc.ServerUnaryCall<{ message: string; failWith: number }, Reply>,
      cb: grpc.sendUnaryData<Reply>,
    ) {
      if (call.request.failWith) return cb({ code: call.request.failWith, details: 'asked to fail' });
      const md = new grpc.Metadata();
      md.set('x-seen-by', 'echo');
      call.sendMetadata(md);
      cb(null, { message: `${call.request.message} (${call.metadata.get('x-client')[0]})`, index: 0 });
    },
    Repeat(call: grpc.ServerWritableStream<{ message: string; count: number }, Reply>) {
      for (let i = 0; i < call.request.count; i++) call.write({ message: call.request.message, index: i });
      call.end();
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  proxy = await startRoam(['proxy', '--listen', '127.0.0.1:0', '--upstream', `http://127.0.0.1:${port}`]);
  client = new Echo(proxy.address, grpc.credentials.createInsecure()) as unknown as EchoClient;
});
afterAll(async () => {
  client.close();
  server.forceShutdown();
  await stopAll();
});

describe('gRPC through the proxy', () => {
  it('passes a unary call with its metadata both ways', async () => {
    const md = new grpc.Metadata();
    md.set('x-client', 'test');
    const reply = await new Promise<Reply>((resolve, reject) =>
      client.Say({ message: 'hi' }, md, (err, res) => (err ? reject(err) : resolve(res!))),
    );
    expect(reply.message).toBe('hi (test)');
  });

  it('passes a server stream in order', async () => {
    const got: Reply[] = [];
    const stream = client.Repeat({ message: 'tick', count: 5 });
    for await (const r of stream) got.push(r as Reply);
    expect(got.map((r) => r.index)).toEqual([0, 1, 2, 3, 4]);
  });

  it('passes error statuses carried in trailers', async () => {
    const err = await new Promise<grpc.ServiceError>((resolve) =>
      client.Say({ message: 'x', failWith: grpc.status.NOT_FOUND }, new grpc.Metadata(), (e) => resolve(e!)),
    );
    expect(err.code).toBe(grpc.status.NOT_FOUND);
    expect(err.details).toBe('asked to fail');
  });
});
