/**
 * `npm run bench:log`: the transparency log over HTTP, as clients meet it. Not a test: prints a markdown
 * table with the machine.
 *   - writes: C keep-alive connections (undici Pool) POST pre-signed hashedrekord 0.0.1 entries to a
 *     `signet serve` child on loopback (durable storage); accepted entries/s, p50/p99 latency;
 *   - the CPU cost of verifying one entry's ECDSA P-256 signature (what every write pays) on one core;
 *   - proof reads: a log of P entries populated through the library, then GET
 *     /api/v1/log/entries?logIndex=<random> (entry + SET + inclusion proof), /api/v1/log/proof and random
 *     full level-0 tiles, driven by wrk (64 connections) where it is installed (else the Node client), each
 *     with the server's CPU per read (all threads, and the main thread alone); as yardsticks for
 *     tiles, under the same wrk load, a bare node:http server answering every request with 8 KiB, and one
 *     that reads each requested tile's file and hashes it (what any Node server serving the tiles from
 *     their files must do at the least, when they do not all fit in memory);
 *   - the same writes against PostgreSQL with one and two servers sharing the log, from the undici client
 *     and from wrk (one per server, the connections shared between them) (skipped when
 *     PostgreSQL cannot be started).
 * Every write run starts with a warm-up of WARM_N other entries, not measured: a server runs for days, and
 * its first second (JIT compilation, first tiles, connections opening) is not its steady state.
 * Environment: SIGNET_BENCH_LOG_N (entries per write run, default 20000), SIGNET_BENCH_LOG_CONN (connection
 * counts for the embedded write runs, default 64,256; PostgreSQL runs use the largest),
 * SIGNET_BENCH_LOG_PROOF_N (log size for reads, default 1000000), SIGNET_BENCH_LOG_READ_CONN (16),
 * SIGNET_BENCH_LOG_READS=0 to skip the proof reads (a writes-only run), SIGNET_BENCH_LOG_PG=0 to skip PostgreSQL (=only: run only the PostgreSQL writes, SIGNET_BENCH_LOG_PG_RUNS
 * times each, default 1), SIGNET_BENCH_LOG_WRK=0 to skip the wrk run, SIGNET_BENCH_LOG_WRK_WARM=<seconds> of
 * unmeasured wrk load before the measured wrk run (default 0: V8 is then still compiling; see WRK_WARM_SECS),
 * SIGNET_BENCH_LOG_PROF=<dir> to run the embedded-write servers under --cpu-prof (one profile per thread; the wrk
 * run's in <dir>/wrk), SIGNET_BENCH_LOG_SIGNERS=0 to skip the wrk runs from many signers (below).
 * `--prefill N` (or SIGNET_BENCH_LOG_PREFILL=N): the wrk write run starts on a log of N entries, and the
 * reads run at N entries; logs are filled through the bulk path (`signet log import`'s; for the reads
 * with every entry's SET signed and stored, as writes through the API leave them), and after the
 * reads the root is rebuilt from the level-0 tiles served over HTTP and compared with the checkpoint;
 * the entry reads run twice, the second time after every file of the log was read once (page cache warm);
 * server RSS and disk bytes per entry are reported.
 * The embedded write run also reports the server's CPU per entry by thread (Linux /proc), which moves
 * far less than entries/s when other work shares the machine.
 * The wrk write run is repeated on the same server with entries from 8,000 signing keys and from 4,000
 * certificates (keyless entries; over the v1 and the v2 API): every other run signs with one key, which
 * the server parses once.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createHash, generateKeyPairSync, randomBytes, verify as nodeVerify } from 'node:crypto';
import { closeSync, fstatSync, mkdtempSync, openSync, readFileSync, readSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';
import { parsePublicKey } from '../src/keys/index.js';
import { canonicalizeProposedEntry } from '../src/rekor/index.js';
import { ecdsaBackend, verifyEcdsaDigest, verifyEcdsaDigestEcdh } from '../src/keys/ecdsa.js';
import { importLog, type ImportItem } from '../src/server/log/import.js';
import { MerkleFrontier, TILE_WIDTH, parseCheckpoint, tileHashes, tilePath, toHex } from '../src/tlog/index.js';
import { ecKey, hashedRekordV1, hashedRekordV2, selfSignedCert } from '../test/rekor/fixtures.js';
import { aptInstall } from '../test/helpers/apt.js';
import { spawnServe } from '../test/server/http/spawn.js';
import { fmt, machineLine, note, pct, stop, writeRun } from './common.js';

const N = Number(process.env.SIGNET_BENCH_LOG_N ?? 20_000);
/** Entries written before each measured write run (see the header). */
const WARM_N = 4000;
const CONNS = (process.env.SIGNET_BENCH_LOG_CONN ?? '64,256').split(',').map(Number);
const CONN = Math.max(...CONNS);
/**
 * Seconds of wrk load before the measured wrk run (default 0). After the WARM_N warm-up, which takes the
 * server about a second, V8 is still compiling the request path: in a 6 s run after 2 s of wrk, 40-50% of
 * the V8Worker threads' CPU was compilation (perf), still ~20% after 12 s; it is counted as server CPU.
 */
const WRK_WARM_SECS = Number(process.env.SIGNET_BENCH_LOG_WRK_WARM ?? 0);
if (!Number.isInteger(WRK_WARM_SECS) || WRK_WARM_SECS < 0) throw new Error('SIGNET_BENCH_LOG_WRK_WARM takes whole seconds');
/**
 * The wrk write runs also send entries from many signers (SIGNET_BENCH_LOG_SIGNERS=0 skips them): this many
 * distinct keys, and this many distinct certificates. Both are more than the server's verifier cache holds (1,024).
 */
