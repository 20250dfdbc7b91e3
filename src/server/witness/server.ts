/**
 * `signet witness`: the witness service on its own HTTP listener (the same HTTP layer as `signet serve`:
 * request limits, timeouts, connection cap, /metrics, one JSON log line per request).
 */
import { mountServiceRoutes } from '../http/services.js';
import { Metrics, Router, createHttpServer, listenOn } from '../http/server.js';
import { parseListen } from '../serve.js';
import { MAX_REQUEST_BYTES, Witness, type WitnessOptions } from './index.js';

export interface RunningWitness {
  url: string;
  witness: Witness;
  close(): Promise<void>;
}

export async function startWitness(opts: WitnessOptions & { listen?: string; requestLog?: { write(line: string): unknown } | false }): Promise<RunningWitness> {
  const listen = opts.listen ?? '127.0.0.1:3100';
  const { host, port } = parseListen(listen);
  const witness = await Witness.open(opts);
  const router = new Router();
  const metrics = new Metrics();
  mountServiceRoutes(router, witness.routes());
  const server = createHttpServer({ router, metrics, maxBodyBytes: MAX_REQUEST_BYTES, ...(opts.requestLog !== undefined ? { log: opts.requestLog } : {}) });
  const addr = await listenOn(server, host, port, listen);
  const h = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return {
    url: `http://${h}:${addr.port}`,
    witness,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}
