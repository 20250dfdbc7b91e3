/**
 * `npm run bench:keyless`: keyless signing end to end against a private Sigstore. Not a test: prints a
 * markdown table with the machine.
 *   - `signet serve --dev-oidc` runs in a child process (bin/signet, as an operator starts it), so the
 *     load generator and the services do not share an event loop or a core budget they cannot see;
 *   - (a) Signet's library: C concurrent signers, each signature a separate signing run: dev OIDC token,
 *     fresh key + certificate from the CA, signature, RFC 3161 timestamp, Rekor v1 entry, v0.3 bundle;
 *   - (b) the `sigstore` package doing the same (sigstore.sign) against the same services;
 *   - (c) one signature from a cold process: `bin/signet sign-blob` beside a tiny script that imports
 *     `sigstore` and signs once, each spawned R times (token minted beforehand, so the figure is process
 *     start + module load + the four round trips + writing the bundle).
 * Environment: SIGNET_BENCH_KEYLESS_N (signatures per concurrent run, default 400),
 * SIGNET_BENCH_KEYLESS_CONC (comma list, default 8,16), SIGNET_BENCH_KEYLESS_COLD (cold runs, default 10;
 * 0 leaves (c) out), SIGNET_BENCH_KEYLESS_ROUNDS (default 10): split each concurrent run into this many
 * rounds, (a) and (b) taking turns and alternating which goes first, so that a machine whose load drifts
 * weighs on both alike (with 4 rounds of 100 on a machine loaded by other work, single rounds ranged
 * from 0.6 to 1.7 and the sum followed whichever side the load spikes happened to fall on); each round's (a)/(b) throughput ratio goes to stderr and under the table, with
 * the CPU time per signature of the client and of the server process (less sensitive to other load than
 * throughput), and the rows sum the rounds.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as sigstore from 'sigstore';
import { parseSigningConfig } from '../src/sigstore/signing-config.js';
import { signBundleKeyless } from '../src/sigstore/sign-keyless.js';
import { spawnServe } from '../test/server/http/spawn.js';
import { fmt, machineLine, note, pct, stop } from './common.js';

const N = Number(process.env.SIGNET_BENCH_KEYLESS_N ?? 400);
const CONC = (process.env.SIGNET_BENCH_KEYLESS_CONC ?? '8,16').split(',').map(Number);
const COLD = Number(process.env.SIGNET_BENCH_KEYLESS_COLD ?? 10);
const ROUNDS = Math.max(1, Number(process.env.SIGNET_BENCH_KEYLESS_ROUNDS ?? 10));

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const signetBin = join(repo, 'bin/signet');

async function devToken(url: string, email: string): Promise<string> {
  const r = await fetch(url + '/oidc/token', { method: 'POST', body: JSON.stringify({ email }) });
  if (r.status !== 200) throw new Error(`dev OIDC token: HTTP ${r.status}: ${await r.text()}`);
  return ((await r.json()) as { id_token: string }).id_token;
}

interface RunResult {
  perSec: number;
  p50: number;
  p99: number;
  n: number;
}

interface Samples {
  lat: number[];
  secs: number;
  /** CPU time of this process (the client) and of the server process during the run, ms. */
  clientCpu: number;
  serverCpu: number;
}

/** CPU time (user + system) of process `pid` in ms, from /proc (Linux; USER_HZ is 100 there); NaN elsewhere. */
function processCpuMs(pid: number | undefined): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(f[11]) + Number(f[12])) * 10;
  } catch {
    return NaN;
  }
}

/** `total` signatures by `conc` workers, each signature one call of `one`; every failure aborts the run. */
async function concurrentRun(conc: number, total: number, one: (i: number) => Promise<void>, first = 0, serverPid?: number): Promise<Samples> {
  const lat: number[] = [];
  const c0 = process.cpuUsage();
  const s0 = processCpuMs(serverPid);
  let next = first;
  const end = first + total;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: conc }, async () => {
      while (next < end) {
        const i = next++;
        const s = performance.now();
        await one(i);
        lat.push(performance.now() - s);
      }
    }),
  );
  const secs = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(c0);
  return { lat, secs, clientCpu: (c.user + c.system) / 1000, serverCpu: processCpuMs(serverPid) - s0 };
}

function summarize(runs: Samples[]): RunResult {
  const lat = runs.flatMap((r) => r.lat).sort((a, b) => a - b);
  const secs = runs.reduce((a, r) => a + r.secs, 0);
  return { perSec: lat.length / secs, p50: pct(lat, 50), p99: pct(lat, 99), n: lat.length };
}