const SIGNERS = process.env.SIGNET_BENCH_LOG_SIGNERS !== '0';
const SIGNER_KEYS = 8000;
const SIGNER_CERTS = 4000;
/** Read runs: a moderate concurrency, so that their latency says what one read costs. */
const READ_CONN = Number(process.env.SIGNET_BENCH_LOG_READ_CONN ?? 16);
const argPrefill = process.argv.indexOf('--prefill');
const PREFILL = Number(argPrefill >= 0 ? process.argv[argPrefill + 1] : (process.env.SIGNET_BENCH_LOG_PREFILL ?? 0));
if (!Number.isSafeInteger(PREFILL) || PREFILL < 0) throw new Error('--prefill takes a number of entries');
const PROOF_N = PREFILL > 0 ? PREFILL : Number(process.env.SIGNET_BENCH_LOG_PROOF_N ?? 1_000_000);

/**
 * Fills a stopped log with `n` synthetic hashedrekord-shaped entries through the bulk path; returns
 * seconds. With `sets`, each entry's SET is signed and stored as a write through the API does
 * (`log import --sign-sets`), so the reads meet what they meet on a log written by clients.
 */
async function prefill(dir: string, n: number, sets = false): Promise<number> {
  const prefix = randomBytes(8).toString('hex');
  const t0 = performance.now();
  let last = t0;
  await importLog({
    dataDir: dir,
    chunk: 65_536,
    sets,
    source: {
      name: 'synthetic entries',
      async *read(from: number) {
        for (let i = from; i < n; i += 4096) {
          const part: ImportItem[] = [];
          for (let k = i; k < Math.min(n, i + 4096); k++) {
            const d = createHash('sha256').update(`${prefix}-${k}`).digest('hex');
            part.push({ body: Buffer.from(`{"apiVersion":"0.0.1","kind":"hashedrekord","spec":{"data":{"hash":{"algorithm":"sha256","value":"${d}"}}}}`), indexKeys: [`sha256:${d}`] });
          }
          yield part;
        }
      },
    },
    progress: (size) => {
      if (performance.now() - last < 10_000) return;
      last = performance.now();
      note(`  ${fmt(size)} (${fmt(size / ((last - t0) / 1000))} entries/s)`);
    },
  });
  return (performance.now() - t0) / 1000;
}

/** Bytes under a directory. */
function diskBytes(dir: string): number {
  const r = spawnSync('du', ['-sb', dir], { encoding: 'utf8' });
  return Number(r.stdout.split(/\s/)[0] ?? 0);
}

/** The resident set of a (Linux) process, in MiB; 0 where /proc is not available. */
function rssMiB(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

/**
 * An independent check: the root rebuilt from the level-0 tiles the server serves (leaf hashes only, no
 * code of the log's storage) against the root of its checkpoint.
 */
async function rootFromServedTiles(url: string): Promise<{ size: number; match: boolean; root: string }> {
  const note0 = await (await fetch(`${url}/api/v2/checkpoint`)).text();
  const cp = parseCheckpoint(note0.slice(0, note0.indexOf('\n\n') + 1));
  const f = MerkleFrontier.empty();
  for (let k = 0; k * TILE_WIDTH < cp.size; k++) {
    const w = Math.min(TILE_WIDTH, cp.size - k * TILE_WIDTH);
    const res = await fetch(`${url}/api/v2/${tilePath(0, k, w)}`);
    if (res.status !== 200) throw new Error(`tile 0/${k} answered ${res.status}`);
    for (const h of tileHashes(new Uint8Array(await res.arrayBuffer()))) f.append(h);
  }
  const root = toHex(f.root());
  return { size: cp.size, match: root === toHex(cp.rootHash), root };
}
const PG = process.env.SIGNET_BENCH_LOG_PG !== '0';
/** SIGNET_BENCH_LOG_PG=only: the PostgreSQL write runs alone (repeated SIGNET_BENCH_LOG_PG_RUNS times). */
const ONLY_PG = process.env.SIGNET_BENCH_LOG_PG === 'only';
const PG_RUNS = ONLY_PG ? Number(process.env.SIGNET_BENCH_LOG_PG_RUNS ?? 1) : 1;

const rows: string[][] = [];

/** `writeRun` (bench/common.ts) at this bench's default connection count. */
const writeRunAt = (urls: string[], bodies: string[], conns = CONN): ReturnType<typeof writeRun> => writeRun(urls, bodies, conns);

/**
 * CPU seconds per thread of a (Linux) process, grouped by thread name, from /proc: wall-clock rates
 * swing with whatever else loads the machine, CPU per entry much less. The main thread is the one
 * whose id is the pid. Empty where /proc is not available.
 */
function threadCpu(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  const tick = 100; // USER_HZ on Linux
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const secs = (Number(f[11]) + Number(f[12])) / tick;
      const name = Number(tid) === pid ? 'main thread' : readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
      out.set(name, (out.get(name) ?? 0) + secs);
    }
  } catch {
    // not Linux, or the process is gone
  }
  return out;
}

/**
 * Seconds of CPU used by a (Linux) process and its children: PostgreSQL's postmaster and its backends
 * (the live ones from /proc, the exited ones through the postmaster's reaped-children times). 0 where
 * /proc is not available.
 */
function processTreeCpu(pid: number): number {
  const fields = (p: number | string): string[] => {
    const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  };
  try {
    const f = fields(pid);
    // utime, stime, cutime, cstime are fields 14-17 (11-14 after the command).
    let ticks = Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
    for (const p of readdirSync('/proc')) {
      if (!/^\d+$/.test(p)) continue;
      try {
        const c = fields(p);
        if (Number(c[1]) === pid) ticks += Number(c[11]) + Number(c[12]);
      } catch {
        // exited meanwhile
      }
    }
    return ticks / 100;
  } catch {
    return 0;
  }
}

