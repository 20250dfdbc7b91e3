/**
 * `npm run bench:monitor`: does `signet log monitor` keep up with a log taking writes? Not a test: prints
 * a markdown table with the machine.
 *   - a `signet serve` child takes pre-signed hashedrekord 0.0.1 entries at a paced RATE entries/s for
 *     SECONDS (C keep-alive connections, as bench/log.ts drives it);
 *   - a `signet log monitor --interval 200ms` child follows it from a fresh state (tiles, or Rekor v1
 *     with SIGNET_BENCH_MONITOR_API=v1), watching one key that signs 1% of the entries, so every entry is
 *     read, parsed and matched;
 *   - reported: the write rate reached, the entries/s the monitor processed from the first write until it
 *     had verified the final tree, how long it took to catch up after the last write, the largest backlog
 *     seen at a round, its CPU per 1,000 entries, and whether every watched entry was reported exactly once;
 *   - then a fresh `--once --from-index 0` round over the whole log: how fast a backlog is worked off.
 * Environment: SIGNET_BENCH_MONITOR_RATE (default 5000), SIGNET_BENCH_MONITOR_SECONDS (20),
 * SIGNET_BENCH_MONITOR_CONN (64), SIGNET_BENCH_MONITOR_API (tiles; a comma list runs each: tiles,v1).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';
import { ecKey, hashedRekordV1 } from '../test/rekor/fixtures.js';
import { MAIN } from '../test/helpers/cli.js';
import { spawnServe } from '../test/server/http/spawn.js';
import { fmt, machineLine, note, stop } from './common.js';

const RATE = Number(process.env.SIGNET_BENCH_MONITOR_RATE ?? 5000);
const SECONDS = Number(process.env.SIGNET_BENCH_MONITOR_SECONDS ?? 20);
const CONN = Number(process.env.SIGNET_BENCH_MONITOR_CONN ?? 64);
const APIS = (process.env.SIGNET_BENCH_MONITOR_API ?? 'tiles').split(',') as Array<'tiles' | 'v1'>;
const N = Math.round(RATE * SECONDS);

/** CPU seconds (user + system) a Linux process has used; 0 elsewhere. */
function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return 0;
  }
}