/** "client X ms + server Y ms" of CPU per signature over the runs. */
function cpuPerSignature(runs: Samples[]): string {
  const n = runs.reduce((a, r) => a + r.lat.length, 0);
  const client = runs.reduce((a, r) => a + r.clientCpu, 0) / n;
  const server = runs.reduce((a, r) => a + r.serverCpu, 0) / n;
  return `client ${fmt(client, 2)} ms + server ${fmt(server, 2)} ms`;
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stderr: string }> {
  return new Promise((res, rej) => {
    const c = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], env });
    let stderr = '';
    c.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    c.once('error', rej);
    c.once('exit', (code) => res({ code, stderr }));
  });
}

/** R cold processes one after another; latency of each from spawn to exit. */
async function coldRuns(r: number, start: (i: number) => Promise<{ code: number | null; stderr: string }>): Promise<RunResult> {
  const lat: number[] = [];
  for (let i = 0; i < r; i++) {
    const s = performance.now();
    const res = await start(i);
    lat.push(performance.now() - s);
    if (res.code !== 0) throw new Error(`cold run ${i} exited with ${res.code}: ${res.stderr.trim()}`);
  }
  const total = lat.reduce((a, b) => a + b, 0) / 1000;
  lat.sort((a, b) => a - b);
  return { perSec: r / total, p50: pct(lat, 50), p99: pct(lat, 99), n: r };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'signet-bench-keyless-'));
  const { child, url } = await spawnServe(join(dir, 'srv'), ['--dev-oidc']);
  const rows: string[][] = [];
  const ratios: string[] = [];
  try {
    const signingConfigPath = join(dir, 'srv', 'signing_config.json');
    const signingConfig = parseSigningConfig(readFileSync(signingConfigPath));
    const data = (i: number): Buffer => Buffer.from(`keyless bench artifact ${i} ${Date.now()}\n`);

    // Warm both clients and the server (module init, JIT of the concurrent paths, connections) with 8
    // concurrent signers of each, alternating, so that neither measured run is a start-up figure: with only
    // a few sequential warm-up signatures, whichever client ran first paid for the server's warm-up.
    await Promise.all(
      Array.from({ length: 8 }, async (_, w) => {
        for (let i = 0; i < 8; i++) {
          await signBundleKeyless({ token: await devToken(url, 'bench@example.com'), signingConfig, content: { kind: 'blob', data: data(w * 8 + i) } });
          await sigstore.sign(data(w * 8 + i), {
            fulcioURL: url,
            rekorURL: url,
            tsaServerURL: url,
            identityProvider: { getToken: () => devToken(url, 'bench@example.com') },
            retry: 0,
          });
        }
      }),
    );

    for (const conc of CONC) {
      const signetOne = async (i: number): Promise<void> => {
        const token = await devToken(url, `signer${i % conc}@example.com`);
        const r = await signBundleKeyless({ token, signingConfig, content: { kind: 'blob', data: data(i) } });
        if (r.tlogEntries.length !== 1 || r.timestamps.length !== 1) throw new Error('bundle without its log entry or timestamp');
      };
      const sigstoreOne = async (i: number): Promise<void> => {
        const bundle = await sigstore.sign(data(i), {
          fulcioURL: url,
          rekorURL: url,
          tsaServerURL: url,
          identityProvider: { getToken: () => devToken(url, `signer${i % conc}@example.com`) },
          retry: 0,
        });
        if (bundle.verificationMaterial.tlogEntries.length !== 1 || bundle.verificationMaterial.timestampVerificationData?.rfc3161Timestamps.length !== 1) {
          throw new Error('sigstore bundle without its log entry or timestamp');
        }
      };
      const a: Samples[] = [];
      const b: Samples[] = [];
      const perRound: string[] = [];
      for (let r = 0; r < ROUNDS; r++) {
        const n = Math.floor(N / ROUNDS) + (r < N % ROUNDS ? 1 : 0);
        const first = Math.floor((r * N) / ROUNDS);
        const runA = async (): Promise<void> => {
          note(`signet library, ${conc} concurrent signers, ${n} signatures${ROUNDS > 1 ? ` (round ${r + 1}/${ROUNDS})` : ''}…`);
          a.push(await concurrentRun(conc, n, signetOne, first, child.pid));
        };
        const runB = async (): Promise<void> => {
          note(`sigstore package, ${conc} concurrent signers, ${n} signatures${ROUNDS > 1 ? ` (round ${r + 1}/${ROUNDS})` : ''}…`);
          b.push(await concurrentRun(conc, n, sigstoreOne, first, child.pid));
        };
        if (r % 2 === 0) {
          await runA();
          await runB();
        } else {
          await runB();
          await runA();
        }
        const ratio = summarize([a[r]!]).perSec / summarize([b[r]!]).perSec;
        perRound.push(fmt(ratio, 2));
        if (ROUNDS > 1) note(`round ${r + 1}: (a)/(b) throughput ${fmt(ratio, 2)}`);
      }
      const sa = summarize(a);
      const sb = summarize(b);
      rows.push([`(a) Signet library (signBundleKeyless), ${conc} concurrent`, fmt(sa.perSec, 1), fmt(sa.p50, 1), fmt(sa.p99, 1), String(sa.n)]);
      rows.push([`(b) sigstore package (sigstore.sign), ${conc} concurrent`, fmt(sb.perSec, 1), fmt(sb.p50, 1), fmt(sb.p99, 1), String(sb.n)]);
      if (ROUNDS > 1) {
        ratios.push(
          `${conc} concurrent, (a)/(b) throughput by round (alternating which runs first): ${perRound.join(', ')}; over all rounds ${fmt(sa.perSec / sb.perSec, 2)}. ` +
            `CPU per signature: (a) ${cpuPerSignature(a)}; (b) ${cpuPerSignature(b)}`,
        );
      }
    }

    // (c) cold processes. The artifact is a file on disk for both; each writes its bundle to a file.
    if (COLD > 0) await coldRows(url, dir, signingConfigPath, rows);
  } finally {
    await stop(child);
    rmSync(dir, { recursive: true, force: true });
  }

  process.stdout.write(
    `\n## Keyless signing: token → certificate → signature → timestamp → log entry\n\n` +
      `Server: \`signet serve --dev-oidc\` in its own process on 127.0.0.1 (embedded storage; log signature checks on the thread pool when the native addon is built, else in one worker per core). ` +
      `Every signature is a separate signing run: its own token, key and certificate.\n\n` +
      `| run | signatures/s | p50 ms | p99 ms | signatures |\n|---|---:|---:|---:|---:|\n` +
      rows.map((r) => `| ${r.join(' | ')} |`).join('\n') +
      `\n\n${ratios.map((l) => l + '\n\n').join('')}${machineLine()}\n\n`,
  );
}

