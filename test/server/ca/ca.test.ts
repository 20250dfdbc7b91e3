import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign as nodeSign, X509Certificate, type KeyObject, type webcrypto } from 'node:crypto';
import { mkdtempSync, readdirSync, statSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCa, LEAF_VALIDITY_MS, type CertificateAuthority } from '../../../src/server/ca/index.js';
import { x509 } from '../../../src/server/ca/x509.js';
import { OidcVerifier, parseOidcConfig, SIGSTORE_OID } from '../../../src/server/oidc/index.js';
import { isSignetError } from '../../../src/errors.js';
import { encryptPrivateKey } from '../../../src/keys/encrypted.js';
import { FakeIssuer, RouteHost, githubWorkflowClaims } from '../oidc/helpers.js';

const tmp = (): string => mkdtempSync(join(tmpdir(), 'signet-ca-'));
const pemOf = (k: KeyObject): string => (k.type === 'public' ? k : createPublicKey(k)).export({ type: 'spki', format: 'pem' }).toString();
type CryptoKeyPair = webcrypto.CryptoKeyPair;
function hashFor(k: KeyObject): string | null {
  if (k.asymmetricKeyType === 'ed25519') return null;
  const c = k.asymmetricKeyDetails?.namedCurve;
  return c === 'secp384r1' ? 'sha384' : c === 'secp521r1' ? 'sha512' : 'sha256';
}
const pop = (k: KeyObject, v: string): Buffer => nodeSign(hashFor(k), Buffer.from(v), k);

