/**
 * A proxy on 127.0.0.1 in front of a registry (or any HTTP server): every request is passed through
 * unchanged unless `hook` takes it over (returns true), for tests that count, delay, cut or rewrite
 * what crosses it. Inside the hook, `forward()` passes the request on after all.
 */
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type ProxyHook = (req: IncomingMessage, res: ServerResponse, forward: () => void) => boolean;

export interface PassThroughProxy {
  /** `127.0.0.1:<port>`. */
  host: string;
  server: Server;
  /** Closes the listener and every open connection. */
  close: () => Promise<void>;
}

export async function startPassThroughProxy(upstream: string, hook: ProxyHook = () => false): Promise<PassThroughProxy> {
  const [host, port] = upstream.split(':') as [string, string];
  const server = createServer((req, res) => {
    const forward = (): void => {
      const up = request({ host, port: Number(port), method: req.method, path: req.url, headers: req.headers }, (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      });
      up.on('error', () => res.destroy());
      req.pipe(up);
    };
    if (!hook(req, res, forward)) forward();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    host: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    server,
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}
