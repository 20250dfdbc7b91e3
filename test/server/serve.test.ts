/**
 * `signet serve` as the whole private Sigstore: log, CA, TSA and the dev OIDC issuer on one port; the
 * trusted root and signing config it writes; tokens refused without an issuer; and the `sigstore`
 * package signing a blob keyless through our CA + log + TSA, verified by @sigstore/verify under our
 * trusted_root.json.
 */
import assert from 'node:assert/strict';
import { createHash, createPublicKey, generateKeyPairSync, sign as cryptoSign } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { type AddressInfo, createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { bundleFromJSON } from '@sigstore/bundle';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { Verifier, toSignedEntity, toTrustMaterial } from '@sigstore/verify';
import * as sigstore from 'sigstore';
import { SignetError } from '../../src/errors.js';
import { NO_ISSUER_MESSAGE, type RunningServer, isLoopbackHost, startServer } from '../../src/server/serve.js';
import { parseSigningConfig, selectServices } from '../../src/sigstore/signing-config.js';
import { verifyTimestamp } from '../../src/sigstore/timestamp.js';
import { parseTrustedRoot } from '../../src/sigstore/trustedroot.js';
import { leafHash, rootFromInclusionProof, verifySET } from '../../src/tlog/index.js';
import { ecKey, hashedRekordV1 } from '../rekor/fixtures.js';
import { devToken } from '../helpers/dev-token.js';

const dirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'signet-serve-'));
  dirs.push(d);
  return d;
}
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});


/** POST /api/v2/signingCert with a fresh P-256 key and its proof of possession over `subject`. */
async function requestCert(url: string, token: string, subject: string): Promise<Response> {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return fetch(url + '/api/v2/signingCert', {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({
      publicKeyRequest: {
        publicKey: { algorithm: 'ECDSA', content: publicKey.export({ format: 'pem', type: 'spki' }).toString() },
        proofOfPossession: cryptoSign('sha256', Buffer.from(subject), privateKey).toString('base64'),
      },
    }),
  });
}

function sigstoreVerifier(trustedRootPath: string, timestamps: number): Verifier {
  const root = TrustedRoot.fromJSON(JSON.parse(readFileSync(trustedRootPath, 'utf8')));
  const trust = toTrustMaterial(root);
  // No CT log behind our CA: SCTs cannot be demanded.
  return new Verifier(trust, { tlogThreshold: 1, ctlogThreshold: 0, timestampThreshold: timestamps });
}

