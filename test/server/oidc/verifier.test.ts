import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { SignJWT } from 'jose';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  OidcError,
  OidcVerifier,
  loadOidcConfig,
  parseOidcConfig,
  principalFromClaims,
  metaIssuerMatches,
  SIGSTORE_OID,
  type OidcConfig,
  type OidcRefusalReason,
  type Principal,
} from '../../../src/server/oidc/index.js';
import { isSignetError } from '../../../src/errors.js';
import { FakeIssuer, newSigningKey } from './helpers.js';

async function refused(p: Promise<unknown>, reason: OidcRefusalReason): Promise<OidcError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof OidcError, `expected OidcError, got ${String(e)}`);
    assert.equal(e.reason, reason, e.message);
    return e;
  }
  assert.fail(`expected refusal (${reason}), token was accepted`);
}

function ext(p: Principal, oid: string): string | undefined {
  return p.extensions.find((e) => e.oid === oid)?.value.toString('latin1');
}

const GITHUB_CLAIMS = {
  sub: 'repo:octo/app:ref:refs/heads/main',
  email: undefined,
  email_verified: undefined,
  job_workflow_ref: 'octo/app/.github/workflows/release.yml@refs/heads/main',
  job_workflow_sha: 'aaaa',
  runner_environment: 'github-hosted',
  repository: 'octo/app',
  repository_id: '123',
  repository_owner: 'octo',
  repository_owner_id: '456',
  repository_visibility: 'public',
  workflow_ref: 'octo/app/.github/workflows/release.yml@refs/heads/main',
  workflow_sha: 'bbbb',
  workflow: 'Release',
  event_name: 'push',
  sha: 'cccc',
  ref: 'refs/heads/main',
  run_id: '789',
  run_attempt: '2',
};

