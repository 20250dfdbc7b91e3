import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultsToPlainHttp, isLoopbackRegistry, parseReference, referenceString, repositoryName, withDigest, withTag } from '../../src/oci/index.js';
import { isSignetError } from '../../src/errors.js';

const D = 'sha256:' + 'a'.repeat(64);

test('good references parse with Docker defaults', () => {
  const table: Array<[string, { registry: string; repository: string; tag?: string; digest?: string }]> = [
    ['busybox', { registry: 'index.docker.io', repository: 'library/busybox', tag: 'latest' }],
    ['busybox:1.36', { registry: 'index.docker.io', repository: 'library/busybox', tag: '1.36' }],
    ['docker.io/busybox', { registry: 'index.docker.io', repository: 'library/busybox', tag: 'latest' }],
    ['docker.io/library/busybox:x', { registry: 'index.docker.io', repository: 'library/busybox', tag: 'x' }],
    ['index.docker.io/foo/bar', { registry: 'index.docker.io', repository: 'foo/bar', tag: 'latest' }],
    ['foo/bar', { registry: 'index.docker.io', repository: 'foo/bar', tag: 'latest' }],
    ['ghcr.io/org/app:v1', { registry: 'ghcr.io', repository: 'org/app', tag: 'v1' }],
    [`ghcr.io/org/app@${D}`, { registry: 'ghcr.io', repository: 'org/app', digest: D }],
    [`ghcr.io/org/app:v1@${D}`, { registry: 'ghcr.io', repository: 'org/app', tag: 'v1', digest: D }],
    ['localhost/app', { registry: 'localhost', repository: 'app', tag: 'latest' }],
    ['localhost:5000/app', { registry: 'localhost:5000', repository: 'app', tag: 'latest' }],
    ['127.0.0.1:5000/a/b/c:tag_1.2-3', { registry: '127.0.0.1:5000', repository: 'a/b/c', tag: 'tag_1.2-3' }],
    ['[::1]:5000/app:v', { registry: '[::1]:5000', repository: 'app', tag: 'v' }],
    ['[::1]/app', { registry: '[::1]', repository: 'app', tag: 'latest' }],
    ['Registry.Example.COM/app', { registry: 'Registry.Example.COM', repository: 'app', tag: 'latest' }],
    ['reg.example/a__b/c-d/e.f--g', { registry: 'reg.example', repository: 'a__b/c-d/e.f--g', tag: 'latest' }],
    [`reg.example/app@sha384:${'b'.repeat(96)}`, { registry: 'reg.example', repository: 'app', digest: `sha384:${'b'.repeat(96)}` }],
    [`reg.example/app@sha512:${'c'.repeat(128)}`, { registry: 'reg.example', repository: 'app', digest: `sha512:${'c'.repeat(128)}` }],
  ];
  for (const [input, want] of table) assert.deepEqual(parseReference(input), want, input);
});

test('bad references fail with REFERENCE and say what is wrong', () => {
  const table: Array<[string, RegExp]> = [
    ['', /empty/],
    [' busybox', /whitespace/],
    ['Busybox', /bad repository component "Busybox"/],
    ['reg.example/App', /bad repository component/],
    ['reg.example/app:', /bad tag ""/],
    ['reg.example/app:-x', /bad tag/],
    [`reg.example/app:${'x'.repeat(129)}`, /bad tag/],
    ['reg.example/app@sha256:abc', /bad digest/],
    [`reg.example/app@sha256:${'A'.repeat(64)}`, /bad digest/],
    [`reg.example/app@md5:${'a'.repeat(32)}`, /bad digest/],
    [`reg.example/app@sha384:${'a'.repeat(64)}`, /bad digest/],
    ['reg.example/', /missing repository/],
    ['reg.example//app', /empty path component/],
    ['reg.example/a/', /empty path component/],
    ['reg.example:99999/app', /bad port "99999"/],
    ['reg.example:0/app', /bad port "0"/],
    ['reg.example:abc/app', /bad port "abc"/],
    ['-bad.example/app', /bad host name/],
    ['[::1/app', /IPv6/],
    ['[zz::1]:5000/app', /bad IPv6/],
    ['reg.example/a..b', /bad repository component/],
    ['reg.example/app@', /bad digest/],
    [`reg.example/${'a'.repeat(260)}`, /longer than 255/],
    ['reg.example/app:tag:more', /bad/],
  ];
  for (const [input, why] of table) {
    assert.throws(
      () => parseReference(input),
      (e: unknown) => isSignetError(e, 'REFERENCE') && why.test(e.message) && !e.message.includes('\n'),
      `${JSON.stringify(input)} should fail with ${why}`,
    );
  }
});