describe('certificate authority', () => {
  let issuer: FakeIssuer;
  let gh: FakeIssuer;
  let oidc: OidcVerifier;
  let dataDir: string;
  let ca: CertificateAuthority;
  let host: RouteHost;

  before(async () => {
    issuer = await FakeIssuer.start();
    gh = await FakeIssuer.start();
    oidc = new OidcVerifier(
      parseOidcConfig({
        OIDCIssuers: { [issuer.url]: { Type: 'email' }, [gh.url]: { Type: 'github-workflow' } },
        MetaIssuers: { 'https://oidc.eks.*.amazonaws.com/id/*': { Type: 'kubernetes' } },
      }),
    );
    dataDir = tmp();
    ca = await createCa({ dataDir, oidc, url: 'http://ca.example' });
    host = await RouteHost.start();
    host.mount(ca.routes);
  });
  after(async () => {
    await issuer.stop();
    await gh.stop();
    await host.stop();
  });

  test('first start writes the chain with private keys mode 0600; a restart loads the same chain', async () => {
    for (const f of ['root-key.pem', 'intermediate-key.pem']) {
      assert.equal(statSync(join(dataDir, 'ca', f)).mode & 0o777, 0o600, f);
      assert.match(readFileSync(join(dataDir, 'ca', f), 'utf8'), /^-----BEGIN PRIVATE KEY-----/);
    }
    const again = await createCa({ dataDir, oidc });
    assert.deepEqual(again.chainPem(), ca.chainPem());
  });

  test('concurrent first starts agree on one CA and leave no temp directories', async () => {
    const d = tmp();
    const cas = await Promise.all([1, 2, 3, 4].map(() => createCa({ dataDir: d, oidc })));
    for (const c of cas) assert.deepEqual(c.chainPem(), cas[0]!.chainPem());
    assert.deepEqual(readdirSync(d), ['ca']);
  });

  test('root and intermediate are profiled as CAs', () => {
    const [inter, root] = ca.chainPem().map((p) => new x509.X509Certificate(p));
    for (const c of [inter!, root!]) {
      const bc = c.getExtension(x509.BasicConstraintsExtension)!;
      assert.ok(bc.ca && bc.critical);
      const ku = c.getExtension(x509.KeyUsagesExtension)!;
      assert.equal(ku.usages, x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign);
    }
    assert.equal(inter!.getExtension(x509.BasicConstraintsExtension)!.pathLength, 0);
    assert.equal((root!.publicKey.algorithm as { namedCurve?: string }).namedCurve, 'P-384');
    assert.deepEqual([...inter!.getExtension(x509.ExtendedKeyUsageExtension)!.usages], [x509.ExtendedKeyUsage.codeSigning]);
  });

  test('an issued email certificate is exactly Fulcio-shaped and chains to the root', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const before = Date.now();
    const out = await ca.issue({ token: await issuer.token(), publicKey: pemOf(publicKey), proofOfPossession: pop(privateKey, 'alice@example.com') });
    assert.equal(out.chain.length, 3);
    assert.equal(out.chain[0], out.certificate);
    const [leaf, inter, root] = out.chain.map((p) => new X509Certificate(p));
    assert.ok(leaf!.verify(inter!.publicKey), 'leaf signed by intermediate');
    assert.ok(inter!.verify(root!.publicKey), 'intermediate signed by root');
    assert.ok(root!.verify(root!.publicKey), 'root self-signed');
    assert.ok(leaf!.checkIssued(inter!));
    assert.ok(leaf!.publicKey.equals(publicKey));

    const c = new x509.X509Certificate(out.certificate);
    assert.equal(c.subject, '', 'empty subject');
    const { X509Certificate: SjsCert } = await import('@sigstore/core');
    assert.ok(SjsCert.parse(out.certificate).issuer.equals(SjsCert.parse(out.chain[1]!).subject), 'issuer bytes = intermediate subject bytes');
    assert.equal(c.notAfter.getTime() - c.notBefore.getTime(), LEAF_VALIDITY_MS);
    assert.ok(c.notBefore.getTime() >= Math.floor(before / 1000) * 1000 - 1000 && c.notBefore.getTime() <= Date.now());
    // 20-byte positive serial
    const serial = Buffer.from(c.serialNumber, 'hex');
    assert.equal(serial.length, 20);
    assert.ok(serial[0]! > 0 && serial[0]! < 0x80);

    const ku = c.getExtension(x509.KeyUsagesExtension)!;
    assert.equal(ku.usages, x509.KeyUsageFlags.digitalSignature);
    assert.equal(ku.critical, true);
    const eku = c.getExtension(x509.ExtendedKeyUsageExtension)!;
    assert.deepEqual([...eku.usages], [x509.ExtendedKeyUsage.codeSigning]);
    const san = c.getExtension(x509.SubjectAlternativeNameExtension)!;
    assert.equal(san.critical, true);
    assert.deepEqual(san.names.toJSON(), [{ type: 'email', value: 'alice@example.com' }]);
    const ski = c.getExtension(x509.SubjectKeyIdentifierExtension)!;
    const interSki = new x509.X509Certificate(out.chain[1]!).getExtension(x509.SubjectKeyIdentifierExtension)!;
    assert.equal(c.getExtension(x509.AuthorityKeyIdentifierExtension)!.keyId, interSki.keyId);
    assert.equal(ski.keyId.length, 40);

    const raw11 = c.getExtension(SIGSTORE_OID.issuer)!;
    assert.equal(Buffer.from(raw11.value).toString(), issuer.url, '1.1 raw bytes');
    assert.equal(raw11.critical, false);
    const v2 = Buffer.from(c.getExtension(SIGSTORE_OID.issuerV2)!.value);
    assert.equal(v2[0], 0x0c);
    assert.equal(v2.subarray(2).toString(), issuer.url);
    const oids = c.extensions.map((e) => e.type);
    assert.deepEqual(
      [...oids].sort(),
      ['2.5.29.15', '2.5.29.37', '2.5.29.14', '2.5.29.35', '2.5.29.17', SIGSTORE_OID.issuer, SIGSTORE_OID.issuerV2].sort(),
      'nothing else: no SCT, no basic constraints',
    );
    assert.equal((c.signatureAlgorithm as { name?: string }).name, 'ECDSA');
  });

  test('GitHub Actions identity: URI SAN and CI extensions in the certificate', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-384' });
    const sub = 'repo:octo/app:ref:refs/heads/main';
    const token = await gh.token(githubWorkflowClaims(sub));
    const out = await ca.issue({ token, publicKey: pemOf(publicKey), proofOfPossession: pop(privateKey, sub) });
    const c = new x509.X509Certificate(out.certificate);
    assert.deepEqual(c.getExtension(x509.SubjectAlternativeNameExtension)!.names.toJSON(), [
      { type: 'url', value: 'https://github.com/octo/app/.github/workflows/r.yml@refs/heads/main' },
    ]);
    assert.equal(Buffer.from(c.getExtension(SIGSTORE_OID.githubWorkflowTrigger)!.value).toString(), 'push');
    assert.equal(Buffer.from(c.getExtension(SIGSTORE_OID.githubWorkflowSha)!.value).toString(), 'abc');
    assert.equal(Buffer.from(c.getExtension(SIGSTORE_OID.runInvocationUri)!.value).subarray(2).toString(), 'https://github.com/octo/app/actions/runs/1/attempts/1');
    assert.equal(Buffer.from(c.getExtension(SIGSTORE_OID.sourceRepositoryUri)!.value).subarray(2).toString(), 'https://github.com/octo/app');
  });

  test('username identities get an otherName SAN (1.3.6.1.4.1.57264.1.7, UTF8String)', async () => {
    const u = await FakeIssuer.start();
    try {
      const v = new OidcVerifier(parseOidcConfig({ OIDCIssuers: { [u.url]: { Type: 'username', SubjectDomain: 'example.com' } } }));
      const uca = await createCa({ dataDir, oidc: v });
      const { privateKey, publicKey } = generateKeyPairSync('ed25519');
      const out = await uca.issue({ token: await u.token({ sub: 'bob' }), publicKey: pemOf(publicKey), proofOfPossession: pop(privateKey, 'bob') });
      const leaf = new X509Certificate(out.certificate);
      assert.match(leaf.subjectAltName ?? '', /othername/i);
      const sanDer = Buffer.from(new x509.X509Certificate(out.certificate).getExtension('2.5.29.17')!.value);
      const oidDer = Buffer.from('060a2b0601040183bf300107', 'hex');
      assert.ok(sanDer.includes(oidDer), 'otherName type id');
      assert.ok(sanDer.includes(Buffer.concat([Buffer.from([0xa0, 0x11, 0x0c, 0x0f]), Buffer.from('bob!example.com')])), 'explicit [0] UTF8String');
    } finally {
      await u.stop();
    }
  });

  test('key types: P-256/384/521, RSA 2048-4096, Ed25519 accepted; RSA 1024, RSA 8192, P-224, secp256k1 refused', async () => {
    const good: KeyObject[] = [
      generateKeyPairSync('ec', { namedCurve: 'P-521' }).privateKey,
      generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey,
      generateKeyPairSync('ed25519').privateKey,
    ];
    for (const k of good) {
      const out = await ca.issue({ token: await issuer.token(), publicKey: pemOf(k), proofOfPossession: pop(k, 'alice@example.com') });
      assert.ok(new X509Certificate(out.certificate).verify(new X509Certificate(out.chain[1]!).publicKey));
    }
    const bad: [KeyObject, RegExp][] = [
      [generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey, /1024/],
      [generateKeyPairSync('ec', { namedCurve: 'secp224r1' }).privateKey, /P-224/],
      [generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).privateKey, /secp256k1/],
      [generateKeyPairSync('rsa', { modulusLength: 4096, publicExponent: 3 }).privateKey, /exponent/],
    ];
    for (const [k, re] of bad) {
      await assert.rejects(
        ca.issue({ token: await issuer.token(), publicKey: pemOf(k), proofOfPossession: Buffer.from('x') }),
        (e: unknown) => isSignetError(e, 'KEY_UNSUPPORTED') && re.test((e as Error).message),
      );
    }
  });

  test('proof of possession must be the submitted key signing the challenge claim', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const token = await issuer.token();
    const cases = [pop(privateKey, 'bob@example.com'), pop(other, 'alice@example.com'), pop(privateKey, 'repo:x'), Buffer.alloc(0)];
    for (const proof of cases) {
      await assert.rejects(ca.issue({ token, publicKey: pemOf(publicKey), proofOfPossession: proof }), (e: unknown) =>
        isSignetError(e) && ['VERIFICATION', 'USAGE'].includes(e.code),
      );
    }
  });

  test('no certificate for a refused token', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const token = await issuer.token({ aud: 'other' });
    await assert.rejects(ca.issue({ token, publicKey: pemOf(publicKey), proofOfPossession: pop(privateKey, 'alice@example.com') }), /wrong_audience/);
  });

  test('CSR: its self-signature is the proof; tampered CSRs are refused', async () => {
    const keys = (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as CryptoKeyPair;
    const csr = await x509.Pkcs10CertificateRequestGenerator.create({ name: 'CN=ignored', keys, signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' } });
    const out = await ca.issue({ token: await issuer.token(), csr: csr.toString('pem') });
    const c = new x509.X509Certificate(out.certificate);
    assert.equal(c.subject, '', 'CSR subject ignored');
    assert.ok(Buffer.from(c.publicKey.rawData).equals(Buffer.from(csr.publicKey.rawData)));
    const der = Buffer.from(csr.rawData);
    // flip a byte inside the signed CertificationRequestInfo (the subject CN 'ignored')
    const at = der.indexOf(Buffer.from('ignored'));
    der[at] ^= 0x01;
    await assert.rejects(ca.issue({ token: await issuer.token(), csr: der }), (e: unknown) => isSignetError(e, 'VERIFICATION'));
    await assert.rejects(ca.issue({ token: await issuer.token(), csr: 'not a csr' }), (e: unknown) => isSignetError(e, 'MALFORMED'));
    const weak = (await crypto.subtle.generateKey({ name: 'RSASSA-PKCS1-v1_5', modulusLength: 1024, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' }, true, ['sign', 'verify'])) as CryptoKeyPair;
    const weakCsr = await x509.Pkcs10CertificateRequestGenerator.create({ name: 'CN=w', keys: weak, signingAlgorithm: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } });
    await assert.rejects(ca.issue({ token: await issuer.token(), csr: weakCsr.toString('pem') }), (e: unknown) => isSignetError(e, 'KEY_UNSUPPORTED'));
  });

  test('given CA key and chain are used; a key that does not match is refused', async () => {
    const dir = join(dataDir, 'ca');
    const chain = readFileSync(join(dir, 'chain.pem'), 'utf8');
    const key = readFileSync(join(dir, 'intermediate-key.pem'), 'utf8');
    const other = tmp();
    const given = await createCa({ dataDir: other, oidc, caKey: key, caCert: chain });
    assert.deepEqual(given.chainPem(), ca.chainPem());
    const rootKey = readFileSync(join(dir, 'root-key.pem'), 'utf8');
    await assert.rejects(createCa({ dataDir: other, oidc, caKey: rootKey, caCert: chain }), (e: unknown) => isSignetError(e, 'KEY_FORMAT'));
    await assert.rejects(createCa({ dataDir: other, oidc, caKey: key }), (e: unknown) => isSignetError(e, 'USAGE'));
    const interOnly = chain.slice(0, chain.indexOf('-----END CERTIFICATE-----') + 26);
    await assert.rejects(createCa({ dataDir: other, oidc, caKey: key, caCert: interOnly }), /self-signed root/);
  });

  test('a CA key in the cosign encrypted format is accepted with its password', async () => {
    const dir = join(dataDir, 'ca');
    const chain = readFileSync(join(dir, 'chain.pem'), 'utf8');
    const key = createPrivateKey(readFileSync(join(dir, 'intermediate-key.pem'), 'utf8'));
    const enc = encryptPrivateKey(key, Buffer.from('pw'), { N: 32768 });
    const given = await createCa({ dataDir: tmp(), oidc, caKey: enc, caCert: chain, caKeyPassword: Buffer.from('pw') });
    assert.deepEqual(given.chainPem(), ca.chainPem());
    await assert.rejects(createCa({ dataDir: tmp(), oidc, caKey: enc, caCert: chain }), (e: unknown) => isSignetError(e, 'KEY_PASSWORD'));
    await assert.rejects(createCa({ dataDir: tmp(), oidc, caKey: enc, caCert: chain, caKeyPassword: Buffer.from('no') }), (e: unknown) => isSignetError(e, 'KEY_PASSWORD'));
  });

  test('trusted root element', () => {
    const t = ca.trustedRootCertificateAuthority();
    assert.deepEqual(t.subject, { organization: 'signet', commonName: 'signet-root' });
    assert.equal(t.uri, 'http://ca.example');
    const ders = ca.chainPem().map((p) => new X509Certificate(p).raw.toString('base64'));
    assert.deepEqual(t.certChain.certificates.map((c) => c.rawBytes), ders);
    assert.ok(!Number.isNaN(Date.parse(t.validFor.start)));
  });

  describe('HTTP API v2 routes', () => {
    async function post(body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: any }> {
      const res = await fetch(`${host.url}/api/v2/signingCert`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      });
      return { status: res.status, json: await res.json() };
    }
    function keyRequest(k: KeyObject, challenge: string): unknown {
      return { publicKey: { algorithm: 'ECDSA', content: pemOf(k) }, proofOfPossession: pop(k, challenge).toString('base64') };
    }
    const k = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;

    test('signingCert with the token in the body and in Authorization: Bearer', async () => {
      const a = await post({ credentials: { oidcIdentityToken: await issuer.token() }, publicKeyRequest: keyRequest(k, 'alice@example.com') });
      assert.equal(a.status, 200);
      assert.equal(a.json.signedCertificateEmbeddedSct.chain.certificates.length, 3);
      const b = await post({ publicKeyRequest: keyRequest(k, 'alice@example.com') }, { authorization: `Bearer ${await issuer.token()}` });
      assert.equal(b.status, 200);
      const csr = await x509.Pkcs10CertificateRequestGenerator.create({
        name: 'CN=x',
        keys: (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-384' }, true, ['sign', 'verify'])) as CryptoKeyPair,
        signingAlgorithm: { name: 'ECDSA', hash: 'SHA-384' },
      });
      const c = await post({ credentials: { oidcIdentityToken: await issuer.token() }, certificateSigningRequest: Buffer.from(csr.toString('pem')).toString('base64') });
      assert.equal(c.status, 200, JSON.stringify(c.json));
    });

    test('refusals are grpc-gateway JSON with 400/401', async () => {
      const now = Math.floor(Date.now() / 1000);
      const cases: [unknown, number, number, RegExp][] = [
        [{ credentials: { oidcIdentityToken: await issuer.token({ exp: now - 600, iat: now - 900, nbf: now - 900 }) }, publicKeyRequest: keyRequest(k, 'alice@example.com') }, 401, 16, /expired/],
        [{ credentials: { oidcIdentityToken: await issuer.token({ aud: 'x' }) }, publicKeyRequest: keyRequest(k, 'alice@example.com') }, 401, 16, /audience/],
        [{ credentials: { oidcIdentityToken: 'garbage' }, publicKeyRequest: keyRequest(k, 'alice@example.com') }, 400, 3, /malformed/],
        [{ publicKeyRequest: keyRequest(k, 'alice@example.com') }, 400, 3, /no identity token/],
        [{ credentials: { oidcIdentityToken: await issuer.token() }, publicKeyRequest: keyRequest(k, 'mallory@example.com') }, 400, 3, /proof of possession/],
        [{ credentials: { oidcIdentityToken: await issuer.token() } }, 400, 3, /exactly one/],
        [{ credentials: { oidcIdentityToken: await issuer.token() }, publicKeyRequest: { publicKey: { content: pemOf(k) }, proofOfPossession: '!!' } }, 400, 3, /base64/],
        ['{not json', 400, 3, /not JSON/],
      ];
      for (const [body, status, code, re] of cases) {
        const r = await post(body);
        assert.equal(r.status, status, JSON.stringify(r.json));
        assert.equal(r.json.code, code);
        assert.match(r.json.message, re);
        assert.deepEqual(r.json.details, []);
      }
    });

    test('trustBundle and configuration', async () => {
      const tb = (await (await fetch(`${host.url}/api/v2/trustBundle`)).json()) as { chains: { certificates: string[] }[] };
      assert.deepEqual(tb.chains[0]!.certificates, ca.chainPem());
      const cfg = (await (await fetch(`${host.url}/api/v2/configuration`)).json()) as { issuers: Record<string, unknown>[] };
      assert.deepEqual(cfg.issuers[0], { issuerUrl: issuer.url, audience: 'sigstore', challengeClaim: 'email', issuerType: 'email' });
      assert.equal(cfg.issuers[1]!.challengeClaim, 'sub');
      assert.equal(cfg.issuers[2]!.wildcardIssuerUrl, 'https://oidc.eks.*.amazonaws.com/id/*');
    });

    test('interop: sigstore-js FulcioSigner obtains a certificate and @sigstore/verify accepts the chain and identity', async () => {
      const { FulcioSigner, MessageSignatureBundleBuilder } = await import('@sigstore/sign');
      const { toSignedEntity, toTrustMaterial, Verifier } = await import('@sigstore/verify');
      const signer = new FulcioSigner({ fulcioBaseURL: host.url, identityProvider: { getToken: () => issuer.token() } });
      const data = Buffer.from('hello, keyless');
      const sig = await signer.sign(data);
      assert.equal(sig.key.$case, 'x509Certificate');
      const certPem = (sig.key as { certificate: string }).certificate;
      const leaf = new X509Certificate(certPem);
      assert.equal(leaf.subjectAltName, 'email:alice@example.com');
      assert.ok(leaf.verify(new X509Certificate(ca.chainPem()[0]!).publicKey));
      // sigstore-js's own certificate parser reads what it needs from our leaf and checks our chain
      const { X509Certificate: SjsCert } = await import('@sigstore/core');
      const sl = SjsCert.parse(certPem);
      const [si, sr] = ca.chainPem().map((p) => SjsCert.parse(p));
      assert.ok(sl.verify(si), 'leaf verifies under the intermediate (sigstore-js)');
      assert.ok(si!.verify(sr), 'intermediate verifies under the root (sigstore-js)');
      assert.ok(sr!.verify(), 'root is self-signed (sigstore-js)');
      assert.equal(sl.extSubjectAltName?.rfc822Name, 'alice@example.com');
      assert.equal(sl.extSubjectAltName?.critical, true);
      assert.ok(sl.extKeyUsage?.digitalSignature);
      assert.equal(sl.extSCT, undefined, 'no SCT: there is no CT log');
      assert.ok(sl.extAuthorityKeyID?.keyIdentifier?.equals(si!.extSubjectKeyID!.keyIdentifier));

      // @sigstore/verify over the certificate path (chain to our trusted-root CA at signing time, SAN
      // and issuer extension policy, artifact signature). There is no log in this test, so the signing
      // time is handed in as a transparency-log timestamp and no tlog entries are checked.
      const bundle = await new MessageSignatureBundleBuilder({ signer, witnesses: [] }).create({ data });
      const trustedRoot = {
        mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
        tlogs: [],
        ctlogs: [],
        timestampAuthorities: [],
        certificateAuthorities: [
          {
            subject: ca.trustedRootCertificateAuthority().subject,
            uri: host.url,
            certChain: { certificates: ca.chainPem().map((p) => ({ rawBytes: new X509Certificate(p).raw })) },
            validFor: { start: new Date(Date.parse(ca.trustedRootCertificateAuthority().validFor.start)) },
          },
        ],
      };
      const verifier = new Verifier(toTrustMaterial(trustedRoot as never), { tlogThreshold: 0, ctlogThreshold: 0, tsaThreshold: 0 });
      const entityAt = (when: Date, payload: Buffer): ReturnType<typeof toSignedEntity> => {
        const e = toSignedEntity(bundle, payload);
        const tlogEntry = { logId: { keyId: Buffer.alloc(32) }, integratedTime: String(Math.floor(when.getTime() / 1000)), inclusionPromise: {} };
        return { ...e, tlogEntries: [], timestamps: [{ $case: 'transparency-log', tlogEntry } as never] };
      };
      const signerId = verifier.verify(entityAt(new Date(), data), { subjectAlternativeName: 'alice@example.com', extensions: { issuer: issuer.url } });
      assert.equal(signerId.identity?.subjectAlternativeName, 'alice@example.com');
      assert.equal(signerId.identity?.extensions?.issuer, issuer.url);
      assert.throws(() => verifier.verify(entityAt(new Date(), data), { subjectAlternativeName: 'bob@example.com', extensions: { issuer: issuer.url } }));
      assert.throws(() => verifier.verify(entityAt(new Date(), data), { subjectAlternativeName: 'alice@example.com', extensions: { issuer: 'https://accounts.example' } }));
      assert.throws(() => verifier.verify(entityAt(new Date(Date.now() + 11 * 60_000), data)), 'signed after the certificate expired');
      assert.throws(() => verifier.verify(entityAt(new Date(), Buffer.from('other data'))), 'wrong artifact');
    });
  });
});
