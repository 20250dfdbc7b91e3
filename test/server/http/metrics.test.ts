import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Metrics } from '../../../src/server/http/metrics.js';

test('request counts and latency histograms are kept per method, route and status', () => {
  const m = new Metrics();
  for (let i = 0; i < 3; i++) m.request('POST', '/api/v1/log/entries', 201, 3);
  m.request('POST', '/api/v1/log/entries', 400, 0.5);
  m.request('GET', '/api/v1/log/entries', 200, 30);
  m.request('GET', 'a "quoted"\\route', 404, 1);
  const text = m.render();
  const line = (re: RegExp): string | undefined => text.split('\n').find((l) => re.test(l));
  assert.equal(line(/^signet_http_requests_total\{method="POST",route="\/api\/v1\/log\/entries",status="201"\}/)?.split(' ').at(-1), '3');
  assert.equal(line(/^signet_http_requests_total\{method="POST",route="\/api\/v1\/log\/entries",status="400"\}/)?.split(' ').at(-1), '1');
  assert.equal(line(/^signet_http_requests_total\{method="GET",route="\/api\/v1\/log\/entries",status="200"\}/)?.split(' ').at(-1), '1');
  assert.equal(line(/^signet_http_requests_total\{method="GET",route="a \\"quoted\\"\\\\route",status="404"\}/)?.split(' ').at(-1), '1');
  // One histogram per route: the 5 requests to /api/v1/log/entries, 2 of them within 2 ms, 4 within 5 ms.
  assert.equal(line(/^signet_http_request_duration_seconds_count\{route="\/api\/v1\/log\/entries"\}/)?.split(' ').at(-1), '5');
  assert.equal(line(/^signet_http_request_duration_seconds_bucket\{route="\/api\/v1\/log\/entries",le="0.002"\}/)?.split(' ').at(-1), '1');
  assert.equal(line(/^signet_http_request_duration_seconds_bucket\{route="\/api\/v1\/log\/entries",le="0.005"\}/)?.split(' ').at(-1), '4');
  assert.equal(text.split('\n').filter((l) => l.startsWith('signet_http_requests_total{')).length, 4);
});
