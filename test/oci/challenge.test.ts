import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseChallenge } from '../../src/oci/index.js';

test('WWW-Authenticate challenges', () => {
  assert.deepEqual(parseChallenge('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/ubuntu:pull,push"'), {
    scheme: 'bearer',
    params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/ubuntu:pull,push' },
  });
  assert.deepEqual(parseChallenge('Basic realm="Registry Realm"'), { scheme: 'basic', params: { realm: 'Registry Realm' } });
  assert.deepEqual(parseChallenge('bearer realm=http://127.0.0.1:1/token, service=svc'), { scheme: 'bearer', params: { realm: 'http://127.0.0.1:1/token', service: 'svc' } });
  assert.deepEqual(parseChallenge('Bearer realm="a\\"b", error="insufficient_scope"'), { scheme: 'bearer', params: { realm: 'a"b', error: 'insufficient_scope' } });
  assert.equal(parseChallenge(null).scheme, 'none');
  assert.equal(parseChallenge('Negotiate abc').scheme, 'none');
  assert.equal(parseChallenge('').scheme, 'none');
});