describe('signet serve with --dev-oidc', () => {
  let srv: RunningServer;
  let dir: string;
  before(async () => {
    dir = tmp();
    srv = await startServer({ dataDir: dir, listen: '127.0.0.1:0', requestLog: false, devOidc: true });
  });
  after(() => srv.close());

  it('answers log, CA, TSA and OIDC routes on one port', async () => {
    const get = async (p: string): Promise<Response> => fetch(srv.url + p);
    assert.equal(await (await get('/ping')).text(), 'pong');
    assert.equal((await get('/api/v1/log')).status, 200);
    const cfg = (await (await get('/api/v2/configuration')).json()) as { issuers: { issuerUrl: string; issuerType: string }[] };
    assert.deepEqual(cfg.issuers.map((i) => [i.issuerUrl, i.issuerType]), [
      [srv.url + '/oidc', 'email'],
      [srv.url + '/oidc/kubernetes', 'kubernetes'],
      [srv.url + '/oidc/spiffe', 'spiffe'],
      [srv.url + '/oidc/gitlab', 'gitlab-pipeline'],
      [srv.url + '/oidc/buildkite', 'buildkite-job'],
    ]);
    const bundle = (await (await get('/api/v2/trustBundle')).json()) as { chains: { certificates: string[] }[] };
    assert.equal(bundle.chains[0]!.certificates.length, 2);
    const chain = await get('/api/v1/timestamp/certchain');
    assert.equal(chain.headers.get('content-type'), 'application/pem-certificate-chain');
    assert.match(await chain.text(), /BEGIN CERTIFICATE/);
    const disc = (await (await get('/oidc/.well-known/openid-configuration')).json()) as { issuer: string; jwks_uri: string };
    assert.equal(disc.issuer, srv.url + '/oidc');
    assert.equal((await fetch(disc.jwks_uri)).status, 200);
    // A service route keeps its method table: GET on a POST-only path is 405, not a 404 or a handler call.
    assert.equal((await get('/api/v2/signingCert')).status, 405);
  });

  it('writes trusted_root.json listing the log, the CA and the TSA (no CT log), accepted by both parsers', () => {
    const text = readFileSync(srv.trustedRootPath, 'utf8');
    const doc = JSON.parse(text) as Record<string, { uri?: string; baseUrl?: string }[]>;
    assert.equal(doc.tlogs!.length, 1);
    assert.equal(doc.tlogs![0]!.baseUrl, srv.url);
    assert.equal(doc.certificateAuthorities!.length, 1);
    assert.equal(doc.certificateAuthorities![0]!.uri, srv.url);
    assert.equal(doc.timestampAuthorities!.length, 1);
    assert.equal(doc.timestampAuthorities![0]!.uri, srv.url + '/api/v1/timestamp');
    assert.deepEqual(doc.ctlogs, []);
    const ours = parseTrustedRoot(text);
    assert.ok(ours.tlogs[0]!.logId.equals(srv.log.logId));
    assert.equal(ours.certificateAuthorities.length, 1);
    assert.equal(ours.timestampAuthorities.length, 1);
    const trust = toTrustMaterial(TrustedRoot.fromJSON(JSON.parse(text)));
    assert.equal(trust.certificateAuthorities.length, 1);
    assert.equal(trust.timestampAuthorities.length, 1);
    assert.equal(trust.tlogs.length, 1);
    assert.equal(trust.ctlogs.length, 0);
  });

  it('writes signing_config.json naming CA, dev OIDC issuer, Rekor v1 and the TSA', () => {
    const cfg = parseSigningConfig(readFileSync(srv.signingConfigPath));
    assert.deepEqual(cfg.rekorTlogUrls.map((s) => [s.url, s.majorApiVersion]), [[srv.url, 1]]);
    const sel = selectServices(cfg);
    assert.equal(sel.ca, srv.url);
    assert.equal(sel.oidc, srv.url + '/oidc');
    assert.deepEqual(sel.tlogs, [{ url: srv.url, majorApiVersion: 1 }]);
    assert.deepEqual(sel.tsas, [srv.url + '/api/v1/timestamp']);
  });

  it('names the new log after the public host, so sigstore-js accepts its checkpoints', () => {
    assert.equal(srv.log.origin, `127.0.0.1 - ${srv.log.treeId}`);
  });

  it('issues a certificate for a dev token and refuses a bad proof or a wrong audience', async () => {
    const token = await devToken(srv.url, 'alice@example.com');
    const ok = await requestCert(srv.url, token, 'alice@example.com');
    assert.equal(ok.status, 200, await ok.clone().text());
    const body = (await ok.json()) as { signedCertificateEmbeddedSct: { chain: { certificates: string[] } } };
    assert.equal(body.signedCertificateEmbeddedSct.chain.certificates.length, 3);

    const wrongProof = await requestCert(srv.url, token, 'mallory@example.com');
    assert.equal(wrongProof.status, 400);
    assert.match(((await wrongProof.json()) as { message: string }).message, /proof of possession/);

    const otherAud = await devToken(srv.url, 'alice@example.com', { audience: 'not-sigstore' });
    const refused = await requestCert(srv.url, otherAud, 'alice@example.com');
    assert.equal(refused.status, 401);
    assert.match(((await refused.json()) as { message: string }).message, /wrong_audience|audience/);
  });

  it('the TSA answers a JSON timestamp request with a response that verifies under the trusted root', async () => {
    const signature = Buffer.from('some signature bytes');
    const r = await fetch(srv.url + '/api/v1/timestamp', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ artifactHash: createHash('sha256').update(signature).digest('base64'), hashAlgorithm: 'sha256', certificates: true }),
    });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-type'), 'application/timestamp-reply');
    const der = Buffer.from(await r.arrayBuffer());
    const root = parseTrustedRoot(readFileSync(srv.trustedRootPath, 'utf8'));
    const v = verifyTimestamp(der, { signature, authorities: root.timestampAuthorities as never });
    assert.ok(Math.abs(v.time.getTime() - Date.now()) < 60_000);
    assert.throws(() => verifyTimestamp(der, { signature: Buffer.from('other'), authorities: root.timestampAuthorities as never }), /other data/);
    const bad = await fetch(srv.url + '/api/v1/timestamp', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'x' });
    assert.equal(bad.status, 415);
  });

  it('sigstore-js signs a blob keyless through our CA, log and TSA; its verifier accepts it under our trusted root', async () => {
    const payload = Buffer.from(`keyless artifact ${Date.now()}`);
    const token = await devToken(srv.url, 'builder@example.com');
    const serialized = await sigstore.sign(payload, {
      fulcioURL: srv.url,
      rekorURL: srv.url,
      tsaServerURL: srv.url,
      identityProvider: { getToken: async () => token },
      retry: 0,
    });
    const bundle = bundleFromJSON(serialized);
    assert.equal(bundle.verificationMaterial.tlogEntries.length, 1);
    assert.equal(bundle.verificationMaterial.timestampVerificationData?.rfc3161Timestamps.length, 1);
    const verifier = sigstoreVerifier(srv.trustedRootPath, 1);
    const policy = { subjectAlternativeName: 'builder@example.com', extensions: { issuer: srv.url + '/oidc' } };
    const signer = verifier.verify(toSignedEntity(bundle, payload), policy);
    assert.ok(signer.identity);
    assert.throws(() => verifier.verify(toSignedEntity(bundle, Buffer.from('tampered')), policy));
    assert.throws(() => verifier.verify(toSignedEntity(bundle, payload), { ...policy, subjectAlternativeName: 'someone@example.com' }), /identity|SAN|subject/i);
    assert.throws(() => verifier.verify(toSignedEntity(bundle, payload), { ...policy, extensions: { issuer: 'https://accounts.example.com' } }), /issuer|extension/i);
  });
});

