/**
 * cosignature/v1 (c2sp.org/tlog-cosignature) against a verifier written here from the spec, not from
 * src/tlog/cosignature.ts: key ID, signed message, line layout; and the module's verifier against lines
 * made here.
 */
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, sign, verify } from 'node:crypto';
import { describe, test } from 'node:test';
import { isSignetError } from '../../src/errors.js';
import { cosignatureLine, cosignerVkey, parseVkey, verifyCosignatures } from '../../src/tlog/cosignature.js';
import { signCheckpoint } from '../../src/tlog/index.js';

const CHECKPOINT = 'example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n';
const witness = generateKeyPairSync('ed25519');
const raw = (k: typeof witness.publicKey): Buffer => k.export({ format: 'der', type: 'spki' }).subarray(12);

/** The spec's key ID: SHA-256(name || "\n" || 0x04 || 32-byte key)[:4]. */
function specKeyId(name: string, key: typeof witness.publicKey): Buffer {
  return createHash('sha256').update(Buffer.concat([Buffer.from(name + '\n'), Buffer.of(4), raw(key)])).digest().subarray(0, 4);
}

function specLine(text: string, name: string, time: bigint, key = witness.privateKey, pub = witness.publicKey): string {
  const msg = Buffer.from(`cosignature/v1\ntime ${time}\n${text}`);
  const ts = Buffer.alloc(8);
  ts.writeBigUInt64BE(time);
  return `\u2014 ${name} ${Buffer.concat([specKeyId(name, pub), ts, sign(null, msg, key)]).toString('base64')}\n`;
}

describe('cosignature/v1', () => {
  test('a line Signet writes verifies under the spec: key ID, big-endian time, Ed25519 over the header, time line and checkpoint', () => {
    const line = cosignatureLine(CHECKPOINT, 'witness.example.com/w1', witness.privateKey, 1679315147);
    const m = /^\u2014 (\S+) (\S+)\n$/.exec(line);
    assert.ok(m, line);
    assert.equal(m[1], 'witness.example.com/w1');
    const body = Buffer.from(m[2]!, 'base64');
    assert.equal(body.length, 4 + 8 + 64);
    assert.deepEqual(body.subarray(0, 4), specKeyId('witness.example.com/w1', witness.publicKey));
    assert.equal(body.readBigUInt64BE(4), 1679315147n);
    const msg = Buffer.from(`cosignature/v1\ntime 1679315147\n${CHECKPOINT}`);
    assert.ok(verify(null, msg, witness.publicKey, body.subarray(12)));
  });

  test('lines made from the spec verify; the log\'s own and unknown witnesses\' lines are ignored', () => {
    const log = generateKeyPairSync('ed25519');
    const logNote = signCheckpoint({ origin: 'example.com/behind-the-sofa', size: 20852163, rootHash: Buffer.from('CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=', 'base64') }, 'example.com/behind-the-sofa', log.privateKey);
    const other = generateKeyPairSync('ed25519');
    const note = logNote + specLine(CHECKPOINT, 'w1', 1700000000n) + specLine(CHECKPOINT, 'w2', 1700000001n, other.privateKey, other.publicKey);
    assert.deepEqual(verifyCosignatures(note, [{ name: 'w1', publicKey: witness.publicKey }]), [{ name: 'w1', timestamp: 1700000000 }]);
    // A trusted name with another key: its key ID differs, so the line is not that witness's.
    assert.deepEqual(verifyCosignatures(note, [{ name: 'w2', publicKey: witness.publicKey }]), []);
  });

  test('a cosignature over other text, or with another time, is refused', () => {
    const line = specLine(CHECKPOINT, 'w1', 1700000000n);
    const tampered = CHECKPOINT.replace('20852163', '20852164');
    assert.throws(() => verifyCosignatures(`${tampered}\n${line}`, [{ name: 'w1', publicKey: witness.publicKey }]), (e) => isSignetError(e, 'TLOG'));
    const body = Buffer.from(line.split(' ')[2]!.trim(), 'base64');
    body.writeBigUInt64BE(1700000001n, 4);
    const retimed = `\u2014 w1 ${body.toString('base64')}\n`;
    assert.throws(() => verifyCosignatures(`${CHECKPOINT}\n${retimed}`, [{ name: 'w1', publicKey: witness.publicKey }]), /invalid cosignature by w1/);
  });

  test('vkeys: a witness key round-trips (also when its base64 holds a "+"); a wrong key ID or type is refused', () => {
    for (let i = 0; i < 20; i++) {
      const k = generateKeyPairSync('ed25519').publicKey;
      assert.deepEqual(parseVkey(cosignerVkey('w', k)).key, raw(k));
    }
    const vkey = cosignerVkey('witness.example.com/w1', witness.publicKey);
    const v = parseVkey(vkey);
    assert.equal(v.name, 'witness.example.com/w1');
    assert.equal(v.type, 4);
    assert.deepEqual(v.key, raw(witness.publicKey));
    assert.deepEqual(v.keyId, specKeyId('witness.example.com/w1', witness.publicKey));
    const [n, id] = vkey.split('+');
    const k = vkey.slice(n!.length + id!.length + 2);
    assert.throws(() => parseVkey(`${n}+00000000+${k}`), /key ID does not match/);
    assert.throws(() => parseVkey(`${n}+${id}`), /expected <name>\+<key ID>\+<key>/);
    const rsaType = Buffer.from(k!, 'base64');
    rsaType[0] = 0xff;
    assert.throws(() => parseVkey(`${n}+${id}+${rsaType.toString('base64')}`), /not supported/);
  });
});
