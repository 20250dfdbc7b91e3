/**
 * The HTTP front under connection floods: a cap derived from the descriptor limit (more connections
 * are closed on arrival while the open ones keep writing to the log), and header timeouts enforced on
 * time against a slowloris.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { defaultMaxConnections, descriptorLimit } from '../../../src/server/http/limits.js';
import { startServer } from '../../../src/server/serve.js';
import { ecKey, hashedRekordV1 } from '../../rekor/fixtures.js';

const main = join(resolve(dirname(fileURLToPath(import.meta.url)), '../../../..'), 'dist/src/cli/main.js');
const dir = mkdtempSync(join(tmpdir(), 'signet-limits-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A connection to 127.0.0.1:port that records whether (and when) the server closed it. */
interface Conn {
  socket: Socket;
  closed: boolean;
  closedAt?: number;
  data: string;
}

function open(port: number): Promise<Conn> {
  return new Promise((res, rej) => {
    const socket = connect(port, '127.0.0.1');
    const c: Conn = { socket, closed: false, data: '' };
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => (c.data += d));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      c.closed = true;
      c.closedAt = Date.now();
    });
    socket.once('connect', () => res(c));
    socket.once('error', rej);
  });
}

/** One HTTP/1.1 request on an open keep-alive connection; resolves with status and body. */
function request(c: Conn, method: string, path: string, body = ''): Promise<{ status: number; body: string }> {
  c.data = '';
  return new Promise((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`no answer to ${method} ${path}: ${JSON.stringify(c.data.slice(0, 200))}`)), 20_000);
    const check = (): void => {
      const end = c.data.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = c.data.slice(0, end);
      const len = Number(/\r\ncontent-length: *([0-9]+)/i.exec(head)?.[1] ?? 0);
      if (c.data.length < end + 4 + len) return;
      clearTimeout(timer);
      c.socket.off('data', check);
      res({ status: Number(head.split(' ')[1]), body: c.data.slice(end + 4, end + 4 + len) });
    };
    c.socket.on('data', check);
    c.socket.once('close', () => {
      clearTimeout(timer);
      rej(new Error(`connection closed during ${method} ${path}`));
    });
    c.socket.write(
      `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n` +
        (body ? `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` : '') +
        `\r\n${body}`,
    );
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('connection limit', () => {
  it('derives the default cap from the descriptor limit, keeping 10% (at least 128) for the server', () => {
    const text = 'Limit                     Soft Limit           Hard Limit           Units     \nMax open files            20000                20000                files     \n';
    assert.equal(descriptorLimit(text), 20000);
    assert.equal(descriptorLimit('Max open files            unlimited            unlimited            files\n'), undefined);
    assert.equal(descriptorLimit('nothing here'), undefined);
    assert.equal(defaultMaxConnections(20000), 18000);
    assert.equal(defaultMaxConnections(256), 128);
    assert.equal(defaultMaxConnections(1024), 896);
    assert.equal(defaultMaxConnections(100), 1);
    // Unknown limit (not Linux): the common default of 1024 is assumed.
    assert.equal(defaultMaxConnections(undefined), 896);
    if (process.platform === 'linux') assert.ok(descriptorLimit()! > 0);
  });

  const hasPrlimit = process.platform === 'linux' && spawnSync('prlimit', ['--version']).status === 0;
  it('under a low descriptor limit, refuses connections over the cap and keeps writing on an open one', { skip: !hasPrlimit && 'needs prlimit (util-linux)' }, async () => {
    // 256 descriptors: the default cap is 128 connections, leaving the rest to the log and SQLite.
    const child: ChildProcess = spawn('prlimit', ['--nofile=256', process.execPath, main, 'serve', '--data-dir', join(dir, 'capped'), '--listen', '127.0.0.1:0'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const conns: Conn[] = [];
    try {
      const url = await new Promise<string>((res, rej) => {
        let out = '';
        child.stdout!.on('data', (d: Buffer) => {
          out += d.toString();
          const m = /Listening on (http:\/\/\S+)/.exec(out);
          if (m) res(m[1]!);
        });
        child.once('exit', (code) => rej(new Error(`serve exited with ${code}: ${stderr}`)));
      });
      const port = Number(new URL(url).port);
      // Connected first, so accepted first; used only after the flood (its header timeout is 10 s).
      const keep = await open(port);

      // 300 idle connections more than the cap allows (and more than the descriptors left).
      for (let i = 0; i < 300; i++) conns.push(await open(port).catch(() => ({ socket: null as never, closed: true, data: '' })));
      await sleep(1500);
      const held = conns.filter((c) => !c.closed).length;
      assert.ok(held <= 127, `${held} idle connections held open; the cap is 128 including the keep-alive one`);
      assert.ok(held >= 100, `only ${held} idle connections held: the cap should admit up to 127`);

      // The open connection still answers and writes to the log (SQLite, WAL flush), keeping alive.
      assert.equal((await request(keep, 'GET', '/ping')).status, 200);
      const w = await request(keep, 'POST', '/api/v1/log/entries', JSON.stringify(hashedRekordV1(ecKey())));
      assert.equal(w.status, 201, w.body);
      assert.equal((await request(keep, 'GET', '/api/v1/log')).status, 200);

      // A new connection is closed on arrival, without an answer.
      const late = await open(port);
      const t0 = Date.now();
      late.socket.write('GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
      for (let i = 0; i < 50 && !late.closed; i++) await sleep(100);
      assert.ok(late.closed, 'a connection over the cap was left open');
      assert.ok(late.closedAt! - t0 < 5000);
      assert.equal(late.data, '');

      const metrics = await request(keep, 'GET', '/metrics');
      const refused = Number(/^signet_http_connections_refused_total (\d+)$/m.exec(metrics.body)?.[1]);
      assert.ok(refused >= 300 - 127, metrics.body.slice(-400));
      assert.match(stderr, /connection limit of 128 reached/);
      keep.socket.destroy();
    } finally {
      for (const c of conns) c.socket?.destroy();
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        // A server starved of descriptors may not finish a graceful stop; the test must not hang on it.
        const force = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(force);
      }
    }
  });

  it('--max-connections sets the cap; a bad value is a usage error', async () => {
    const bad = spawnSync(process.execPath, [main, 'serve', '--data-dir', join(dir, 'bad'), '--listen', '127.0.0.1:0', '--max-connections', '0'], { encoding: 'utf8' });
    assert.equal(bad.status, 2);
    assert.equal(bad.stderr, 'Error: --max-connections must be a positive integer, got "0"\n');
    // A cap above what the descriptor limit leaves room for is allowed, with a warning.
    const limit = descriptorLimit();
    if (limit !== undefined && limit < 999_000_000) {
      const child = spawn(process.execPath, [main, 'serve', '--data-dir', join(dir, 'high'), '--listen', '127.0.0.1:0', '--max-connections', '999000000'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      try {
        await new Promise<void>((res, rej) => {
          const timer = setTimeout(() => rej(new Error(`no warning: ${stderr}`)), 20_000);
          child.stderr!.on('data', () => {
            if (stderr.includes('\n') && /WARNING: --max-connections/.test(stderr)) {
              clearTimeout(timer);
              res();
            }
          });
          child.once('exit', (code) => rej(new Error(`serve exited with ${code}: ${stderr}`)));
        });
        assert.match(stderr, new RegExp(`^WARNING: --max-connections 999000000 leaves too few of the process's ${limit} file descriptors`, 'm'));
      } finally {
        if (child.exitCode === null && child.signalCode === null) {
          const exited = new Promise((r) => child.once('exit', r));
          child.kill('SIGTERM');
          await exited;
        }
      }
    }
    const srv = await startServer({ dataDir: join(dir, 'three'), listen: '127.0.0.1:0', requestLog: false, maxConnections: 3 });
    const conns: Conn[] = [];
    try {
      const port = Number(new URL(srv.url).port);
      for (let i = 0; i < 6; i++) conns.push(await open(port));
      await sleep(500);
      assert.equal(conns.filter((c) => !c.closed).length, 3);
      const zero = startServer({ dataDir: join(dir, 'zero'), listen: '127.0.0.1:0', requestLog: false, maxConnections: 0 });
      await assert.rejects(
        zero.then(async (s) => {
          await s.close();
          return s;
        }),
        /positive integer/,
      );
    } finally {
      for (const c of conns) c.socket.destroy();
      await srv.close();
    }
  });
});

describe('header timeout', () => {
  it('cuts off a slowloris (one header byte a second) within the header timeout plus a small margin', async () => {
    const srv = await startServer({ dataDir: join(dir, 'slow'), listen: '127.0.0.1:0', requestLog: false, headersTimeoutMs: 2000 });
    let timer: NodeJS.Timeout | undefined;
    let c: Conn | undefined;
    try {
      c = await open(Number(new URL(srv.url).port));
      const t0 = Date.now();
      const headers = 'GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ' + 'a'.repeat(100);
      let i = 0;
      c.socket.write(headers[i++]!);
      timer = setInterval(() => {
        if (!c!.closed && i < headers.length) c!.socket.write(headers[i++]!);
      }, 1000);
      // Node's own default would check only every 30 s; the bound is the timeout plus 3 s.
      for (let n = 0; n < 100 && !c.closed; n++) await sleep(100);
      assert.ok(c.closed, `the slow connection was still open after ${Date.now() - t0} ms`);
      const held = c.closedAt! - t0;
      assert.ok(held >= 1500 && held <= 5000, `held ${held} ms against a 2000 ms header timeout`);
      assert.match(c.data, /^HTTP\/1\.1 408 /);
    } finally {
      clearInterval(timer);
      c?.socket.destroy();
      await srv.close();
    }
  });
});