/** (c): one signature per cold process, `bin/signet sign-blob` beside a script that imports `sigstore`. */
async function coldRows(url: string, dir: string, signingConfigPath: string, rows: string[][]): Promise<void> {
  const artifact = join(dir, 'artifact.txt');
  writeFileSync(artifact, `cold keyless artifact ${Date.now()}\n`);
  const env = { ...process.env, SIGSTORE_ID_TOKEN: '', SIGNET_HOME: join(dir, 'home') };
  note(`cold signet sign-blob × ${COLD}…`);
  const tokens = await Promise.all(Array.from({ length: COLD * 2 }, () => devToken(url, 'cold@example.com')));
  const c1 = await coldRuns(COLD, (i) =>
    run(signetBin, ['sign-blob', '--signing-config', signingConfigPath, '--identity-token', tokens[i]!, '--bundle', join(dir, `signet-${i}.json`), artifact], env),
  );
  rows.push(['(c) cold `bin/signet sign-blob`, one at a time', fmt(c1.perSec, 2), fmt(c1.p50, 0), fmt(c1.p99, 0), String(c1.n)]);

  // The script lives outside the repo, so it names the installed package by absolute URL.
  const sigstoreEntry = pathToFileURL(createRequire(import.meta.url).resolve('sigstore')).href;
  const script = join(dir, 'sign-once.mjs');
  writeFileSync(
    script,
    `import { readFileSync, writeFileSync } from 'node:fs';\n` +
      `import * as sigstore from ${JSON.stringify(sigstoreEntry)};\n` +
      `const [url, token, artifact, out] = process.argv.slice(2);\n` +
      `const bundle = await sigstore.sign(readFileSync(artifact), { fulcioURL: url, rekorURL: url, tsaServerURL: url, identityProvider: { getToken: async () => token }, retry: 0 });\n` +
      `writeFileSync(out, JSON.stringify(bundle));\n`,
  );
  note(`cold sigstore script × ${COLD}…`);
  const c2 = await coldRuns(COLD, (i) => run(process.execPath, [script, url, tokens[COLD + i]!, artifact, join(dir, `sigstore-${i}.json`)], env));
  rows.push(['(c) cold `node sign-once.mjs` (sigstore package), one at a time', fmt(c2.perSec, 2), fmt(c2.p50, 0), fmt(c2.p99, 0), String(c2.n)]);
}

await main();
