/**
 * Deliberately broken peers on 127.0.0.1 for the timeout tests: a TCP server that hands each socket to
 * the test (default: accept and never say anything) and a plain node:http server. Everything started is
 * closed, open sockets included, after the importing file's tests.
 */
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { after } from 'node:test';

const servers: Array<Server | HttpServer> = [];
const sockets = new Set<Socket>();
after(async () => {
  for (const s of sockets) s.destroy();
  for (const s of servers) {
    if ('closeAllConnections' in s) s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

async function listen(server: Server | HttpServer): Promise<string> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  servers.push(server);
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A TCP server that accepts connections and hands each socket to `onSocket` (default: say nothing, ever). */
export async function rawServer(onSocket: (s: Socket) => void = () => undefined): Promise<{ host: string; connections: () => number }> {
  let n = 0;
  const server = createServer((s) => {
    n++;
    sockets.add(s);
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
    onSocket(s);
  });
  return { host: await listen(server), connections: () => n };
}

/** A node:http server answering with `listener`; its `host:port`. */
export function httpServer(listener: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
  return listen(createHttpServer(listener));
}