describe('OIDC token verification', () => {
  let email: FakeIssuer;
  let gh: FakeIssuer;
  let verifier: OidcVerifier;
  before(async () => {
    email = await FakeIssuer.start();
    gh = await FakeIssuer.start();
    verifier = new OidcVerifier(
      parseOidcConfig({
        OIDCIssuers: {
          [email.url]: { IssuerURL: email.url, ClientID: 'sigstore', Type: 'email' },
          [gh.url]: { IssuerURL: gh.url, ClientID: 'sigstore', Type: 'github-workflow' },
        },
      }),
      { jwksCooldownMs: 0, clockSkewSeconds: 30 },
    );
  });
  after(async () => {
    await email.stop();
    await gh.stop();
  });

  test('a valid email token becomes an email principal with issuer extensions', async () => {
    const p = await verifier.verify(await email.token());
    assert.equal(p.issuer, email.url);
    assert.equal(p.subject, 'alice@example.com');
    assert.equal(p.sanType, 'email');
    assert.equal(p.challengeClaimValue, 'alice@example.com');
    assert.equal(ext(p, SIGSTORE_OID.issuer), email.url, '1.1 is the raw issuer string');
    const v2 = p.extensions.find((e) => e.oid === SIGSTORE_OID.issuerV2)!.value;
    assert.equal(v2[0], 0x0c, '1.8 is a DER UTF8String');
    assert.equal(v2[1], email.url.length);
    assert.equal(v2.subarray(2).toString(), email.url);
    assert.deepEqual(
      p.extensions.map((e) => e.oid),
      [SIGSTORE_OID.issuer, SIGSTORE_OID.issuerV2],
    );
  });

  test('a GitHub Actions token maps to the workflow URI and the CI claims', async () => {
    const p = await verifier.verify(await gh.token(GITHUB_CLAIMS));
    const wf = 'https://github.com/octo/app/.github/workflows/release.yml@refs/heads/main';
    assert.equal(p.sanType, 'uri');
    assert.equal(p.subject, wf);
    assert.equal(p.challengeClaimValue, GITHUB_CLAIMS.sub);
    const utf8 = (oid: string): string | undefined => {
      const v = p.extensions.find((e) => e.oid === oid)?.value;
      if (!v) return undefined;
      assert.equal(v[0], 0x0c, `${oid} is a UTF8String`);
      return v.subarray(2).toString();
    };
    assert.equal(ext(p, SIGSTORE_OID.githubWorkflowTrigger), 'push');
    assert.equal(ext(p, SIGSTORE_OID.githubWorkflowSha), 'cccc');
    assert.equal(ext(p, SIGSTORE_OID.githubWorkflowName), 'Release');
    assert.equal(ext(p, SIGSTORE_OID.githubWorkflowRepository), 'octo/app');
    assert.equal(ext(p, SIGSTORE_OID.githubWorkflowRef), 'refs/heads/main');
    assert.equal(utf8(SIGSTORE_OID.buildSignerUri), wf);
    assert.equal(utf8(SIGSTORE_OID.buildSignerDigest), 'aaaa');
    assert.equal(utf8(SIGSTORE_OID.runnerEnvironment), 'github-hosted');
    assert.equal(utf8(SIGSTORE_OID.sourceRepositoryUri), 'https://github.com/octo/app');
    assert.equal(utf8(SIGSTORE_OID.sourceRepositoryDigest), 'cccc');
    assert.equal(utf8(SIGSTORE_OID.sourceRepositoryRef), 'refs/heads/main');
    assert.equal(utf8(SIGSTORE_OID.sourceRepositoryIdentifier), '123');
    assert.equal(utf8(SIGSTORE_OID.sourceRepositoryOwnerUri), 'https://github.com/octo');
    assert.equal(utf8(SIGSTORE_OID.sourceRepositoryOwnerIdentifier), '456');
    assert.equal(utf8(SIGSTORE_OID.buildConfigUri), wf);
    assert.equal(utf8(SIGSTORE_OID.buildConfigDigest), 'bbbb');
    assert.equal(utf8(SIGSTORE_OID.buildTrigger), 'push');
    assert.equal(utf8(SIGSTORE_OID.runInvocationUri), 'https://github.com/octo/app/actions/runs/789/attempts/2');
    assert.equal(utf8(SIGSTORE_OID.sourceRepositoryVisibilityAtSigning), 'public');
    assert.equal(utf8(SIGSTORE_OID.deploymentEnvironment), undefined, 'no environment claim, no extension');
  });

  test('a GitHub token without job_workflow_ref is refused', async () => {
    await refused(verifier.verify(await gh.token({ ...GITHUB_CLAIMS, job_workflow_ref: undefined })), 'invalid_claims');
  });

  test('expired token', async () => {
    const now = Math.floor(Date.now() / 1000);
    const e = await refused(verifier.verify(await email.token({ iat: now - 900, nbf: now - 900, exp: now - 120 })), 'expired');
    assert.equal(e.httpStatus, 401);
    assert.ok(isSignetError(e, 'VERIFICATION'));
  });

  test('expiry within the clock skew is still accepted', async () => {
    const now = Math.floor(Date.now() / 1000);
    await verifier.verify(await email.token({ iat: now - 600, nbf: now - 600, exp: now - 10 }));
  });

  test('token without exp is refused', async () => {
    await refused(verifier.verify(await email.token({ exp: undefined })), 'malformed');
  });

  test('not yet valid (nbf) and issued in the future (iat)', async () => {
    const now = Math.floor(Date.now() / 1000);
    await refused(verifier.verify(await email.token({ nbf: now + 300, exp: now + 900 })), 'not_yet_valid');
    await refused(verifier.verify(await email.token({ iat: now + 300, nbf: undefined, exp: now + 900 })), 'not_yet_valid');
  });

  test('forged: signed by another key under the real kid', async () => {
    const other = await newSigningKey(email.keys[0]!.kid);
    await refused(verifier.verify(await email.token({}, { key: other })), 'bad_signature');
  });

  test('forged: payload altered after signing', async () => {
    const t = await email.token();
    const [h, , s] = t.split('.');
    const body = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(t.split('.')[1]!, 'base64url').toString()), email: 'mallory@example.com' })).toString('base64url');
    await refused(verifier.verify(`${h}.${body}.${s}`), 'bad_signature');
  });

  test('alg none and HMAC tokens are refused', async () => {
    const enc = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');
    const now = Math.floor(Date.now() / 1000);
    const claims = { iss: email.url, sub: 'a', aud: 'sigstore', email: 'a@b.c', email_verified: true, exp: now + 60 };
    const none = `${enc({ alg: 'none' })}.${enc(claims)}.`;
    const e = await refused(verifier.verify(none), 'bad_signature');
    assert.equal(e.httpStatus, 401);
    const hs = await new SignJWT(claims).setProtectedHeader({ alg: 'HS256', kid: email.keys[0]!.kid }).sign(new Uint8Array(32));
    await refused(verifier.verify(hs), 'bad_signature');
  });

  test('wrong audience', async () => {
    await refused(verifier.verify(await email.token({ aud: 'someone-else' })), 'wrong_audience');
  });

  test('unknown issuer, and a configured issuer never fetched for it', async () => {
    const stranger = await FakeIssuer.start();
    try {
      await refused(verifier.verify(await stranger.token()), 'unknown_issuer');
      assert.equal(stranger.jwksFetches, 0);
    } finally {
      await stranger.stop();
    }
  });

  test('a token claiming a configured issuer but signed elsewhere is refused', async () => {
    const stranger = await FakeIssuer.start();
    try {
      await refused(verifier.verify(await stranger.token({ iss: email.url })), 'bad_signature');
    } finally {
      await stranger.stop();
    }
  });

  test('email_verified false or missing', async () => {
    await refused(verifier.verify(await email.token({ email_verified: false })), 'email_not_verified');
    await refused(verifier.verify(await email.token({ email_verified: undefined })), 'email_not_verified');
    await refused(verifier.verify(await email.token({ email: undefined })), 'invalid_claims');
  });

  test('email addresses a certificate cannot carry are refused before any SAN is made', async () => {
    for (const bad of ['a\u0000b@example.com', 'a\u007fb@example.com', 'a\tb@example.com', 'a b@example.com', 'jösé@example.com', 'a@b@example.com', '@example.com', 'alice@', 'alice@example.com\u0000', 'a'.repeat(65) + '@example.com', `a@${'b'.repeat(64)}.com`, 'alice@bücher.de', 123]) {
      const e = await refused(verifier.verify(await email.token({ email: bad as string })), 'invalid_claims');
      assert.ok(!/[\u0000-\u001f\u007f]/.test(e.message), JSON.stringify(e.message));
    }
    assert.equal((await verifier.verify(await email.token({ email: "o'brien+sig@mail.xn--bcher-kva.de" }))).subject, "o'brien+sig@mail.xn--bcher-kva.de");
  });

  test('malformed tokens', async () => {
    for (const t of ['', 'abc', 'a.b.c', 'x'.repeat(70_000)]) {
      const e = await refused(verifier.verify(t), 'malformed');
      assert.equal(e.httpStatus, 400);
    }
  });

  test('key rotation: an unknown kid triggers exactly one JWKS refetch', async () => {
    await verifier.verify(await email.token());
    const before = email.jwksFetches;
    await email.rotate();
    await verifier.verify(await email.token());
    assert.equal(email.jwksFetches, before + 1);
    await verifier.verify(await email.token());
    assert.equal(email.jwksFetches, before + 1, 'the new set is cached');
  });

  test('unknown kids within the cooldown do not hammer the issuer', async () => {
    const iss = await FakeIssuer.start();
    try {
      const v = new OidcVerifier(parseOidcConfig({ OIDCIssuers: { [iss.url]: { Type: 'email' } } }), { jwksCooldownMs: 60_000 });
      await v.verify(await iss.token());
      const n = iss.jwksFetches;
      for (let i = 0; i < 5; i++) {
        const stray = await newSigningKey(`stray${i}`);
        await refused(v.verify(await iss.token({}, { key: stray })), 'bad_signature');
      }
      assert.equal(iss.jwksFetches, n);
    } finally {
      await iss.stop();
    }
  });

  test('an unreachable or broken issuer is issuer_unavailable (503), and is retried later', async () => {
    const iss = await FakeIssuer.start();
    try {
      const v = new OidcVerifier(parseOidcConfig({ OIDCIssuers: { [iss.url]: { Type: 'email' } } }));
      iss.discoveryStatus = 500;
      const e = await refused(v.verify(await iss.token()), 'issuer_unavailable');
      assert.equal(e.httpStatus, 503);
      iss.discoveryStatus = 200;
      await v.verify(await iss.token());
    } finally {
      await iss.stop();
    }
  });

  test('meta-issuer wildcard', async () => {
    const iss = await FakeIssuer.start();
    try {
      const port = new URL(iss.url).port;
      assert.ok(metaIssuerMatches('http://127.0.0.1:*', iss.url));
      assert.ok(!metaIssuerMatches('http://127.0.0.1:*', `${iss.url}/x`));
      assert.ok(!metaIssuerMatches('https://oidc.eks.*.amazonaws.com/id/*', 'https://oidc.eks.a.b.amazonaws.com/id/x'));
      assert.ok(metaIssuerMatches('https://oidc.eks.*.amazonaws.com/id/*', 'https://oidc.eks.eu-west-1.amazonaws.com/id/ABC'));
      const v = new OidcVerifier(parseOidcConfig({ MetaIssuers: { 'http://127.0.0.1:*': { Type: 'email' } } }));
      const p = await v.verify(await iss.token());
      assert.equal(p.issuer, iss.url);
      assert.ok(port);
    } finally {
      await iss.stop();
    }
  });
});