function cpuDelta(before: Map<string, number>, after: Map<string, number>): Map<string, number> {
  const d = new Map<string, number>();
  for (const [k, v] of after) d.set(k, v - (before.get(k) ?? 0));
  return d;
}

/** Seconds of CPU all of `pid`'s threads used since `before` (a threadCpu reading). */
function totalCpuSince(pid: number, before: Map<string, number>): number {
  return [...cpuDelta(before, threadCpu(pid)).values()].reduce((a, b) => a + b, 0);
}

/** CPU seconds of a (Linux) process's main thread (whose thread id is the pid); 0 where /proc is not available. */
function mainThreadCpu(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/task/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return 0;
  }
}

const haveWrk = (): boolean => spawnSync('wrk', ['--version']).error === undefined;

/** The Lua that makes wrk print its summary as one line: requests, non-2xx answers, p50 and p99 (µs), duration (µs). */
const WRK_SUMMARY_LUA = [
  'function done(s, lat)',
  '  io.write(string.format("WRK %d %d %d %d %d\\n", s.requests, s.errors.status, lat:percentile(50), lat:percentile(99), s.duration))',
  'end',
];

type WrkSummary = { requests: number; non2xx: number; p50us: number; p99us: number; us: number };

/** The summary line WRK_SUMMARY_LUA printed. */
function parseWrkSummary(out: string): WrkSummary {
  const m = /WRK (\d+) (\d+) (\d+) (\d+) (\d+)/.exec(out);
  if (!m) throw new Error(`no summary from wrk: ${out}`);
  const [requests, non2xx, p50us, p99us, us] = m.slice(1).map(Number) as [number, number, number, number, number];
  return { requests, non2xx, p50us, p99us, us };
}

/** wrk's connections for read runs: reads are cheap, and wrk costs a fraction of a Node client per request. */
const WRK_READ_CONN = 64;

/**
 * GETs from wrk for `seconds` (after 2 s of warm-up, not measured), the path of each request from the Lua
 * expression `pathExpr`; with the CPU per read of process `pid` (all threads, and its main thread).
 */
async function wrkReadRun(url: string, pathExpr: string, seconds: number, pid: number): Promise<{ perSec: number; p50: number; p99: number; n: number; cpuUs: number; mainUs: number }> {
  const work = mkdtempSync(join(tmpdir(), 'signet-bench-wrk-read-'));
  try {
    const script = join(work, 'get.lua');
    writeFileSync(
      script,
      [
        'math.randomseed(os.time())',
        `function request() return wrk.format("GET", ${pathExpr}) end`,
        ...WRK_SUMMARY_LUA,
      ].join('\n'),
    );
    const run = (secs: number): string => {
      const r = spawnSync('wrk', ['-t1', `-c${WRK_READ_CONN}`, `-d${secs}s`, '-s', script, url], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`wrk exited with ${r.status}: ${r.stderr}`);
      return r.stdout;
    };
    run(2);
    const c0 = threadCpu(pid);
    const m0 = mainThreadCpu(pid);
    const out = run(seconds);
    const cpu = totalCpuSince(pid, c0);
    const main = mainThreadCpu(pid) - m0;
    const { requests, non2xx, p50us, p99us, us } = parseWrkSummary(out);
    if (non2xx > 0) throw new Error(`${non2xx} reads did not answer 200`);
    return { perSec: requests / (us / 1e6), p50: p50us / 1000, p99: p99us / 1000, n: requests, cpuUs: (cpu * 1e6) / requests, mainUs: (main * 1e6) / requests };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** Lua for a random full level-0 tile's path among `tiles` (C2SP: x-prefixed groups of three digits). */
function luaRandomTilePath(tiles: number): string {
  return `(function() local k = math.random(0, ${tiles - 1}); local p = string.format("%03d", k % 1000); local q = math.floor(k / 1000); while q > 0 do p = string.format("x%03d/", q % 1000) .. p; q = math.floor(q / 1000) end; return "/api/v2/tile/0/" .. p end)()`;
}

/**
 * A bare node:http server that answers every request with the same 8 KiB: the ceiling of Node's http on
 * this machine. With `filesUnder`, it serves /api/v2/<path> from the file <filesUnder>/<path> instead,
 * read as the log reads a full tile (open, fstat, read, close) and hashed once with SHA-256 (the check the
 * log makes of every full tile it reads from disk): the ceiling of any Node server that serves the tiles
 * from their files, with no code of the log's in the way.
 */
async function bareHttpServer(filesUnder?: string): Promise<{ child: ChildProcess; url: string }> {
  const answer = filesUnder
    ? [
        "  const fs = require('node:fs');",
        `  const fd = fs.openSync(${JSON.stringify(filesUnder + '/')} + req.url.slice(8), 'r');`,
        '  const size = fs.fstatSync(fd).size;',
        '  const data = Buffer.allocUnsafeSlow(size);',
        '  fs.readSync(fd, data, 0, size, 0);',
        '  fs.closeSync(fd);',
        "  require('node:crypto').hash('sha256', data, 'buffer');",
        "  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(size) });",
        '  res.end(data);',
      ]
    : ["  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': '8192' });", '  res.end(body);'];
  const src = [
    "const body = Buffer.alloc(8192, 7);",
    "const s = require('node:http').createServer({ keepAlive: true }, (req, res) => {",
    ...answer,
    '});',
    "s.listen(0, '127.0.0.1', () => console.log('Listening on http://127.0.0.1:' + s.address().port));",
  ].join('\n');
  const child = spawn(process.execPath, ['-e', src], { stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /Listening on (\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`the bare server exited with ${code}`)));
  });
  return { child, url };
}