describe('signet serve under concurrent writes', () => {
  it('verifies submissions in the worker pool and answers every one with a proof that checks against its checkpoint', async () => {
    const srv = await startServer({ dataDir: tmp(), listen: '127.0.0.1:0', requestLog: false, verifyWorkers: 2 });
    try {
      const key = ecKey();
      const bodies = Array.from({ length: 300 }, () => JSON.stringify(hashedRekordV1(key)));
      // One bad signature among them is refused without disturbing the others.
      const bad = JSON.parse(bodies[0]!) as { spec: { signature: { content: string } } };
      bad.spec.signature.content = JSON.parse(bodies[1]!).spec.signature.content;
      const all = [...bodies, JSON.stringify(bad)];
      const answers = await Promise.all(
        all.map(async (b) => {
          const r = await fetch(srv.url + '/api/v1/log/entries', { method: 'POST', headers: { 'content-type': 'application/json' }, body: b });
          return { status: r.status, json: (await r.json()) as Record<string, any> };
        }),
      );
      assert.equal(answers.at(-1)!.status, 400);
      const logKey = createPublicKey(await (await fetch(srv.url + '/api/v1/log/publicKey')).text());
      const indexes = new Set<number>();
      for (const a of answers.slice(0, -1)) {
        assert.equal(a.status, 201);
        const e = Object.values(a.json)[0] as {
          body: string;
          integratedTime: number;
          logID: string;
          logIndex: number;
          verification: { signedEntryTimestamp: string; inclusionProof: { hashes: string[]; rootHash: string; treeSize: number } };
        };
        // The SETs are signed by the pool's workers: each must be the log key's ECDSA signature over its own entry.
        const set = Buffer.from(e.verification.signedEntryTimestamp, 'base64');
        assert.equal(set[0], 0x30, 'an ASN.1 DER ECDSA signature');
        verifySET({ body: e.body, integratedTime: e.integratedTime, logID: e.logID, logIndex: e.logIndex }, set, logKey);
        assert.throws(() => verifySET({ body: e.body, integratedTime: e.integratedTime, logID: e.logID, logIndex: e.logIndex + 1 }, set, logKey));
        const p = e.verification.inclusionProof;
        const root = rootFromInclusionProof(leafHash(Buffer.from(e.body, 'base64')), e.logIndex, p.treeSize, p.hashes.map((h) => Buffer.from(h, 'hex')));
        assert.equal(Buffer.from(root).toString('hex'), p.rootHash);
        indexes.add(e.logIndex);
      }
      assert.equal(indexes.size, bodies.length);
    } finally {
      await srv.close();
    }
  });
});