describe('identity mapping per issuer type', () => {
  const iss = 'https://issuer.example';
  test('kubernetes', () => {
    const p = principalFromClaims(
      { issuerUrl: iss, clientId: 'sigstore', type: 'kubernetes' },
      { iss, sub: 'system:serviceaccount:ns:sa', 'kubernetes.io': { namespace: 'ns', serviceaccount: { name: 'sa' } } },
    );
    assert.equal(p.subject, 'https://kubernetes.io/namespaces/ns/serviceaccounts/sa');
    assert.equal(p.challengeClaimValue, 'system:serviceaccount:ns:sa');
    assert.throws(() => principalFromClaims({ issuerUrl: iss, clientId: 'sigstore', type: 'kubernetes' }, { iss, sub: 'x' }), OidcError);
  });
  test('spiffe', () => {
    const cfg = { issuerUrl: iss, clientId: 'sigstore', type: 'spiffe' as const, spiffeTrustDomain: 'example.org' };
    assert.equal(principalFromClaims(cfg, { iss, sub: 'spiffe://example.org/w' }).subject, 'spiffe://example.org/w');
    assert.throws(() => principalFromClaims(cfg, { iss, sub: 'spiffe://evil.org/w' }), /trust domain/);
    assert.throws(() => principalFromClaims(cfg, { iss, sub: 'spiffe://example.org.evil/w' }), /trust domain/);
  });
  test('uri', () => {
    const cfg = { issuerUrl: iss, clientId: 'sigstore', type: 'uri' as const, subjectDomain: 'https://ci.example.com' };
    assert.equal(principalFromClaims(cfg, { iss, sub: 'https://ci.example.com/jobs/1' }).sanType, 'uri');
    assert.throws(() => principalFromClaims(cfg, { iss, sub: 'https://ci.example.com.evil/jobs/1' }), OidcError);
    assert.throws(() => principalFromClaims(cfg, { iss, sub: 'not a uri' }), OidcError);
  });
  test('username', () => {
    const cfg = { issuerUrl: iss, clientId: 'sigstore', type: 'username' as const, subjectDomain: 'example.com' };
    const p = principalFromClaims(cfg, { iss, sub: 'alice' });
    assert.equal(p.subject, 'alice!example.com');
    assert.equal(p.sanType, 'othername');
    assert.equal(p.challengeClaimValue, 'alice');
    assert.throws(() => principalFromClaims(cfg, { iss, sub: 'a!b' }), OidcError);
  });
  test('gitlab', () => {
    const p = principalFromClaims(
      { issuerUrl: iss, clientId: 'sigstore', type: 'gitlab-pipeline' },
      {
        iss,
        sub: 'project_path:g/p:ref_type:branch:ref:main',
        ci_config_ref_uri: 'gitlab.com/g/p//.gitlab-ci.yml@refs/heads/main',
        project_path: 'g/p',
        ref: 'main',
        ref_type: 'branch',
        job_id: '42',
      },
    );
    assert.equal(p.subject, 'https://gitlab.com/g/p//.gitlab-ci.yml@refs/heads/main');
    const v = (oid: string): string | undefined => p.extensions.find((e) => e.oid === oid)?.value.subarray(2).toString();
    assert.equal(v(SIGSTORE_OID.sourceRepositoryRef), 'refs/heads/main');
    assert.equal(v(SIGSTORE_OID.runInvocationUri), 'https://gitlab.com/g/p/-/jobs/42');
  });
  test('long UTF8String values use a long-form DER length', () => {
    const longIss = 'https://x.example/' + 'a'.repeat(300);
    const p = principalFromClaims({ issuerUrl: longIss, clientId: 'sigstore', type: 'email' }, { iss: longIss, sub: 's', email: 'a@b.c', email_verified: true });
    const v = p.extensions.find((e) => e.oid === SIGSTORE_OID.issuerV2)!.value;
    assert.deepEqual([...v.subarray(0, 4)], [0x0c, 0x82, (longIss.length >> 8) & 0xff, longIss.length & 0xff]);
  });
});