async function readRun(url: string, paths: () => string, seconds: number): Promise<{ perSec: number; p50: number; p99: number; n: number }> {
  const pool = new Pool(url, { connections: READ_CONN });
  const lat: number[] = [];
  const end = performance.now() + seconds * 1000;
  let n = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: READ_CONN }, async () => {
      while (performance.now() < end) {
        const s = performance.now();
        const r = await pool.request({ path: paths(), method: 'GET' });
        await r.body.dump();
        if (r.statusCode !== 200) throw new Error(`read answered ${r.statusCode}`);
        lat.push(performance.now() - s);
        n++;
      }
    }),
  );
  const secs = (performance.now() - t0) / 1000;
  await pool.close();
  lat.sort((a, b) => a - b);
  return { perSec: n / secs, p50: pct(lat, 50), p99: pct(lat, 99), n };
}

// ---- pre-signed entries (not timed) ----
if (ONLY_PG) CONNS.length = 0;
note(`signing ${(N + WARM_N) * (CONNS.length + 2) + WARM_N} hashedrekord entries…`);
const key = ecKey();
// One set per write run (each embedded connection count, then PostgreSQL with 1 and 2 servers), and
// one warm-up set per run (the wrk run's is the last).
const sets = Array.from({ length: CONNS.length + 2 }, () => Array.from({ length: N }, () => JSON.stringify(hashedRekordV1(key))));
const warmSets = Array.from({ length: CONNS.length + 3 }, () => Array.from({ length: WARM_N }, () => JSON.stringify(hashedRekordV1(key))));

// ---- signature verification cost on one core ----
if (!ONLY_PG) {
  const samples = sets[0]!.slice(0, 5000).map((b) => {
    const spec = (JSON.parse(b) as any).spec;
    return { digest: Buffer.from(spec.data.hash.value, 'hex'), sig: Buffer.from(spec.signature.content, 'base64') };
  });
  const pub = parsePublicKey(key.pem);
  const time = (f: (i: number) => boolean): number => {
    let i = 0;
    const t0 = performance.now();
    while (performance.now() - t0 < 2000) if (!f(i++ % samples.length)) throw new Error('verification failed');
    return i / ((performance.now() - t0) / 1000);
  };
  const fallback = time((i) => verifyEcdsaDigestEcdh(pub.key, samples[i]!.digest, samples[i]!.sig));
  // The whole server-side check (JSON parse, PEM, canonical body, signature) for comparison.
  let j = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < 2000) canonicalizeProposedEntry(JSON.parse(sets[0]![j++ % N]!));
  const whole = j / ((performance.now() - t0) / 1000);
  // OpenSSL over the full artifact (what node:crypto can do; a digest-only entry cannot use it).
  const art = randomBytes(32);
  const { sign } = await import('node:crypto');
  const s = sign('sha256', art, key.privateKey);
  let k = 0;
  const t1 = performance.now();
  while (performance.now() - t1 < 2000) {
    nodeVerify('sha256', art, key.publicKey, s);
    k++;
  }
  const openssl = k / ((performance.now() - t1) / 1000);
  const fast = time((i) => verifyEcdsaDigest(pub.key, samples[i]!.digest, samples[i]!.sig));
  rows.push([`P-256 verify over a digest, the hashedrekord path (src/keys/ecdsa.ts, backend: ${ecdsaBackend.name}), 1 core`, `${fmt(fast)} /s`, '']);
  rows.push(['P-256 verify over a digest, the fallback without the addon (src/keys/ecdsa.ts, ECDH + @noble/curves), 1 core', `${fmt(fallback)} /s`, '']);
  rows.push(['full hashedrekord validation + canonicalization, 1 core', `${fmt(whole)} /s`, '']);
  rows.push(['P-256 verify via OpenSSL (hashes the message itself), 1 core', `${fmt(openssl)} /s`, '']);
  (globalThis as any).__verifyPerSec = whole;
}

