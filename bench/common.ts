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