describe('issuer config', () => {
  test('loadOidcConfig reads a JSON file; missing or invalid files are clear errors', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'signet-oidc-cfg-'));
    const good = join(dir, 'good.json');
    writeFileSync(good, JSON.stringify({ OIDCIssuers: { 'https://a.example': { Type: 'email', ClientID: 'c' } } }));
    assert.equal((await loadOidcConfig(good)).issuers[0]!.clientId, 'c');
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, 'oidc-issuers:\n  https://a.example: {}\n');
    await assert.rejects(loadOidcConfig(bad), (e: unknown) => isSignetError(e, 'MALFORMED') && /not valid JSON/.test((e as Error).message));
    await assert.rejects(loadOidcConfig(join(dir, 'missing.json')), (e: unknown) => isSignetError(e, 'IO') && /no such file/.test((e as Error).message));
  });

  const ok = (doc: unknown): OidcConfig => parseOidcConfig(doc);
  test('Fulcio-shaped config parses with defaults', () => {
    const c = ok({ OIDCIssuers: { 'https://a.example': { IssuerURL: 'https://a.example', Type: 'email' } } });
    assert.equal(c.issuers[0]!.clientId, 'sigstore');
  });
  test('bad configs are refused with a reason', () => {
    const bad: [unknown, RegExp][] = [
      [[], /JSON object/],
      [{}, /no issuers/],
      [{ Issuers: {} }, /unknown field/],
      [{ OIDCIssuers: { 'https://a': { Type: 'bogus' } } }, /Type "bogus"/],
      [{ OIDCIssuers: { 'https://a': {} } }, /Type is required/],
      [{ OIDCIssuers: { 'https://a': { IssuerURL: 'https://b', Type: 'email' } } }, /differs/],
      [{ OIDCIssuers: { 'https://*.a': { Type: 'email' } } }, /MetaIssuers/],
      [{ OIDCIssuers: { 'ftp://a': { Type: 'email' } } }, /http\(s\)/],
      [{ OIDCIssuers: { 'https://a': { Type: 'uri' } } }, /SubjectDomain/],
      [{ OIDCIssuers: { 'https://a': { Type: 'spiffe' } } }, /SPIFFETrustDomain/],
      [{ OIDCIssuers: { 'https://a': { Type: 'email', ClientID: 7 } } }, /ClientID/],
    ];
    for (const [doc, re] of bad) assert.throws(() => parseOidcConfig(doc), (e: unknown) => isSignetError(e, 'MALFORMED') && re.test((e as Error).message), JSON.stringify(doc));
  });
});