// ---- writes: embedded storage ----
for (const [run, conns] of CONNS.entries()) {
  const dir = mkdtempSync(join(tmpdir(), 'signet-bench-log-'));
  // SIGNET_BENCH_LOG_PROF=<dir>: the server runs under --cpu-prof (main thread and workers) into <dir>.
  const prof = process.env.SIGNET_BENCH_LOG_PROF;
  const env = { ...process.env, ...(prof ? { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --cpu-prof --cpu-prof-dir=${prof}`.trim() } : {}) };
  const { child, url } = await spawnServe(dir, [], env);
  try {
    note(`writing ${N} entries over HTTP (${conns} connections, embedded storage)…`);
    await writeRunAt([url], warmSets[run]!, conns);
    const c0 = threadCpu(child.pid!);
    const u0 = process.cpuUsage();
    const r = await writeRunAt([url], sets[run]!, conns);
    const u1 = process.cpuUsage(u0);
    const cpu = cpuDelta(c0, threadCpu(child.pid!));
    const v = (globalThis as any).__verifyPerSec as number;
    rows.push([`writes, embedded (files + SQLite, fsync), ${conns} conns, ${fmt(N)} entries`, `${fmt(r.perSec)} entries/s`, `p50 ${fmt(r.p50, 1)} ms, p99 ${fmt(r.p99, 1)} ms`]);
    rows.push(['writes/s ÷ single-core validation/s', `${fmt(r.perSec / v, 2)}`, 'how close the log gets to its own verification cost']);
    if (cpu.size > 0) {
      const us = (secs: number): string => `${fmt((secs * 1e6) / r.accepted)} µs`;
      const total = [...cpu.values()].reduce((a, b) => a + b, 0);
      const parts = [...cpu].filter(([, s]) => s * 1e6 >= r.accepted).sort((a, b) => b[1] - a[1]).map(([k, s]) => `${k} ${us(s)}`);
      const client = (u1.user + u1.system) / 1e6;
      rows.push(['server CPU per accepted entry', us(total), parts.join(', ')]);
      rows.push(['load generator (this process) CPU per entry', us(client), 'shares the 2 cores with the server']);
      rows.push([
        'entries/s if all cores did only the server\'s work',
        `${fmt((cpus().length * r.accepted) / total)} entries/s`,
        `vs. ${fmt(cpus().length * v)} /s: full validation alone on ${cpus().length} cores (ratio ${fmt((r.accepted / total) / v, 2)})`,
      ]);
    }
  } finally {
    await stop(child);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Reads every file under `dir` once (into one reused buffer), so that the page cache holds them. */
function readEveryFile(dir: string): { bytes: number; secs: number } {
  const t0 = performance.now();
  const buf = Buffer.allocUnsafe(1 << 20);
  let bytes = 0;
  for (const rel of readdirSync(dir, { recursive: true, encoding: 'utf8' })) {
    const path = join(dir, rel);
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch {
      continue; // a directory that cannot be opened as a file, or a file gone meanwhile
    }
    try {
      if (!fstatSync(fd).isFile()) continue;
      for (let n = readSync(fd, buf); n > 0; n = readSync(fd, buf)) bytes += n;
    } finally {
      closeSync(fd);
    }
  }
  return { bytes, secs: (performance.now() - t0) / 1000 };
}

/** Whether wrk can run here: installed, or installed now from Debian when we are root. */
function ensureWrk(): boolean {
  if (haveWrk()) return true;
  if (process.getuid?.() !== 0) return false;
  try {
    aptInstall('wrk');
    return true;
  } catch {
    return false;
  }
}

/** The Lua script that POSTs (to Rekor API v`api`) the bodies of the file named in wrk's first argument, one per line, each once. */
function wrkPostScript(work: string, api: 1 | 2 = 1): string {
  const script = join(work, `post-v${api}.lua`);
  writeFileSync(
    script,
    [
      'local bodies, i = {}, 0',
      'function init(args) for line in io.lines(args[1]) do bodies[#bodies + 1] = line end end',
      'function request()',
      '  i = i + 1',
      `  return wrk.format("POST", "/api/v${api}/log/entries", { ["Content-Type"] = "application/json" }, bodies[i])`,
      'end',
      ...WRK_SUMMARY_LUA,
    ].join('\n'),
  );
  return script;
}

/** `count` fresh signed entries, all with the bench's one key, one JSON body per line, in a file under `work`. */
function wrkBodies(work: string, name: string, count: number): string {
  return manySignerBodies(work, name, count, [{ key, pem: key.pem }]);
}

/** A signer of the many-signers runs: a P-256 key of its own, with a self-signed certificate (email SAN) for keyless entries. */
type BenchSigner = { key: ReturnType<typeof ecKey>; pem: string; certDer?: Buffer };

async function manySigners(n: number, certs: boolean): Promise<BenchSigner[]> {
  const made: BenchSigner[] = [];
  for (let i = 0; i < n; i++) {
    if (certs) {
      const c = await selfSignedCert(`signer-${i}@example.com`);
      made.push({ key: c.key, pem: c.certPem, certDer: c.certDer });
    } else {
      const k = ecKey();
      made.push({ key: k, pem: k.pem });
    }
  }
  return made;
}

/**
 * `count` fresh signed entries from `signers`, taken in turn, one JSON body per line: Rekor v1 hashedrekord
 * requests (the key's or certificate's PEM), or with `api` 2 v2 ones (the certificate's DER).
 */
function manySignerBodies(work: string, name: string, count: number, signers: BenchSigner[], api: 1 | 2 = 1): string {
  const file = join(work, name);
  const body = (s: BenchSigner): Record<string, unknown> =>
    api === 1 ? hashedRekordV1(s.key, undefined, { pem: s.pem }) : hashedRekordV2(s.key, undefined, s.certDer ? { certDer: s.certDer } : {});
  writeFileSync(file, Array.from({ length: count }, (_, i) => JSON.stringify(body(signers[i % signers.length]!))).join('\n') + '\n');
  return file;
}

/** One wrk POST run of `secs` against `url` with `conns` connections; its summary line parsed. */
async function wrkPost(url: string, script: string, bodiesFile: string, conns: number, secs: number): Promise<WrkSummary> {
  const out = await new Promise<string>((resolve, reject) => {
    const w = spawn('wrk', ['-t1', `-c${conns}`, `-d${secs}s`, '-s', script, url, '--', bodiesFile], { stdio: ['ignore', 'pipe', 'inherit'] });
    let text = '';
    w.stdout.on('data', (d: Buffer) => (text += d.toString()));
    w.on('error', reject);
    w.on('exit', (code) => (code === 0 ? resolve(text) : reject(new Error(`wrk exited with ${code}`))));
  });
  return parseWrkSummary(out);
}

// ---- writes: embedded storage, driven by wrk ----
// The same writes from a load generator in C (Debian's wrk, installed when missing and we are root),
// which costs a fraction of the CPU per request that the Node.js client above does on the same 2 cores.
if (process.env.SIGNET_BENCH_LOG_WRK !== '0' && !ONLY_PG) {
  const haveWrk = ensureWrk();
  if (!haveWrk) note('wrk could not be installed: skipping the wrk run');
  if (haveWrk) {
    const SECS = 6;
    const total = 60_000; // enough unique entries for 10,000/s over SECS
    const warmTotal = WRK_WARM_SECS * 10_000;
    note(`signing ${total + warmTotal} entries for the wrk run…`);
    const work = mkdtempSync(join(tmpdir(), 'signet-bench-wrk-'));
    const bodiesFile = wrkBodies(work, 'bodies.txt', total);
    const warmFile = warmTotal > 0 ? wrkBodies(work, 'warm.txt', warmTotal) : undefined;
    const script = wrkPostScript(work);
    // The same load from many signers: a client's one key is what the runs above send, and the server's
    // verifier cache serves it after the first entry; public Sigstore's log is mostly keyless entries, each
    // with a certificate (and key) of its own.
    const workloads: { name: string; file: string; script: string }[] = [{ name: 'one signing key', file: bodiesFile, script }];
    if (SIGNERS) {
      note(`signing ${fmt(total)} entries with ${fmt(SIGNER_KEYS)} keys, and ${fmt(2 * total)} with ${fmt(SIGNER_CERTS)} certificates…`);
      const keys = await manySigners(SIGNER_KEYS, false);
      const certs = await manySigners(SIGNER_CERTS, true);
      workloads.push({ name: `${fmt(SIGNER_KEYS)} signing keys`, file: manySignerBodies(work, 'keys.txt', total, keys), script });
      workloads.push({ name: `${fmt(SIGNER_CERTS)} certificates (keyless)`, file: manySignerBodies(work, 'certs.txt', total, certs), script });
      workloads.push({ name: `${fmt(SIGNER_CERTS)} certificates (keyless), Rekor v2 API`, file: manySignerBodies(work, 'certs-v2.txt', total, certs, 2), script: wrkPostScript(work, 2) });
    }
    const dir = mkdtempSync(join(tmpdir(), 'signet-bench-log-'));
    if (PREFILL > 0) {
      note(`prefilling ${fmt(PREFILL)} entries for the wrk run…`);
      await prefill(dir, PREFILL);
    }
    const prof = process.env.SIGNET_BENCH_LOG_PROF;
    const env = { ...process.env, ...(prof ? { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --cpu-prof --cpu-prof-dir=${prof}/wrk`.trim() } : {}) };
    const { child, url } = await spawnServe(dir, [], env);
    try {
      await writeRunAt([url], warmSets[CONNS.length + 2]!, CONN);
      // SIGNET_BENCH_LOG_WRK_WARM: seconds of the same wrk load first, not measured (see WRK_WARM_SECS).
      if (warmFile) await wrkPost(url, script, warmFile, CONN, WRK_WARM_SECS);
      // One server for the workloads, one after the other: the later ones start on a log ~40,000 entries larger.
      for (const w of workloads) {
        note(`writing for ${SECS} s over HTTP with wrk (${CONN} connections, embedded storage, ${w.name})…`);
        const c0 = threadCpu(child.pid!);
        const { requests, non2xx, p50us, p99us, us } = await wrkPost(url, w.script, w.file, CONN, SECS);
        const byThread = cpuDelta(c0, threadCpu(child.pid!));
        const cpu = [...byThread.values()].reduce((a, b) => a + b, 0);
        if (requests > total) throw new Error('wrk ran out of unique entries: raise the total');
        const accepted = requests - non2xx;
        rows.push([
          `writes, embedded, wrk, ${CONN} conns, ${SECS} s${PREFILL > 0 ? `, on a ${fmt(PREFILL)}-entry log` : ', fresh log'}, ${w.name}`,
          `${fmt(accepted / (us / 1e6))} entries/s`,
          `p50 ${fmt(p50us / 1000, 1)} ms, p99 ${fmt(p99us / 1000, 1)} ms, ${non2xx} not 201${cpu > 0 ? `, server CPU ${fmt((cpu * 1e6) / accepted)} µs per entry` : ''}`,
        ]);
        if (cpu > 0) {
          // By thread: the run builder and merge threads (WorkerThread) are where a large log used to cost more.
          const parts = [...byThread].filter(([, s]) => s * 1e6 >= accepted).sort((a, b) => b[1] - a[1]).map(([k, s]) => `${k} ${fmt((s * 1e6) / accepted)} µs`);
          rows.push([`wrk run (${w.name}): server CPU per entry by thread`, `${fmt((cpu * 1e6) / accepted)} µs`, parts.join(', ')]);
        }
      }
    } finally {
      await stop(child);
      rmSync(dir, { recursive: true, force: true });
      rmSync(work, { recursive: true, force: true });
    }
  }
}

