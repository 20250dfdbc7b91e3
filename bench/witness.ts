/**
 * `npm run bench:witness`: what witnessing costs the log. Three `signet serve` children on loopback, each
 * with a fresh log, take the same kind of writes (pre-signed hashedrekord entries, C keep-alive
 * connections, after a warm-up): without witnesses; with `--witness` (checkpoints sent to a witness in the
 * background, the cosigned one published); and with `--witness-quorum 1` (every write waits for a
 * checkpoint the witness cosigned). The witness is a `signet witness` child. Entries/s and latency per
 * mode, and the witness rounds the quorum run needed.
 * Environment: SIGNET_BENCH_WITNESS_N (entries per run, default 5000), SIGNET_BENCH_WITNESS_CONN (64,256).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cosignerVkey } from '../src/tlog/cosignature.js';
import { ecKey, hashedRekordV1 } from '../test/rekor/fixtures.js';
import { MAIN } from '../test/helpers/cli.js';
import { spawnServe } from '../test/server/http/spawn.js';
import { fmt, machineLine, note, stop, writeRun } from './common.js';

const N = Number(process.env.SIGNET_BENCH_WITNESS_N ?? 5000);
const CONNS = (process.env.SIGNET_BENCH_WITNESS_CONN ?? '64,256').split(',').map(Number);
const WARM = 1000;

const dir = mkdtempSync(join(tmpdir(), 'signet-bench-witness-'));
const logKey = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const witnessKey = generateKeyPairSync('ed25519');
writeFileSync(join(dir, 'log.pem'), logKey.privateKey.export({ type: 'pkcs8', format: 'pem' }));
writeFileSync(join(dir, 'witness.pem'), witnessKey.privateKey.export({ type: 'pkcs8', format: 'pem' }));
const modes = ['none', 'publish', 'quorum'] as const;
const origin = (run: number): string => `bench.witness - ${run}`;
const runs = CONNS.length * modes.length;
writeFileSync(
  join(dir, 'logs.json'),
  JSON.stringify({ logs: Array.from({ length: runs }, (_, i) => ({ origin: origin(i + 1), key: logKey.publicKey.export({ type: 'spki', format: 'pem' }) })) }),
);

async function spawnWitness(): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [MAIN, 'witness', '--key', join(dir, 'witness.pem'), '--name', 'bench/w1', '--logs', join(dir, 'logs.json'), '--data-dir', join(dir, 'witness'), '--listen', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stderr!.resume();
  const url = await new Promise<string>((res, rej) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /Listening on (http:\/\/\S+)/.exec(out);
      if (m) res(m[1]!);
    });
    child.once('exit', (code) => rej(new Error(`signet witness exited with ${code}: ${out}`)));
  });
  child.stdout!.resume();
  return { child, url };
}

const submitter = ecKey();
const bodies = (n: number): string[] => Array.from({ length: n }, () => JSON.stringify(hashedRekordV1(submitter)));

const witness = await spawnWitness();
const flag = `${witness.url},${cosignerVkey('bench/w1', witnessKey.privateKey)}`;
const rows: string[][] = [];
let run = 0;
try {
  for (const conns of CONNS) {
    for (const mode of modes) {
      run++;
      const extra = ['--log-key', join(dir, 'log.pem'), '--origin', origin(run)];
      if (mode !== 'none') extra.push('--witness', flag);
      if (mode === 'quorum') extra.push('--witness-quorum', '1');
      const srv = await spawnServe(join(dir, `log-${run}`), extra);
      try {
        note(`${mode}, ${conns} connections: warm-up ${WARM}, then ${N} writes…`);
        await writeRun([srv.url], bodies(WARM), conns);
        const r = await writeRun([srv.url], bodies(N), conns);
        const metrics = await (await fetch(`${srv.url}/metrics`)).text();
        const cosigned = /signet_witness_cosigned_size (\d+)/.exec(metrics)?.[1] ?? '–';
        rows.push([mode === 'none' ? 'no witness' : mode === 'publish' ? '--witness (background)' : '--witness --witness-quorum 1', String(conns), fmt(r.perSec), fmt(r.p50, 1), fmt(r.p99, 1), cosigned]);
      } finally {
        await stop(srv.child);
      }
    }
  }
} finally {
  await stop(witness.child);
  rmSync(dir, { recursive: true, force: true });
}
console.log(machineLine());
console.log('| mode | connections | entries/s | p50 ms | p99 ms | cosigned size at the end |');
console.log('|---|---|---|---|---|---|');
for (const r of rows) console.log(`| ${r.join(' | ')} |`);