describe('signet serve without an OIDC issuer', () => {
  it('starts the CA but refuses every token with a 401 that says how to configure one; no /oidc routes', async () => {
    const withDev = await startServer({ dataDir: tmp(), listen: '127.0.0.1:0', requestLog: false, devOidc: true });
    const plain = await startServer({ dataDir: tmp(), listen: '127.0.0.1:0', requestLog: false });
    try {
      const token = await devToken(withDev.url, 'alice@example.com');
      const r = await requestCert(plain.url, token, 'alice@example.com');
      assert.equal(r.status, 401);
      assert.match(r.headers.get('content-type') ?? '', /application\/json/);
      const body = (await r.json()) as { code: number; message: string };
      assert.equal(body.code, 16);
      assert.ok(body.message.endsWith(NO_ISSUER_MESSAGE), body.message);
      assert.equal((await fetch(plain.url + '/oidc/token', { method: 'POST', body: '{"email":"a@b.co"}' })).status, 404);
      const cfg = parseSigningConfig(readFileSync(plain.signingConfigPath));
      assert.deepEqual(cfg.oidcUrls, []);
      assert.deepEqual(((await (await fetch(plain.url + '/api/v2/configuration')).json()) as { issuers: unknown[] }).issuers, []);
    } finally {
      await withDev.close();
      await plain.close();
    }
  });

  it('trusts the issuers given in oidcIssuers (here: another server\'s dev issuer)', async () => {
    const issuer = await startServer({ dataDir: tmp(), listen: '127.0.0.1:0', requestLog: false, devOidc: true });
    const ca = await startServer({
      dataDir: tmp(),
      listen: '127.0.0.1:0',
      requestLog: false,
      oidcIssuers: { issuers: [issuer.devIssuer!.issuerConfig], metaIssuers: [] },
    });
    try {
      const token = await devToken(issuer.url, 'bob@example.com');
      assert.equal((await requestCert(ca.url, token, 'bob@example.com')).status, 200);
    } finally {
      await issuer.close();
      await ca.close();
    }
  });
});

