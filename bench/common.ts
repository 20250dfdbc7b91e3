/** Pieces the benchmarks share: percentiles, number formatting, progress lines, child shutdown, the machine line. */
import { type ChildProcess } from 'node:child_process';
import { cpus, loadavg, totalmem } from 'node:os';

/** The p-th percentile of ascending samples. */
export const pct = (s: number[], p: number): number => s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
export const fmt = (n: number, d = 0): string => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
/** Progress goes to stderr; the results table is the only thing on stdout. */
export const note = (s: string): void => void process.stderr.write(s + '\n');

/** SIGTERM, then wait for the exit (at once when it has exited already). */
export async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const done = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await done;
}

// Other work on the machine skews every figure: the load average at start and end goes into the output.
const loadAtStart = loadavg()[0]!;

/** "Machine: <cpu>, <n> cores, <GiB> RAM, Node <v>, <date>, 1-min load average <start> at start / <end> at end". */
export function machineLine(): string {
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  return (
    `Machine: ${cpu}, ${cpus().length} cores, ${fmt(totalmem() / 2 ** 30, 1)} GiB RAM, Node ${process.version}, ${new Date().toISOString().slice(0, 10)}, ` +
    `1-min load average ${fmt(loadAtStart, 2)} at start / ${fmt(loadavg()[0]!, 2)} at end`
  );
}

/**
 * Drives `bodies` through `urls` (round robin over one undici Pool per server) with `conns` keep-alive
 * connections in total, POSTing each to `path`; every answer must be 201. Entries/s and latency.
 */
export async function writeRun(urls: string[], bodies: string[], conns: number, path = '/api/v1/log/entries'): Promise<{ perSec: number; p50: number; p99: number; accepted: number }> {
  const { Pool } = await import('undici');
  const { performance } = await import('node:perf_hooks');
  const pools = urls.map((u) => new Pool(u, { connections: Math.ceil(conns / urls.length), pipelining: 1 }));
  const lat: number[] = [];
  let next = 0;
  let accepted = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: conns }, async (_, w) => {
      const pool = pools[w % pools.length]!;
      while (next < bodies.length) {
        const body = bodies[next++]!;
        const s = performance.now();
        const r = await pool.request({ path, method: 'POST', body, headers: { 'content-type': 'application/json' } });
        await r.body.dump();
        lat.push(performance.now() - s);
        if (r.statusCode === 201) accepted++;
        else throw new Error(`write answered ${r.statusCode}`);
      }
    }),
  );
  const secs = (performance.now() - t0) / 1000;
  await Promise.all(pools.map((p) => p.close()));
  lat.sort((a, b) => a - b);
  return { perSec: accepted / secs, p50: pct(lat, 50), p99: pct(lat, 99), accepted };
}