// ---- proof reads at PROOF_N entries ----
if (!ONLY_PG && process.env.SIGNET_BENCH_LOG_READS !== '0') {
  const dir = mkdtempSync(join(tmpdir(), 'signet-bench-proof-'));
  try {
    note(`filling ${fmt(PROOF_N)} entries through the bulk path…`);
    const popSecs = await prefill(dir, PROOF_N, true);
    rows.push([`bulk append (signet log import --sign-sets), embedded`, `${fmt(PROOF_N / popSecs)} entries/s`, `${fmt(PROOF_N)} entries in ${fmt(popSecs, 1)} s`]);
    rows.push([`disk bytes per entry at ${fmt(PROOF_N)} entries`, `${fmt(diskBytes(dir) / PROOF_N)} B`, 'tiles, bundles, log.sqlite, index runs']);
    const { child, url } = await spawnServe(dir);
    try {
      const rnd = (): number => Math.floor(Math.random() * PROOF_N);
      const fullTiles = Math.max(1, Math.floor(PROOF_N / TILE_WIDTH));
      const wrk = haveWrk();
      const cpuNote = (r: { cpuUs: number; mainUs: number }): string =>
        r.cpuUs > 0 ? `, server CPU ${fmt(r.cpuUs)} µs per read (main thread ${fmt(r.mainUs)} µs: at most ${fmt(1e6 / r.mainUs)} /s on its one core)` : '';
      if (wrk) {
        const entryReads = async (how: string): Promise<void> => {
          const e = await wrkReadRun(url, `"/api/v1/log/entries?logIndex=" .. math.random(0, ${PROOF_N - 1})`, 8, child.pid!);
          rows.push([`GET entry by random logIndex (+ SET + inclusion proof) at ${fmt(PROOF_N)} entries, wrk, ${WRK_READ_CONN} conns${how}`, `${fmt(e.perSec)} /s`, `p50 ${fmt(e.p50, 1)} ms, p99 ${fmt(e.p99, 1)} ms${cpuNote(e)}`]);
        };
        await entryReads('');
        // The same reads once every file of the log has been read: a machine that reclaims page cache it
        // sees idle (this VM's DAMON pages out what was not touched for a minute) sends the first run's
        // reads of the log's early bundles to the disk; a server that has served for a while has them in memory.
        if (PREFILL > 0) {
          const warmed = readEveryFile(dir);
          rows.push(['page cache warmed: every file of the log read once', `${fmt(warmed.bytes / 2 ** 30, 2)} GiB`, `in ${fmt(warmed.secs, 1)} s`]);
          await entryReads(', page cache warmed');
        }
      } else {
        const c0 = threadCpu(child.pid!);
        const e = await readRun(url, () => `/api/v1/log/entries?logIndex=${rnd()}`, 8);
        const cpu = totalCpuSince(child.pid!, c0);
        const perRead = cpu > 0 ? `, server CPU ${fmt((cpu * 1e6) / e.n)} µs per read` : '';
        rows.push([
          `GET entry by random logIndex (+ SET + inclusion proof) at ${fmt(PROOF_N)} entries, ${READ_CONN} conns`,
          `${fmt(e.perSec)} /s`,
          `p50 ${fmt(e.p50, 1)} ms, p99 ${fmt(e.p99, 1)} ms${perRead}`,
        ]);
      }
      const p = await readRun(url, () => `/api/v1/log/proof?firstSize=${1 + rnd()}&lastSize=${PROOF_N}`, 5);
      rows.push([`GET consistency proof (random firstSize → ${fmt(PROOF_N)}), ${READ_CONN} conns`, `${fmt(p.perSec)} /s`, `p50 ${fmt(p.p50, 1)} ms, p99 ${fmt(p.p99, 1)} ms`]);
      if (wrk) {
        const t = await wrkReadRun(url, luaRandomTilePath(fullTiles), 8, child.pid!);
        rows.push([`GET full level-0 tile (random) at ${fmt(PROOF_N)} entries, wrk, ${WRK_READ_CONN} conns`, `${fmt(t.perSec)} /s`, `p50 ${fmt(t.p50, 1)} ms, p99 ${fmt(t.p99, 1)} ms${cpuNote(t)}`]);
        const bare = await bareHttpServer();
        try {
          const b = await wrkReadRun(bare.url, luaRandomTilePath(fullTiles), 8, bare.child.pid!);
          rows.push([`yardstick: bare node:http answering 8 KiB, the same wrk load`, `${fmt(b.perSec)} /s`, `p50 ${fmt(b.p50, 1)} ms, p99 ${fmt(b.p99, 1)} ms${cpuNote(b)}`]);
        } finally {
          await stop(bare.child);
        }
        const files = await bareHttpServer(join(dir, 'tiles'));
        try {
          const b = await wrkReadRun(files.url, luaRandomTilePath(fullTiles), 8, files.child.pid!);
          rows.push([`yardstick: bare node:http reading each tile's file and hashing it, the same wrk load`, `${fmt(b.perSec)} /s`, `p50 ${fmt(b.p50, 1)} ms, p99 ${fmt(b.p99, 1)} ms${cpuNote(b)}`]);
        } finally {
          await stop(files.child);
        }
      } else {
        const c0 = threadCpu(child.pid!);
        const t = await readRun(url, () => `/api/v2/${tilePath(0, Math.floor(Math.random() * fullTiles))}`, 5);
        const cpu = totalCpuSince(child.pid!, c0);
        const perRead = cpu > 0 ? `, server CPU ${fmt((cpu * 1e6) / t.n)} µs per read` : '';
        rows.push([`GET full level-0 tile (random) at ${fmt(PROOF_N)} entries, ${READ_CONN} conns`, `${fmt(t.perSec)} /s`, `p50 ${fmt(t.p50, 1)} ms, p99 ${fmt(t.p99, 1)} ms${perRead}`]);
      }
      rows.push([`server RSS after the reads at ${fmt(PROOF_N)} entries`, `${fmt(rssMiB(child.pid!), 1)} MiB`, '']);
      const check = await rootFromServedTiles(url);
      rows.push([`root rebuilt from the served level-0 tiles vs checkpoint (${fmt(check.size)})`, check.match ? 'match' : 'MISMATCH', check.root]);
    } finally {
      await stop(child);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---- PostgreSQL, one and two servers ----
/** Seconds of each PostgreSQL wrk run, and the fresh entries signed for each server's wrk (enough for 10,000/s). */
const PG_WRK_SECS = 6;
const PG_WRK_BODIES = 60_000;
// Each run writes to a fresh database (so repeated runs can send the same entries), first WARM_N
// entries not measured, then N measured; the servers' and PostgreSQL's CPU per entry come from /proc.
if (PG) {
  let pgServer: { url: string; pid: number; stop(): Promise<void> } | undefined;
  try {
    const { startPostgres } = await import('../test/helpers/postgres.js');
    pgServer = await startPostgres();
  } catch (e) {
    rows.push(['PostgreSQL', 'skipped', (e as Error).message.split('\n')[0]!]);
  }
  if (pgServer) {
    const pgKeyFile = join(mkdtempSync(join(tmpdir(), 'signet-bench-key-')), 'log.pem');
    writeFileSync(pgKeyFile, generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
    const { default: pg } = await import('pg');
    // Fresh entries for the wrk runs, one file per server: every run writes to a new database, so the
    // files serve every run.
    let pgWrk: { script: string; bodies: string[]; work: string } | undefined;
    if (process.env.SIGNET_BENCH_LOG_WRK !== '0' && ensureWrk()) {
      note(`signing ${2 * PG_WRK_BODIES} entries for the PostgreSQL wrk runs…`);
      const work = mkdtempSync(join(tmpdir(), 'signet-bench-pg-wrk-'));
      pgWrk = { work, script: wrkPostScript(work), bodies: [wrkBodies(work, 'a.txt', PG_WRK_BODIES), wrkBodies(work, 'b.txt', PG_WRK_BODIES)] };
    }
    let dbs = 0;
    try {
      for (let rep = 0; rep < PG_RUNS; rep++) {
        for (const [servers, set] of [[1, sets[CONNS.length]!], [2, sets[CONNS.length + 1]!]] as const) {
          const dirs = Array.from({ length: servers }, () => mkdtempSync(join(tmpdir(), 'signet-bench-pg-')));
          const children: Array<{ child: ChildProcess; url: string }> = [];
          try {
            const db = `bench${++dbs}`;
            const admin = new pg.Client({ connectionString: pgServer.url });
            await admin.connect();
            await admin.query(`CREATE DATABASE ${db}`);
            await admin.end();
            const dbUrl = pgServer.url.replace(/\/postgres$/, `/${db}`);
            // The first server creates the log; the others join it (they would race to create it).
            for (const d of dirs) children.push(await spawnServe(d, ['--storage', dbUrl, '--log-key', pgKeyFile]));
            note(`writing ${N} entries over HTTP to ${servers} server(s) on PostgreSQL (run ${rep + 1})…`);
            await writeRunAt(children.map((c) => c.url), warmSets[CONNS.length + servers - 1]!);
            const s0 = children.map((c) => threadCpu(c.child.pid!));
            const p0 = processTreeCpu(pgServer.pid);
            const r = await writeRunAt(children.map((c) => c.url), set);
            const serverCpu = children.reduce((sum, c, i) => sum + totalCpuSince(c.child.pid!, s0[i]!), 0);
            const pgCpu = processTreeCpu(pgServer.pid) - p0;
            const us = (secs: number): string => `${fmt((secs * 1e6) / r.accepted)} µs`;
            rows.push([
              `writes, PostgreSQL, ${servers} server${servers > 1 ? 's' : ''}, ${CONN} conns, ${fmt(N)} entries${PG_RUNS > 1 ? `, run ${rep + 1}` : ''}`,
              `${fmt(r.perSec)} entries/s`,
              `p50 ${fmt(r.p50, 1)} ms, p99 ${fmt(r.p99, 1)} ms` +
                (serverCpu > 0 ? `; CPU per entry: server${servers > 1 ? 's' : ''} ${us(serverCpu)}, PostgreSQL ${us(pgCpu)}` : '') +
                `; load ${fmt(loadavg()[0]!, 2)}`,
            ]);
            // The same servers driven by wrk (CONN connections shared between them, one wrk each, fresh
            // entries): the load generator the embedded headline uses, a fraction of the undici client's CPU.
            if (pgWrk) {
              note(`writing for ${PG_WRK_SECS} s with wrk to ${servers} server(s) on PostgreSQL (run ${rep + 1})…`);
              const w0 = children.map((c) => threadCpu(c.child.pid!));
              const q0 = processTreeCpu(pgServer.pid);
              const runs = await Promise.all(children.map((c, i) => wrkPost(c.url, pgWrk.script, pgWrk.bodies[i]!, Math.floor(CONN / servers), PG_WRK_SECS)));
              const wServer = children.reduce((sum, c, i) => sum + totalCpuSince(c.child.pid!, w0[i]!), 0);
              const wPg = processTreeCpu(pgServer.pid) - q0;
              const accepted = runs.reduce((a, x) => a + x.requests - x.non2xx, 0);
              if (runs.some((x) => x.requests >= PG_WRK_BODIES)) throw new Error('wrk ran out of unique entries: raise PG_WRK_BODIES');
              const perSec = runs.reduce((a, x) => a + (x.requests - x.non2xx) / (x.us / 1e6), 0);
              const wus = (secs: number): string => `${fmt((secs * 1e6) / accepted)} µs`;
              rows.push([
                `writes, PostgreSQL, ${servers} server${servers > 1 ? 's' : ''}, wrk, ${CONN} conns, ${PG_WRK_SECS} s${PG_RUNS > 1 ? `, run ${rep + 1}` : ''}`,
                `${fmt(perSec)} entries/s`,
                `p50 ${fmt(Math.max(...runs.map((x) => x.p50us)) / 1000, 1)} ms, p99 ${fmt(Math.max(...runs.map((x) => x.p99us)) / 1000, 1)} ms, ` +
                  `${runs.reduce((a, x) => a + x.non2xx, 0)} not 201` +
                  (wServer > 0 ? `; CPU per entry: server${servers > 1 ? 's' : ''} ${wus(wServer)}, PostgreSQL ${wus(wPg)}` : '') +
                  `; load ${fmt(loadavg()[0]!, 2)}`,
              ]);
            }
          } catch (e) {
            rows.push([`writes, PostgreSQL, ${servers} server(s)`, 'failed', (e as Error).message.split('\n')[0]!]);
          } finally {
            for (const c of children) await stop(c.child);
            for (const d of dirs) rmSync(d, { recursive: true, force: true });
          }
        }
      }
    } finally {
      await pgServer.stop();
      rmSync(dirname(pgKeyFile), { recursive: true, force: true });
      if (pgWrk) rmSync(pgWrk.work, { recursive: true, force: true });
    }
  }
}

process.stdout.write(
  `\n${machineLine()} (the bench itself adds ~2)\n\n` +
    '| measurement | result | notes |\n|---|---|---|\n' +
    rows.map((r) => `| ${r.join(' | ')} |`).join('\n') +
    '\n',
);
