/**
 * Test harness: a throwaway PostgreSQL on 127.0.0.1 (Debian's postgresql package), in a temp directory,
 * trust auth on loopback only, fsync on (log tests are durability tests). PostgreSQL refuses to run as
 * root, so as root the server runs as the `postgres` system user.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort } from './registry.js';
import { aptInstall } from './apt.js';

export interface RunningPostgres {
  /** postgres://postgres@127.0.0.1:PORT/postgres */
  url: string;
  port: number;
  /** The postmaster's process id (benchmarks read its CPU time and its backends' from /proc). */
  pid: number;
  /** The server's output so far, for failure messages. */
  log(): string;
  stop(): Promise<void>;
}

function findBin(): string {
  const base = '/usr/lib/postgresql';
  const pick = () =>
    existsSync(base)
      ? readdirSync(base)
          .filter((v) => existsSync(join(base, v, 'bin', 'postgres')))
          .sort((a, b) => Number(b) - Number(a))[0]
      : undefined;
  let v = pick();
  if (!v) {
    aptInstall('postgresql');
    v = pick();
    if (!v) throw new Error('PostgreSQL is missing after apt-get install postgresql');
  }
  return join(base, v, 'bin');
}

function postgresUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('postgres:'));
  if (!line) throw new Error('running as root but there is no postgres user to run PostgreSQL as');
  const f = line.split(':');
  return { uid: Number(f[2]), gid: Number(f[3]) };
}

async function ready(url: string): Promise<boolean> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 });
  c.on('error', () => undefined);
  try {
    await c.connect();
    await c.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await c.end().catch(() => undefined);
  }
}

export async function startPostgres(): Promise<RunningPostgres> {
  const bin = findBin();
  const user = postgresUser();
  const dir = mkdtempSync(join(tmpdir(), 'signet-pg-'));
  const data = join(dir, 'data');
  if (user) chownSync(dir, user.uid, user.gid);
  const asUser = user ? { uid: user.uid, gid: user.gid } : {};
  // --no-sync only skips syncing initdb's own files; the running server keeps fsync on.
  execFileSync(join(bin, 'initdb'), ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8', '--locale=C'], { ...asUser, stdio: 'pipe', cwd: dir });
  writeFileSync(join(data, 'pg_hba.conf'), 'host all all 127.0.0.1/32 trust\n');
  if (user) chownSync(join(data, 'pg_hba.conf'), user.uid, user.gid);
  const port = await freePort();
  let out = '';
  const child: ChildProcess = spawn(
    join(bin, 'postgres'),
    ['-D', data, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', `unix_socket_directories=${dir}`, '-c', 'fsync=on', '-c', 'max_connections=100'],
    { ...asUser, cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  const stop = async () => {
    process.removeListener('exit', killOnExit);
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGINT'); // fast shutdown
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 30_000;
  while (!(await ready(url))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`PostgreSQL did not start:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { url, port, pid: child.pid!, log: () => out, stop };
}
