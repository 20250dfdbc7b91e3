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
