/**
 * serviceFetch, the HTTP layer of the CA, TSA and log clients, against a real node:http server on
 * 127.0.0.1: what reaches the server, redirects, aborts before and after the answer's head, refused
 * connections, and connection reuse.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { serviceFetch } from '../../src/sigstore/http.js';

type Handler = (req: IncomingMessage, body: Buffer, res: ServerResponse) => void;

describe('serviceFetch', () => {
  let server: Server;
  let base: string;
  let handler: Handler;
  let connections = 0;
  const sockets = new Set<Socket>();
  before(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => handler(req, Buffer.concat(chunks), res));
    });
    server.on('connection', (s: Socket) => {
      connections++;
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((r) => server.close(r));
  });

  test('sends method, headers and body once each; answers status, headers and body', async () => {
    let seen: { method?: string; headers?: IncomingMessage['headers']; raw?: string[]; body?: string } = {};
    handler = (req, body, res) => {
      seen = { method: req.method!, headers: req.headers, raw: req.rawHeaders, body: body.toString() };
      res.writeHead(201, { 'content-type': 'application/json', 'x-log-index': '7' }).end('{"ok":true}');
    };
    const r = await serviceFetch(base + '/api', { method: 'POST', headers: { 'Content-Type': 'application/json', Accept: 'application/json' }, body: '{"a":1}' });
    assert.equal(r.status, 201);
    assert.equal(r.ok, true);
    assert.equal(r.headers.get('X-Log-Index'), '7');
    assert.equal(r.headers.get('location'), null);
    assert.equal(await r.text(), '{"ok":true}');
    assert.equal(seen.method, 'POST');
    assert.equal(seen.body, '{"a":1}');
    assert.equal(seen.headers!['content-length'], '7');
    assert.equal(seen.headers!['accept'], 'application/json');
    assert.match(seen.headers!['user-agent']!, /^signet\//);
    assert.equal(seen.headers!['accept-encoding'], undefined, 'nothing asks for compressed answers');
    const names = seen.raw!.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
    assert.equal(new Set(names).size, names.length, `a header sent twice: ${names.join(', ')}`);

    handler = (_req, _body, res) => res.writeHead(500).end(Buffer.from([1, 2, 3]));
    const e = await serviceFetch(base + '/x');
    assert.equal(e.ok, false);
    assert.deepEqual(Buffer.from(await e.arrayBuffer()), Buffer.from([1, 2, 3]));
  });

  test('sequential requests reuse one keep-alive connection', async () => {
    handler = (_req, _body, res) => res.writeHead(200).end('x'.repeat(3000));
    await (await serviceFetch(base + '/warm')).text();
    const before = connections;
    for (let i = 0; i < 5; i++) assert.equal((await (await serviceFetch(base + '/again', { method: 'POST', body: Buffer.from([i]) })).text()).length, 3000);
    assert.equal(connections, before);
  });

  test("redirect 'error' fails; the default follows 307/308 with the body and turns 303 into a GET; loops end", async () => {
    const log: string[] = [];
    handler = (req, body, res) => {
      log.push(`${req.method} ${req.url} ${body.toString()}`);
      if (req.url === '/a') res.writeHead(307, { location: '/b' }).end();
      else if (req.url === '/b') res.writeHead(303, { location: `${base}/c` }).end();
      else if (req.url === '/loop') res.writeHead(308, { location: '/loop' }).end();
      else res.writeHead(200).end('at ' + req.url);
    };
    await assert.rejects(serviceFetch(base + '/a', { method: 'POST', body: 'q', redirect: 'error' }), (e: Error & { cause?: Error }) => e instanceof TypeError && /redirect/.test(e.cause!.message));
    assert.deepEqual(log, ['POST /a q']);
    log.length = 0;
    const r = await serviceFetch(base + '/a', { method: 'POST', body: 'q', headers: { 'content-type': 'text/plain' } });
    assert.equal(await r.text(), 'at /c');
    assert.equal(r.url, `${base}/c`);
    assert.deepEqual(log, ['POST /a q', 'POST /b q', 'GET /c ']);
    log.length = 0;
    await assert.rejects(serviceFetch(base + '/loop'), (e: Error & { cause?: Error }) => e instanceof TypeError && /redirect count/.test(e.cause!.message));
    assert.equal(log.length, 21);
  });

  test('an abort before the head rejects with the signal reason; after it, reading the body does', async () => {
    handler = () => undefined; // never answers
    await assert.rejects(serviceFetch(base + '/silent', { signal: AbortSignal.timeout(100) }), (e: Error) => e.name === 'TimeoutError');
    handler = (_req, _body, res) => {
      res.writeHead(200, { 'content-length': '100' });
      res.write('partial');
    };
    const r = await serviceFetch(base + '/slow', { signal: AbortSignal.timeout(200) });
    assert.equal(r.status, 200);
    await assert.rejects(r.text(), (e: Error) => e.name === 'TimeoutError');
    // Aborted while nobody reads the body yet: the reading that comes later gets the reason.
    const idle = await serviceFetch(base + '/slow', { signal: AbortSignal.timeout(100) });
    await new Promise((r) => setTimeout(r, 300));
    await assert.rejects(idle.text(), (e: Error) => e.name === 'TimeoutError');
    const gone = new AbortController();
    gone.abort();
    await assert.rejects(serviceFetch(base + '/x', { signal: gone.signal }), (e: Error) => e.name === 'AbortError');
  });

  test('cancel() drops the rest of a body', async () => {
    handler = (_req, _body, res) => {
      res.writeHead(200);
      res.write(Buffer.alloc(1000));
    };
    const r = await serviceFetch(base + '/endless');
    let got = 0;
    for await (const chunk of r.body) {
      got += chunk.length;
      await r.body.cancel();
      break;
    }
    assert.ok(got > 0);
  });

  test('a refused connection is a TypeError whose cause names the socket error', async () => {
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as AddressInfo).port;
    await new Promise((r) => probe.close(r));
    await assert.rejects(serviceFetch(`http://127.0.0.1:${port}/`), (e: Error & { cause?: { code?: string } }) => e instanceof TypeError && e.cause?.code === 'ECONNREFUSED');
    await assert.rejects(serviceFetch('ftp://127.0.0.1/'), TypeError);
  });
});
