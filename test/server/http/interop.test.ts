/**
 * sigstore-js as an independent peer: its Rekor v1 and v2 clients (RekorWitness) write entries to our
 * server, and @sigstore/verify accepts the resulting bundles with the trusted_root.json the server wrote.
 * Key-based signer: no Fulcio, no TSA.
 */
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { bundleFromJSON, bundleToJSON } from '@sigstore/bundle';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { DSSEBundleBuilder, MessageSignatureBundleBuilder, RekorWitness, type Signer } from '@sigstore/sign';
import { Verifier, toSignedEntity, toTrustMaterial } from '@sigstore/verify';
import { type RunningServer, startServer } from '../../../src/server/serve.js';

let srv: RunningServer;
let dir: string;

const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const pem = publicKey.export({ format: 'pem', type: 'spki' }).toString();
const hint = createHash('sha256').update(publicKey.export({ format: 'der', type: 'spki' })).digest('base64');
const signer: Signer = {
  sign: async (d: Buffer) => ({ signature: sign('sha256', d, privateKey), key: { $case: 'publicKey', publicKey: pem, hint } }),
};

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'signet-interop-'));
  // The default origin names the public host: sigstore-js only accepts a checkpoint whose signature
  // name occurs in the log's baseUrl.
  srv = await startServer({ dataDir: dir, listen: '127.0.0.1:0', requestLog: false });
  assert.equal(srv.log.origin, `127.0.0.1 - ${srv.log.treeId}`);
});

after(async () => {
  await srv.close();
  rmSync(dir, { recursive: true, force: true });
});

function verifier(timestamps: number): Verifier {
  const root = TrustedRoot.fromJSON(JSON.parse(readFileSync(srv.trustedRootPath, 'utf8')));
  const trust = toTrustMaterial(root, (h: string) => {
    if (h !== hint) throw new Error(`unknown key hint ${h}`);
    return { publicKey, validFor: () => true };
  });
  return new Verifier(trust, { tlogThreshold: 1, ctlogThreshold: 0, timestampThreshold: timestamps });
}

/** Round-trips through JSON as a bundle file would, then verifies; returns the error message or 'ok'. */
function verdict(bundle: unknown, data: Buffer | undefined, timestamps: number): string {
  const json = JSON.parse(JSON.stringify(bundleToJSON(bundle as never)));
  try {
    verifier(timestamps).verify(toSignedEntity(bundleFromJSON(json), data));
    return 'ok';
  } catch (e) {
    return (e as Error).message;
  }
}

describe('sigstore-js against signet serve', () => {
  const data = Buffer.from('interop artifact ' + Date.now());

  it('Rekor v1: hashedrekord bundle verifies (SET + inclusion proof + checkpoint)', async () => {
    const witness = new RekorWitness({ rekorBaseURL: srv.url, majorApiVersion: 1 });
    const bundle = await new MessageSignatureBundleBuilder({ signer, witnesses: [witness] }).create({ data });
    const tle = bundle.verificationMaterial.tlogEntries[0]!;
    assert.equal(tle.kindVersion!.kind, 'hashedrekord');
    assert.ok(tle.inclusionPromise, 'SET present');
    assert.ok(tle.inclusionProof?.checkpoint?.envelope.startsWith(srv.log.origin));
    assert.equal(verdict(bundle, data, 1), 'ok');
    assert.notEqual(verdict(bundle, Buffer.from('other data'), 1), 'ok');
    // Submitting again hits 409; sigstore-js follows Location and gets the same entry.
    const again = await new RekorWitness({ rekorBaseURL: srv.url }).testify({ $case: 'messageSignature', messageSignature: bundle.content.$case === 'messageSignature' ? bundle.content.messageSignature : (undefined as never) }, pem);
    assert.equal(again.tlogEntries[0]!.logIndex, tle.logIndex);
  });

  it('Rekor v1: dsse and intoto bundles verify', async () => {
    const statement = Buffer.from(JSON.stringify({ _type: 'https://in-toto.io/Statement/v1', subject: [{ name: 'a', digest: { sha256: createHash('sha256').update(data).digest('hex') } }], predicateType: 'https://example.com/p', predicate: {} }));
    for (const entryType of ['dsse', 'intoto'] as const) {
      const witness = new RekorWitness({ rekorBaseURL: srv.url, entryType });
      const bundle = await new DSSEBundleBuilder({ signer, witnesses: [witness] }).create({ data: statement, type: 'application/vnd.in-toto+json' });
      assert.equal(bundle.verificationMaterial.tlogEntries[0]!.kindVersion!.kind, entryType);
      assert.equal(verdict(bundle, undefined, 1), 'ok', entryType);
    }
  });

  it('Rekor v2: hashedrekord v0.0.2 bundle verifies (inclusion proof against the checkpoint)', async () => {
    const witness = new RekorWitness({ rekorBaseURL: srv.url, majorApiVersion: 2 });
    const bundle = await new MessageSignatureBundleBuilder({ signer, witnesses: [witness] }).create({ data: Buffer.concat([data, Buffer.from('v2')]) });
    const tle = bundle.verificationMaterial.tlogEntries[0]!;
    assert.equal(tle.kindVersion!.version, '0.0.2');
    assert.equal(tle.integratedTime, '0');
    assert.equal(verdict(bundle, Buffer.concat([data, Buffer.from('v2')]), 0), 'ok');
  });

  it('Rekor v2: the dsseRequestV002 sigstore-js sends is logged and verifies', async () => {
    const witness = new RekorWitness({ rekorBaseURL: srv.url, majorApiVersion: 2 });
    const bundle = await new DSSEBundleBuilder({ signer, witnesses: [witness] }).create({ data: Buffer.from('{"v2":true}'), type: 'application/vnd.in-toto+json' });
    assert.equal(bundle.verificationMaterial.tlogEntries[0]!.kindVersion!.kind, 'dsse');
    assert.equal(verdict(bundle, undefined, 0), 'ok');
  });

  it('with an origin that does not name the host ("signet-log - …") sigstore-js refuses the checkpoint', async () => {
    const d2 = mkdtempSync(join(tmpdir(), 'signet-interop-'));
    const s2 = await startServer({ dataDir: d2, listen: '127.0.0.1:0', requestLog: false, origin: 'signet-log - 42' });
    try {
      const witness = new RekorWitness({ rekorBaseURL: s2.url });
      const bundle = await new MessageSignatureBundleBuilder({ signer, witnesses: [witness] }).create({ data });
      const root = TrustedRoot.fromJSON(JSON.parse(readFileSync(s2.trustedRootPath, 'utf8')));
      const trust = toTrustMaterial(root, () => ({ publicKey, validFor: () => true }));
      assert.throws(() => new Verifier(trust, { tlogThreshold: 1, ctlogThreshold: 0, timestampThreshold: 1 }).verify(toSignedEntity(bundle, data)), /checkpoint signature/);
    } finally {
      await s2.close();
      rmSync(d2, { recursive: true, force: true });
    }
  });

  it('a bundle whose tlog entry was tampered with does not verify', async () => {
    const witness = new RekorWitness({ rekorBaseURL: srv.url });
    const bundle = await new MessageSignatureBundleBuilder({ signer, witnesses: [witness] }).create({ data: Buffer.from('tamper') });
    const json = JSON.parse(JSON.stringify(bundleToJSON(bundle)));
    json.verificationMaterial.tlogEntries[0].inclusionProof.logIndex = String(Number(json.verificationMaterial.tlogEntries[0].inclusionProof.logIndex) + 1);
    assert.notEqual(verdict(bundleFromJSON(json), Buffer.from('tamper'), 1), 'ok');
  });
});