describe('signet serve options', () => {
  it('--rekor-api-version 2 lists v1 and v2, and clients then pick v2', async () => {
    const srv = await startServer({ dataDir: tmp(), listen: '127.0.0.1:0', requestLog: false, rekorApiVersion: 2 });
    try {
      const cfg = parseSigningConfig(readFileSync(srv.signingConfigPath));
      assert.deepEqual(cfg.rekorTlogUrls.map((s) => s.majorApiVersion).sort(), [1, 2]);
      assert.deepEqual(selectServices(cfg).tlogs, [{ url: srv.url, majorApiVersion: 2 }]);
    } finally {
      await srv.close();
    }
  });

  it('--public-url goes into both files and names the log; a restart keeps origin, keys and start time', async () => {
    const dir = tmp();
    const opts = { dataDir: dir, listen: '127.0.0.1:0', requestLog: false as const, publicUrl: 'https://sigstore.example.com/' };
    const a = await startServer(opts);
    const originA = a.log.origin;
    const rootA = readFileSync(a.trustedRootPath, 'utf8');
    await a.close();
    assert.equal(a.url, 'https://sigstore.example.com');
    assert.equal(originA, `sigstore.example.com - ${a.log.treeId}`);
    const doc = JSON.parse(rootA) as { tlogs: { baseUrl: string }[]; timestampAuthorities: { uri: string }[] };
    assert.equal(doc.tlogs[0]!.baseUrl, 'https://sigstore.example.com');
    assert.equal(doc.timestampAuthorities[0]!.uri, 'https://sigstore.example.com/api/v1/timestamp');
    assert.equal(selectServices(parseSigningConfig(readFileSync(a.signingConfigPath))).ca, 'https://sigstore.example.com');

    // Served under another name later: the stored origin stays (checkpoints already handed out name it).
    const b = await startServer({ ...opts, publicUrl: 'http://127.0.0.1:9' });
    try {
      assert.equal(b.log.origin, originA);
      const rootB = JSON.parse(readFileSync(b.trustedRootPath, 'utf8')) as typeof doc & { tlogs: { publicKey: unknown }[]; certificateAuthorities: unknown[] };
      const before = JSON.parse(rootA) as typeof rootB;
      assert.deepEqual(rootB.tlogs[0]!.publicKey, before.tlogs[0]!.publicKey);
      assert.deepEqual(
        (rootB.certificateAuthorities[0] as { certChain: unknown }).certChain,
        (before.certificateAuthorities[0] as { certChain: unknown }).certChain,
      );
      assert.equal(rootB.tlogs[0]!.baseUrl, 'http://127.0.0.1:9');
    } finally {
      await b.close();
    }
    // An explicit origin is still checked strictly.
    await assert.rejects(startServer({ ...opts, origin: 'other - 1' }), (e: unknown) => e instanceof SignetError && /has origin/.test(e.message));
  });

  it('refuses a bad --public-url in one line, before touching the data dir', async () => {
    for (const [u, re] of [
      ['not a url', /is not a URL/],
      ['ftp://x.example', /http\(s\)/],
      ['http://h.example/?q=1', /query or fragment/],
      ['http://user:pw@h.example', /credentials/],
    ] as const) {
      const never = join(tmp(), 'never');
      await assert.rejects(
        startServer({ dataDir: never, listen: '127.0.0.1:0', requestLog: false, publicUrl: u }),
        (e: unknown) => e instanceof SignetError && e.code === 'USAGE' && re.test(e.message) && !e.message.includes('\n'),
      );
      assert.equal(existsSync(never), false);
    }
  });
});

/** A start that should have failed: if it did not, the server is closed before the assertion fails. */
async function closedIfStarted(p: Promise<RunningServer>): Promise<RunningServer> {
  const s = await p;
  await s.close();
  return s;
}

