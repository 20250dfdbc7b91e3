/**
 * `signet witness`: the witness service on its own HTTP listener (the same HTTP layer as `signet serve`:
 * request limits, timeouts, connection cap, /metrics, one JSON log line per request).
 */
import type { AddressInfo } from 'node:net';
import { SignetError } from '../../errors.js';
import { mountServiceRoutes } from '../http/services.js';
import { Metrics, Router, createHttpServer } from '../http/server.js';
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
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new SignetError('IO', `cannot listen on ${listen}: ${err.code === 'EADDRINUSE' ? 'address already in use' : err.message}`);
  }
  const addr = server.address() as AddressInfo;
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
