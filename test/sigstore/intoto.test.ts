import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { isSignetError } from '../../src/errors.js';
import { buildImageStatement, buildStatement, parseStatement, subjectMatches } from '../../src/sigstore/index.js';

const HEX = 'a'.repeat(64);
const OTHER = 'b'.repeat(64);

describe('in-toto statements', () => {
  test("cosign v3's image statement, byte for byte", () => {
    assert.equal(
      buildImageStatement(HEX).toString(),
      `{"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{"sha256":"${HEX}"},"annotations":{}}],"predicateType":"https://sigstore.dev/cosign/sign/v1","predicate":{}}`,
    );
  });
  test('annotations are sorted like protojson map keys', () => {
    const s = buildImageStatement(HEX, { z: '1', a: '2' }).toString();
    assert.ok(s.includes('"annotations":{"a":"2","z":"1"}'));
  });
  test('refuses a digest that is not lowercase sha256 hex', () => {
    assert.throws(() => buildImageStatement('A'.repeat(64)), (e) => isSignetError(e, 'USAGE'));
    assert.throws(() => buildImageStatement('abc'), (e) => isSignetError(e, 'USAGE'));
  });
  test('general statements keep name and digest', () => {
    const s = buildStatement({ type: 'https://in-toto.io/Statement/v0.1', subjects: [{ name: 'f', digest: { sha256: HEX } }], predicateType: 'p', predicate: { x: 1 } });
    assert.equal(s.toString(), `{"_type":"https://in-toto.io/Statement/v0.1","subject":[{"name":"f","digest":{"sha256":"${HEX}"}}],"predicateType":"p","predicate":{"x":1}}`);
    assert.throws(() => buildStatement({ subjects: [], predicateType: 'p', predicate: {} }), (e) => isSignetError(e, 'USAGE'));
  });
});

describe('subjectMatches', () => {
  const st = buildImageStatement(HEX, { env: 'prod', build: '42' });
  test('matches the digest, and required annotations', () => {
    assert.equal(subjectMatches(st, HEX), true);
    assert.equal(subjectMatches(st, HEX.toUpperCase()), true);
    assert.equal(subjectMatches(st, HEX, { env: 'prod' }), true);
    assert.equal(subjectMatches(st, HEX, { env: 'prod', build: '42' }), true);
  });
  test('wrong digest or annotation does not match', () => {
    assert.equal(subjectMatches(st, OTHER), false);
    assert.equal(subjectMatches(st, HEX, { env: 'dev' }), false);
    assert.equal(subjectMatches(st, HEX, { missing: 'x' }), false);
  });
  test('v0.1 statements and multiple subjects', () => {
    const v01 = Buffer.from(JSON.stringify({ _type: 'https://in-toto.io/Statement/v0.1', predicateType: 'p', subject: [{ name: 'x', digest: { sha256: OTHER } }, { name: 'y', digest: { sha256: HEX } }] }));
    assert.equal(subjectMatches(v01, HEX), true);
    assert.equal(subjectMatches(v01, HEX, { a: 'b' }), false);
  });
  test('statements with no predicate (early cosign v3) parse', () => {
    const s = Buffer.from(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{"sha256":"${HEX}"}}],"predicateType":"https://sigstore.dev/cosign/sign/v1"}`);
    assert.equal(subjectMatches(s, HEX), true);
  });
  test('non-statements are MALFORMED', () => {
    const bad = (s: string) => assert.throws(() => subjectMatches(Buffer.from(s), HEX), (e) => isSignetError(e, 'MALFORMED'));
    bad('not json');
    bad('[]');
    bad('{"_type":"https://in-toto.io/Statement/v2","subject":[],"predicateType":"p"}');
    bad('{"_type":"https://in-toto.io/Statement/v1","predicateType":"p"}');
    bad('{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"x"}],"predicateType":"p"}');
    bad('{"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{"sha256":5}}],"predicateType":"p"}');
    bad('{"_type":"https://in-toto.io/Statement/v1","subject":[]}');
  });
  test('parseStatement exposes the predicate', () => {
    assert.deepEqual(parseStatement(buildImageStatement(HEX)).predicate, {});
  });
});