describe('signet serve hardening', () => {
  it('refuses --dev-oidc on a non-loopback listen address or public URL unless explicitly overridden, before touching the data dir', async () => {
    for (const [listen, publicUrl] of [
      ['0.0.0.0:0', undefined],
      [':0', undefined],
      ['[::]:0', undefined],
      ['192.0.2.1:0', undefined],
      ['127.0.0.1:0', 'https://sigstore.example.com'],
    ] as const) {
      const never = join(tmp(), 'never');
      await assert.rejects(
        closedIfStarted(startServer({ dataDir: never, listen, requestLog: false, devOidc: true, ...(publicUrl ? { publicUrl } : {}) })),
        (e: unknown) => e instanceof SignetError && e.code === 'USAGE' && /--dev-oidc-insecure-any-address/.test(e.message) && !e.message.includes('\n'),
      );
      assert.equal(existsSync(never), false, `${listen} ${publicUrl}`);
    }
    for (const host of ['127.0.0.1', '127.1.2.3', 'localhost', '[::1]']) assert.ok(isLoopbackHost(host.replace(/^\[|\]$/g, '')) && isLoopbackHost(host), host);
    for (const host of ['0.0.0.0', '::', '', '10.0.0.1', 'example.com', '128.0.0.1', 'localhost.example.com']) assert.ok(!isLoopbackHost(host), host);

    // The override starts it anyway (on every interface; only loopback is contacted here).
    const srv = await startServer({ dataDir: tmp(), listen: '0.0.0.0:0', publicUrl: 'http://127.0.0.1:1', requestLog: false, devOidc: true, devOidcInsecureAnyAddress: true });
    try {
      assert.ok(srv.devIssuer);
    } finally {
      await srv.close();
    }
  });

  it('refuses dev token requests that came through a proxy with a 403 JSON answer', async () => {
    const srv = await startServer({ dataDir: tmp(), listen: '127.0.0.1:0', requestLog: false, devOidc: true });
    try {
      for (const [name, value] of [
        ['forwarded', 'for=192.0.2.60;proto=https'],
        ['x-forwarded-for', '192.0.2.60'],
        ['x-forwarded-host', 'sigstore.example.com'],
        ['x-real-ip', '192.0.2.60'],
        ['x-forwarded-proto', 'https'],
        ['via', '1.1 proxy.example'],
      ]) {
        const r = await fetch(srv.url + '/oidc/token', { method: 'POST', headers: { 'content-type': 'application/json', [name]: value }, body: '{"email":"a@example.com"}' });
        assert.equal(r.status, 403, name);
        assert.match(r.headers.get('content-type') ?? '', /application\/json/);
        const body = (await r.json()) as { code: number; message: string };
        assert.equal(body.code, 7);
        assert.ok(body.message.includes(`${name} header`), body.message);
      }
      // Without one, the same loopback client gets its token.
      assert.ok(await devToken(srv.url, 'a@example.com'));
    } finally {
      await srv.close();
    }
  });

  it('builds a write\'s Location from the public URL (or the listen address), never from the Host header', async () => {
    const post = (url: string, body: string): Promise<{ status: number; location: string | undefined }> =>
      new Promise((res, rej) => {
        const req = httpRequest(url + '/api/v1/log/entries', { method: 'POST', headers: { host: 'evil.example', 'content-type': 'application/json' } }, (r) => {
          r.resume();
          r.on('end', () => res({ status: r.statusCode!, location: r.headers.location }));
        });
        req.on('error', rej);
        req.end(body);
      });
    const plain = await startServer({ dataDir: tmp(), listen: '127.0.0.1:0', requestLog: false });
    const behind = await startServer({ dataDir: tmp(), listen: '127.0.0.1:0', requestLog: false, publicUrl: 'https://sigstore.example.com/prefix' });
    try {
      const body = JSON.stringify(hashedRekordV1(ecKey()));
      const a = await post(plain.url, body);
      assert.equal(a.status, 201);
      assert.match(a.location ?? '', new RegExp(`^${plain.url.replace(/[.]/g, '\\.')}/api/v1/log/entries/[0-9a-f]{80}$`));
      const dup = await post(plain.url, body);
      assert.equal(dup.status, 409);
      assert.equal(dup.location, a.location);
      const b = await post(`http://127.0.0.1:${behind.port}`, body);
      assert.equal(b.status, 201);
      assert.match(b.location ?? '', /^https:\/\/sigstore\.example\.com\/prefix\/api\/v1\/log\/entries\/[0-9a-f]{80}$/);
    } finally {
      await plain.close();
      await behind.close();
    }
  });

  it('on a busy port fails before creating any key or file: an empty data dir stays empty, a missing one missing', async () => {
    const busy = createNetServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
    const port = (busy.address() as AddressInfo).port;
    try {
      const empty = tmp();
      const missing = join(tmp(), 'missing');
      for (const dataDir of [empty, missing]) {
        await assert.rejects(
          closedIfStarted(startServer({ dataDir, listen: `127.0.0.1:${port}`, requestLog: false, devOidc: true })),
          (e: unknown) => e instanceof SignetError && e.code === 'IO' && e.message === `cannot listen on 127.0.0.1:${port}: address already in use`,
        );
      }
      assert.deepEqual(readdirSync(empty), []);
      assert.equal(existsSync(missing), false);
    } finally {
      busy.close();
    }
  });
});
