/** PKCS#11 URIs (RFC 7512) as cosign parses and prints them. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { formatPkcs11Uri, parsePkcs11Uri } from '../../src/keys/index.js';
import { SignetError } from '../../src/errors.js';

const M = '/usr/lib/softhsm/libsofthsm2.so';

describe('parsePkcs11Uri', () => {
  test('path and query attributes, percent-decoded; ; and & both separate', () => {
    const u = parsePkcs11Uri(`pkcs11:token=My%20Token;slot-id=7;id=%01%ff;object=key+1?module-path=${M}&pin-value=12%3B4&pin-source=file:/p`, {});
    assert.deepEqual(
      { ...u, id: u.id?.toString('hex') },
      { modulePath: M, token: 'My Token', slotId: 7, id: '01ff', object: 'key+1', pin: '12;4', pinSource: 'file:/p' },
    );
    assert.equal(parsePkcs11Uri(`pkcs11:token=t&object=o?module-path=${M}`, {}).object, 'o');
  });

  test('the module from COSIGN_PKCS11_MODULE_PATH when the URI has none', () => {
    assert.equal(parsePkcs11Uri('pkcs11:token=t;object=o', { COSIGN_PKCS11_MODULE_PATH: M }).modulePath, M);
    assert.equal(parsePkcs11Uri('pkcs11:token=t;object=o?module-path=/other.so', { COSIGN_PKCS11_MODULE_PATH: M }).modulePath, '/other.so');
  });

  test('what cosign refuses, refused with the reason', () => {
    for (const [uri, re] of [
      ['pkcs11:object=o?module-path=/m.so', /one of token and slot-id/],
      ['pkcs11:token=t?module-path=/m.so', /one of object and id/],
      ['pkcs11:token=t;object=o', /module-path or COSIGN_PKCS11_MODULE_PATH/],
      ['pkcs11:token=t;object=o?module-path=m.so', /not an absolute path/],
      ['pkcs11:slot-id=-1;object=o?module-path=/m.so', /slot-id "-1" is not a number/],
      ['pkcs11:token=t;object=%4?module-path=/m.so', /bad percent-encoding/],
      ['pkcs11:token=t;token=u;object=o?module-path=/m.so', /"token" is given twice/],
      ['pkcs11:token;object=o?module-path=/m.so', /not name=value/],
      ['pkcs12:token=t', /does not start with pkcs11:/],
    ] as const) {
      assert.throws(() => parsePkcs11Uri(uri, {}), (e: unknown) => e instanceof SignetError && e.code === 'USAGE' && re.test(e.message), uri);
    }
  });

  test('a PIN never appears in an error', () => {
    assert.throws(() => parsePkcs11Uri('pkcs11:object=o?module-path=/m.so&pin-value=hunter2', {}), (e: Error) => !e.message.includes('hunter2') && /pin-value=\*\*\*/.test(e.message));
  });
});

describe('formatPkcs11Uri', () => {
  test('cosign\'s order and encoding, and it parses back', () => {
    const uri = formatPkcs11Uri({ modulePath: M, token: 'a b', slotId: 3, id: Buffer.from([1, 0xab]), object: 'k;1', pin: '1&2' });
    assert.equal(uri, `pkcs11:token=a%20b;slot-id=3;id=%01%ab;object=k%3b1?module-path=${M}&pin-value=1%262`);
    const back = parsePkcs11Uri(uri, {});
    assert.equal(back.token, 'a b');
    assert.equal(back.object, 'k;1');
    assert.equal(back.pin, '1&2');
    assert.equal(back.id?.toString('hex'), '01ab');
  });
});
