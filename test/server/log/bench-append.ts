/**
 * Append throughput and latency: `node dist/test/server/log/bench-append.js [embedded|postgres] [concurrency] [seconds]`.
 * Entries are ~600-byte JSON bodies with two search keys, roughly a hashedrekord.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openLog } from '../../../src/server/log/index.js';
import { startPostgres } from '../../helpers/postgres.js';

const [kind = 'embedded', concArg = '64', secArg = '5'] = process.argv.slice(2);
const conc = Number(concArg);
const seconds = Number(secArg);
const dir = mkdtempSync(join(tmpdir(), 'signet-bench-'));
const pgServer = kind === 'postgres' ? await startPostgres() : undefined;
const log = await openLog({ dataDir: dir, storage: pgServer?.url });
const lat: number[] = [];
let n = 0;
const pad = 'p'.repeat(500);
const end = performance.now() + seconds * 1000;
const t0 = performance.now();
await Promise.all(
  Array.from({ length: conc }, async () => {
    while (performance.now() < end) {
      const i = n++;
      const s = performance.now();
      await log.append({ body: Buffer.from(JSON.stringify({ i, pad })), indexKeys: [`sha256:${i}`, `k${i % 100}`] });
      lat.push(performance.now() - s);
    }
  }),
);
const elapsed = (performance.now() - t0) / 1000;
lat.sort((a, b) => a - b);
const q = (p: number) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))]!.toFixed(1);
const m = log.metrics();
console.log(
  `${kind} c=${conc}: ${lat.length} appends in ${elapsed.toFixed(1)} s = ${Math.round(lat.length / elapsed)}/s; p50 ${q(0.5)} ms, p99 ${q(0.99)} ms; ${m.batches} batches (avg ${(lat.length / m.batches).toFixed(1)})`,
);
const t1 = performance.now();
const cp = await log.checkpoint();
for (let k = 0; k < 2000; k++) await log.inclusionProof(Math.floor(Math.random() * cp.size), cp.size);
console.log(`inclusion proofs at size ${cp.size}: ${Math.round(2000 / ((performance.now() - t1) / 1000))}/s sequential`);
await log.close();
await pgServer?.stop();
rmSync(dir, { recursive: true, force: true });