/** Hides /api/v2/ (so the monitor takes the Rekor v1 path) in front of `target`. */
async function v1Only(target: string): Promise<{ url: string; close: () => Promise<void> }> {
  const { createServer } = await import('node:http');
  const pool = new Pool(target, { connections: 32 });
  const server = createServer(async (req, res) => {
    if (req.url!.startsWith('/api/v2/')) {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"message":"no tiles here"}');
      return;
    }
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const r = await pool.request({ path: req.url!, method: req.method as 'GET' | 'POST', headers: { 'content-type': 'application/json' }, ...(chunks.length ? { body: Buffer.concat(chunks) } : {}) });
    res.writeHead(r.statusCode, { 'content-type': String(r.headers['content-type'] ?? 'application/json') }).end(Buffer.from(await r.body.arrayBuffer()));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return { url: `http://127.0.0.1:${port}`, close: async () => { server.closeAllConnections(); await new Promise((r) => server.close(r)); await pool.close(); } };
}

interface RunResult {
  api: string;
  writesPerSec: number;
  monitorPerSec: number;
  catchUpSec: number;
  maxBacklog: number;
  cpuPer1000: number;
  coldPerSec: number;
  reported: string;
}

async function run(api: 'tiles' | 'v1', bodies: string[], watchedIdx: Set<number>, fingerprint: string): Promise<RunResult> {
  const dir = mkdtempSync(join(tmpdir(), 'signet-bench-monitor-'));
  const { child: server, url: serverUrl } = await spawnServe(join(dir, 'log'));
  const proxy = api === 'v1' ? await v1Only(serverUrl) : undefined;
  const url = proxy?.url ?? serverUrl;
  const config = join(dir, 'watch.yaml');
  writeFileSync(config, `monitoredValues:\n  fingerprints: [${fingerprint}]\n`);
  let monitor: ChildProcess | undefined;
  try {
    monitor = spawn(
      process.execPath,
      [MAIN, '-t', '0', 'log', 'monitor', '--url', url, '--trusted-root', join(dir, 'log', 'trusted_root.json'), '--state', join(dir, 'state.json'), '--from-index', '0', '--config', config, '--interval', '200ms'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    monitor.stderr!.resume();
    const matched: number[] = [];
    let verified = 0;
    let maxBacklog = 0;
    let written = 0;
    let caughtUp: (() => void) | undefined;
    let target = Infinity;
    let buf = '';
    monitor.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const e = JSON.parse(line) as { type: string; size?: number; entry?: { index: number }; message?: string };
        if (e.type === 'match') matched.push(e.entry!.index);
        else if (e.type === 'checkpoint') {
          verified = e.size!;
          maxBacklog = Math.max(maxBacklog, written - verified);
          if (verified >= target) caughtUp?.();
        } else if (e.type === 'alarm' || e.type === 'error') note(`monitor: ${line}`);
      }
    });
    // Pace the writes: entry i goes out no earlier than t0 + i / RATE.
    const pool = new Pool(serverUrl, { connections: CONN, pipelining: 1 });
    const cpu0 = cpuSeconds(monitor.pid!);
    const t0 = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: CONN }, async () => {
        while (next < bodies.length) {
          const i = next++;
          const wait = t0 + (i * 1000) / RATE - performance.now();
          if (wait > 0) await new Promise((r) => setTimeout(r, wait));
          const r = await pool.request({ path: '/api/v1/log/entries', method: 'POST', body: bodies[i]!, headers: { 'content-type': 'application/json' } });
          await r.body.dump();
          if (r.statusCode !== 201) throw new Error(`write answered ${r.statusCode}`);
          written++;
        }
      }),
    );
    const tWritten = performance.now();
    await pool.close();
    target = bodies.length;
    if (verified < target) {
      await new Promise<void>((res, rej) => {
        caughtUp = res;
        const t = setTimeout(() => rej(new Error(`the monitor did not catch up within 120 s (at ${verified} of ${target})`)), 120_000);
        t.unref();
      });
    }
    const tDone = performance.now();
    const cpu = cpuSeconds(monitor.pid!) - cpu0;
    await stop(monitor);
    // The whole log again, from a fresh state in one round: how fast a backlog is worked off.
    const c0 = performance.now();
    const cold = spawn(
      process.execPath,
      [MAIN, '-t', '0', 'log', 'monitor', '--url', url, '--trusted-root', join(dir, 'log', 'trusted_root.json'), '--state', join(dir, 'cold.json'), '--from-index', '0', '--config', config, '--once'],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let coldErr = '';
    cold.stderr!.on('data', (d: Buffer) => (coldErr += d.toString()));
    const code = await new Promise<number | null>((r) => cold.once('exit', r));
    if (code !== 0) throw new Error(`the cold monitor round failed: ${coldErr}`);
    const coldPerSec = bodies.length / ((performance.now() - c0) / 1000);
    // Entries are logged in arrival order, not body order: count the watched ones through the log.
    const want = [...watchedIdx].length;
    const unique = new Set(matched).size;
    return {
      api,
      writesPerSec: bodies.length / ((tWritten - t0) / 1000),
      monitorPerSec: bodies.length / ((tDone - t0) / 1000),
      catchUpSec: (tDone - tWritten) / 1000,
      maxBacklog,
      cpuPer1000: (cpu / bodies.length) * 1000,
      coldPerSec,
      reported: matched.length === want && unique === want ? `${want} of ${want}, once each` : `${matched.length} reports of ${unique} entries, ${want} signed`,
    };
  } finally {
    if (monitor) await stop(monitor);
    await proxy?.close();
    await stop(server);
    rmSync(dir, { recursive: true, force: true });
  }
}

note(`signing ${N} hashedrekord entries (1% with the watched key)…`);
const key = ecKey();
const watched = ecKey();
const fingerprint = createHash('sha256').update(watched.spkiDer).digest('hex');
const watchedIdx = new Set<number>();
const bodies = Array.from({ length: N }, (_, i) => {
  const w = i % 100 === 50;
  if (w) watchedIdx.add(i);
  return JSON.stringify(hashedRekordV1(w ? watched : key));
});

const rows: string[][] = [];
for (const api of APIS) {
  note(`${api}: ${N} writes at ${RATE}/s while the monitor follows…`);
  const r = await run(api, bodies, watchedIdx, fingerprint);
  rows.push([r.api, fmt(r.writesPerSec), fmt(r.monitorPerSec), fmt(r.catchUpSec, 2), fmt(r.maxBacklog), fmt(r.cpuPer1000, 3), r.reported, fmt(r.coldPerSec)]);
}

console.log(`## log monitor keeping up with a log taking writes (${fmt(N)} entries offered at ${fmt(RATE)}/s, ${CONN} connections)\n`);
console.log('| read API | writes/s reached | monitor entries/s (first write → final tree verified) | catch-up after the last write (s) | largest backlog at a round (entries) | monitor CPU s per 1,000 entries | watched entries reported | whole log from a fresh state, one round (entries/s, process start included) |');
console.log('|---|---|---|---|---|---|---|---|');
for (const r of rows) console.log(`| ${r.join(' | ')} |`);
console.log(`\n${machineLine()}`);
