/** The router skips routes by their literal prefix before running their patterns: the same routes match. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Router, routePrefixForTest } from '../../../src/server/http/router.js';

test('router: the literal prefix of a pattern stops at the first thing that is not a fixed character', () => {
  assert.equal(routePrefixForTest(/^\/api\/v2\/(?<path>tile\/.+)$/), '/api/v2/');
  assert.equal(routePrefixForTest(/^\/api\/v1\/log\/entries\/(?<id>[^/]+)$/), '/api/v1/log/entries/');
  assert.equal(routePrefixForTest(/^\/a\.b\/c$/), '/a.b/c');
  assert.equal(routePrefixForTest(/^\/ab?c/), '/a');
  assert.equal(routePrefixForTest(/^\/a\/+b/), '/a');
  assert.equal(routePrefixForTest(/^\/x\d+/), '/x');
  assert.equal(routePrefixForTest(/^\/a{2}/), '/');
  assert.equal(routePrefixForTest(/^\/(a|b)/), '/');
  assert.equal(routePrefixForTest(/\/a/), '');
  assert.equal(routePrefixForTest(/^\/ABC/i), '');
});

test('router: routes match as registered, first match first; other methods are reported for 405', () => {
  const r = new Router();
  const h = (name: string) => () => ({ status: 200, body: name });
  r.add('GET', 'exact', '/api/v1/log', h('exact'));
  r.add('GET', 'tile', /^\/api\/v2\/(?<path>tile\/.+)$/, h('tile'));
  r.add('POST', 'entries', '/api/v2/log/entries', h('entries'));
  r.add('GET', 'optional', /^\/ab?c$/, h('optional'));
  r.add('GET', 'ci', /^\/ABC$/i, h('ci'));
  assert.equal(r.match('GET', '/api/v1/log').route?.name, 'exact');
  assert.equal(r.match('GET', '/api/v1/log/').route, undefined);
  const t = r.match('GET', '/api/v2/tile/0/x001/002');
  assert.equal(t.route?.name, 'tile');
  assert.deepEqual(t.params, { path: 'tile/0/x001/002' });
  assert.equal(r.match('HEAD', '/api/v2/tile/entries/001').route?.name, 'tile');
  assert.deepEqual(r.match('GET', '/api/v2/log/entries').otherMethods, ['POST']);
  assert.equal(r.match('GET', '/ac').route?.name, 'optional');
  assert.equal(r.match('GET', '/abc').route?.name, 'optional');
  assert.equal(r.match('GET', '/abbc').route, undefined);
  assert.equal(r.match('GET', '/ABC').route?.name, 'ci');
  assert.equal(r.match('GET', '/aBc').route?.name, 'ci');
});

test('server: a fast route answers canonical GET/HEAD targets before the router, with the same errors, metrics and log lines; other targets go the general way', async () => {
  const { createHttpServer, listenOn, Metrics } = await import('../../../src/server/http/server.js');
  const { HttpError } = await import('../../../src/server/http/router.js');
  const { SignetError } = await import('../../../src/errors.js');
  const seen: string[] = [];
  const r = new Router();
  r.add('GET', '/t/...', /^\/t\/(?<rest>.+)$/, (ctx) => {
    seen.push(`general ${ctx.params.rest}`);
    return { status: 200, headers: { 'content-type': 'text/plain' }, body: `general ${ctx.params.rest}` };
  });
  r.addFast('/t/...', '/t/', (rest) => {
    if (rest === 'decline') return undefined;
    seen.push(`fast ${rest}`);
    if (rest === 'missing') throw new HttpError(404, 'no such thing');
    if (rest === 'broken') return Promise.reject(new SignetError('STORAGE_CORRUPT', 'log file /x/y does not match'));
    if (rest === 'async') return Promise.resolve({ status: 200, headers: { 'content-type': 'text/plain' }, body: 'async answer' });
    return { status: 200, headers: { 'content-type': 'text/plain', 'x-fast': '1' }, body: `fast ${rest}` };
  });
  const lines: string[] = [];
  const metrics = new Metrics();
  const server = createHttpServer({ router: r, metrics, log: { write: (l: string) => lines.push(l) } });
  const addr = await listenOn(server, '127.0.0.1', 0, '127.0.0.1:0');
  const base = `http://127.0.0.1:${addr.port}`;
  try {
    let res = await fetch(`${base}/t/a/b`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-fast'), '1');
    assert.equal(await res.text(), 'fast a/b');
    res = await fetch(`${base}/t/async`);
    assert.equal(await res.text(), 'async answer');
    res = await fetch(`${base}/t/a/b`, { method: 'HEAD' });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-length'), String('fast a/b'.length));
    assert.equal(await res.text(), '');
    // A query or percent-encoding, a declined target and other methods take the general path.
    assert.equal(await (await fetch(`${base}/t/q?x=1`)).text(), 'general q');
    assert.equal(await (await fetch(`${base}/t/%61b`)).text(), 'general ab');
    assert.equal(await (await fetch(`${base}/t/decline`)).text(), 'general decline');
    assert.equal((await fetch(`${base}/t/a`, { method: 'POST' })).status, 405);
    // Errors: the same JSON bodies; a 500 hides its cause from the client and logs it.
    res = await fetch(`${base}/t/missing`);
    assert.equal(res.status, 404);
    assert.deepEqual(await res.json(), { code: 404, message: 'no such thing' });
    res = await fetch(`${base}/t/broken`);
    assert.equal(res.status, 500);
    assert.deepEqual(await res.json(), { code: 500, message: 'internal server error' });
    assert.deepEqual(seen, ['fast a/b', 'fast async', 'fast a/b', 'general q', 'general ab', 'general decline', 'fast missing', 'fast broken']);
    await new Promise((resolve) => setImmediate(resolve));
    const logged = lines.join('').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const errorLine = logged.find((l) => l.level === 'error')!;
    assert.equal(errorLine.route, '/t/...');
    assert.match(String(errorLine.error), /\/x\/y/);
    const requests = logged.filter((l) => l.level === undefined);
    assert.deepEqual(
      requests.map((l) => [l.method, l.path, l.route, l.status]),
      [
        ['GET', '/t/a/b', '/t/...', 200],
        ['GET', '/t/async', '/t/...', 200],
        ['HEAD', '/t/a/b', '/t/...', 200],
        ['GET', '/t/q', '/t/...', 200],
        ['GET', '/t/%61b', '/t/...', 200],
        ['GET', '/t/decline', '/t/...', 200],
        ['POST', '/t/a', 'unmatched', 405],
        ['GET', '/t/missing', '/t/...', 404],
        ['GET', '/t/broken', '/t/...', 500],
      ],
    );
    const m = metrics.render();
    assert.match(m, /signet_http_requests_total\{method="GET",route="\/t\/...",status="200"\} 5\n/);
    assert.match(m, /signet_http_requests_total\{method="HEAD",route="\/t\/...",status="200"\} 1\n/);
    assert.match(m, /signet_http_requests_total\{method="GET",route="\/t\/...",status="500"\} 1\n/);
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
});

test('server: a plain path is routed without the URL parser, with the path, ctx.url and log line the parser gives; other targets are parsed', async () => {
  const { createHttpServer, listenOn } = await import('../../../src/server/http/server.js');
  const { request } = await import('node:http');
  const r = new Router();
  const handler = (ctx: import('../../../src/server/http/router.js').RequestContext) => ({
    status: 200,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ path: ctx.path, pathname: ctx.url.pathname, search: ctx.url.search, param: ctx.params.x ?? null }),
  });
  r.add('POST', '/p/...', /^\/p\/(?<x>.+)$/, handler);
  r.add('GET', '/p/...', /^\/p\/(?<x>.+)$/, handler);
  const lines: string[] = [];
  const server = createHttpServer({ router: r, log: { write: (l: string) => lines.push(l) } });
  const addr = await listenOn(server, '127.0.0.1', 0, '127.0.0.1:0');
  // Raw targets (fetch would normalise them first).
  const send = (method: string, target: string): Promise<{ status: number; body: string }> =>
    new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: addr.port, method, path: target, agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode!, body }));
      });
      req.on('error', reject);
      req.end(method === 'POST' ? '{}' : undefined);
    });
  try {
    const targets = ['/p/a-b_c/D9', '/p/./x', '/p/a/../b', '//host/p/y', '/p/%7Ez', '/p/q?k=v', '/p/a//b'];
    for (const method of ['POST', 'GET']) {
      for (const target of targets) {
        const got = await send(method, target);
        const url = new URL(target, 'http://localhost');
        const path = decodeURIComponent(url.pathname);
        assert.equal(got.status, 200, `${method} ${target}`);
        assert.deepEqual(JSON.parse(got.body), { path, pathname: url.pathname, search: url.search, param: path.slice(3) }, `${method} ${target}`);
      }
    }
    assert.equal((await send('POST', '/q/x')).status, 404);
    await new Promise((resolve) => setImmediate(resolve));
    const logged = lines.join('').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(
      logged.slice(0, targets.length).map((l) => [l.method, l.path, l.route, l.status, typeof l.ms, typeof l.time]),
      targets.map((t) => ['POST', new URL(t, 'http://localhost').pathname, '/p/...', 200, 'number', 'string']),
    );
    assert.ok(logged.every((l) => !Number.isNaN(Date.parse(String(l.time)))));
    assert.deepEqual(Object.keys(logged[0]!), ['time', 'method', 'path', 'route', 'status', 'ms']);
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
});