test('formatting and derivation', () => {
  const r = parseReference(`ghcr.io/org/app:v1@${D}`);
  assert.equal(repositoryName(r), 'ghcr.io/org/app');
  assert.equal(referenceString(r), `ghcr.io/org/app:v1@${D}`);
  assert.equal(referenceString(parseReference('busybox')), 'index.docker.io/library/busybox:latest');
  assert.deepEqual(withDigest(r, D), { registry: 'ghcr.io', repository: 'org/app', digest: D });
  assert.deepEqual(withTag(r, 'v2'), { registry: 'ghcr.io', repository: 'org/app', tag: 'v2' });
  assert.throws(() => withDigest(r, 'sha256:zz'), (e: unknown) => isSignetError(e, 'REFERENCE'));
  assert.throws(() => withTag(r, '.x'), (e: unknown) => isSignetError(e, 'REFERENCE'));
  // Round trip: the canonical string parses back to the same reference.
  for (const s of ['localhost:5000/a/b:c', `[::1]:5000/x@${D}`, 'index.docker.io/library/x:latest']) {
    assert.equal(referenceString(parseReference(s)), s);
  }
});

test('loopback registries', () => {
  for (const h of ['localhost', 'localhost:5000', '127.0.0.1', '127.0.0.1:5000', '127.1.2.3:80', '[::1]:5000', '[::1]', 'foo.localhost:1']) {
    assert.equal(isLoopbackRegistry(h), true, h);
  }
  for (const h of ['10.0.0.1:5000', 'ghcr.io', '128.0.0.1', '127.0.0.256', 'localhost.example.com', '[::2]:5000', 'index.docker.io']) {
    assert.equal(isLoopbackRegistry(h), false, h);
  }
});

test('plain HTTP without a flag: go-containerregistry\'s rule (loopback, *.local, RFC 1918)', () => {
  const yes = ['localhost:5000', '127.0.0.1:5000', '[::1]:5000', 'registry.local', 'registry.local:5000', 'foo.localhost:1', '10.1.2.3:5000', '172.16.0.1', '172.31.255.255:443', '192.168.1.10:5000'];
  for (const h of yes) assert.equal(defaultsToPlainHttp(h), true, h);
  const no = ['ghcr.io', 'registry:5000', 'registry.example.com', '172.15.0.1', '172.32.0.1', '192.169.0.1', '11.0.0.1', '8.8.8.8:5000', '127.1:5000', 'local', 'notlocal.com', '10.0.0.256'];
  for (const h of no) assert.equal(defaultsToPlainHttp(h), false, h);
});

test('a URL is not an image reference: one line that says so', () => {
  assert.throws(
    () => parseReference('http://registry.example:5000/app:v1'),
    (e: unknown) =>
      isSignetError(e, 'REFERENCE') &&
      e.message === 'invalid image reference "http://registry.example:5000/app:v1": image references have no scheme: write "registry.example:5000/app:v1" (for a registry that speaks plain HTTP, add --allow-http-registry)',
  );
  assert.throws(
    () => parseReference('https://ghcr.io/app:v1'),
    (e: unknown) => isSignetError(e, 'REFERENCE') && /have no scheme: write "ghcr.io\/app:v1"$/.test(e.message),
  );
  assert.throws(() => parseReference('docker://busybox'), (e: unknown) => isSignetError(e, 'REFERENCE') && /write "busybox"$/.test(e.message));
});
