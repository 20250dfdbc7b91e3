/**
 * The private TUF repository `signet serve` publishes, used the way a new user would: HOME is an empty
 * directory, `signet initialize --mirror <serve>/tuf --root <serve>/tuf/root.json`, then keyless
 * sign-blob / verify-blob with no --trusted-root or --signing-config. Tampered targets, a wrong root,
 * expired metadata and an unreachable mirror are each one clear line.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { startServer, type RunningServer } from '../../src/server/serve.js';
import { ensureTufRepository } from '../../src/server/tuf/index.js';
import { publicGoodTrustedRootBytes } from '../../src/sigstore/tuf.js';
import { runCli, type CliResult } from '../helpers/cli.js';
import { freePort } from '../helpers/registry.js';

const DAY = 86_400_000;

function oneLine(r: CliResult, code: number, re: RegExp): void {
  assert.equal(r.code, code, r.stderr);
  assert.match(r.stderr, re);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
}

describe('a private TUF repository from signet serve, through initialize', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tuf-private-'));
  const file = join(dir, 'artifact.txt');
  let srv: RunningServer;
  let mirror: string;
  /** A fresh user's environment: HOME empty, no TUF or token variables from the test runner. */
  const userEnv = (home: string): Record<string, string | undefined> => ({
    HOME: home,
    TUF_ROOT: undefined,
    TUF_MIRROR: undefined,
    TUF_ROOT_JSON: undefined,
    SIGSTORE_ID_TOKEN: undefined,
  });
  const freshHome = (name: string): string => mkdtempSync(join(dir, `${name}-`));
  const token = async (email: string): Promise<string> => {
    const res = await fetch(srv.url + '/oidc/token', { method: 'POST', body: JSON.stringify({ email }) });
    return ((await res.json()) as { id_token: string }).id_token;
  };

  before(async () => {
    writeFileSync(file, 'hello, private sigstore\n');
    srv = await startServer({ dataDir: join(dir, 'srv'), listen: '127.0.0.1:0', requestLog: false, devOidc: true, rekorApiVersion: 2 });
    mirror = `${srv.url}/tuf`;
  });
  after(async () => {
    await srv.close();
    rmSync(dir, { recursive: true, force: true });
  });

  let firstHome = '';
  const firstBundle = join(dir, 'artifact.sigstore.json');

  test('fresh HOME: initialize, then keyless sign-blob and verify-blob with no trust flags; a tampered target is refused', async () => {
    const home = freshHome('home');
    firstHome = home;
    const env = userEnv(home);
    let r = await runCli(['initialize', '--mirror', mirror, '--root', `${mirror}/root.json`], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /Initialized TUF from .*\/tuf in .*\.sigstore\/root: trusted_root\.json \(1 logs, 1 CAs, .*signing_config\.v0\.2\.json/);
    assert.deepEqual(JSON.parse(readFileSync(join(home, '.sigstore', 'root', 'remote.json'), 'utf8')), { mirror });

    const bundle = firstBundle;
    r = await runCli(['sign-blob', '--yes', '--identity-token', await token('dana@example.com'), '--bundle', bundle, file], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`with a certificate from ${srv.url}`));
    const verifyArgs = ['verify-blob', '--bundle', bundle, '--certificate-identity', 'dana@example.com', '--certificate-oidc-issuer', `${srv.url}/oidc`, file];
    r = await runCli(verifyArgs, { env });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /Verified OK/);

    // Without the initialized cache, the pinned public-good root does not trust this server's CA.
    r = await runCli(verifyArgs, { env: userEnv(freshHome('other')) });
    assert.notEqual(r.code, 0);

    // The trusted root changed on disk after signing, in the repository and in the user's cache: the
    // bytes no longer match the signed targets metadata, so the TUF client refuses them.
    const repoTargets = join(dir, 'srv', 'tuf', 'repo', 'targets');
    const served = readdirSync(repoTargets).find((f) => f.endsWith('.trusted_root.json'))!;
    const cached = join(home, '.sigstore', 'root', encodeURIComponent(new URL(mirror).host + '/tuf'), 'targets', 'trusted_root.json');
    assert.ok(existsSync(cached), cached);
    const genuine = readFileSync(join(repoTargets, served), 'utf8');
    const tampered = genuine.replace('"tlogs"', '"tlogs" ');
    writeFileSync(join(repoTargets, served), tampered);
    writeFileSync(cached, tampered);
    r = await runCli(verifyArgs, { env });
    oneLine(r, 1, /does not match its signed TUF metadata/);
    // A new user initializing from the tampered repository is refused too, and records no mirror.
    const home2 = freshHome('home2');
    r = await runCli(['initialize', '--mirror', mirror, '--root', `${mirror}/root.json`], { env: userEnv(home2) });
    oneLine(r, 1, /does not match its signed TUF metadata/);
    assert.equal(existsSync(join(home2, '.sigstore', 'root', 'remote.json')), false);
    writeFileSync(join(repoTargets, served), genuine);
    writeFileSync(cached, genuine);
  });

  test('after initialize: keyed signing logs where the TUF signing config says, keyed verify takes the TUF root; cosign v3 service-flag rules', async () => {
    const home = freshHome('keyed');
    const env = { ...userEnv(home), COSIGN_PASSWORD: 'pw' };
    let r = await runCli(['initialize', '--mirror', mirror, '--root', srv.tufRootPath], { env });
    assert.equal(r.code, 0, r.stderr);
    r = await runCli(['generate-key-pair', '--output-key-prefix', join(home, 'cosign')], { env, cwd: home });
    assert.equal(r.code, 0, r.stderr);
    const key = join(home, 'cosign.key');
    const pub = join(home, 'cosign.pub');
    const bundle = join(home, 'keyed.sigstore.json');
    r = await runCli(['sign-blob', '--yes', '--key', key, '--bundle', bundle, file], { env });
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(readFileSync(bundle, 'utf8')) as { verificationMaterial: { tlogEntries: unknown[] } };
    assert.equal(doc.verificationMaterial.tlogEntries.length, 1, 'logged in the log the TUF signing config names');
    r = await runCli(['verify-blob', '--key', pub, '--bundle', bundle, file], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /Verified OK/);

    // Service URL flags and --tlog-upload=false conflict with the signing config from TUF, unless --use-signing-config=false.
    r = await runCli(['sign-blob', '--yes', '--key', key, '--rekor-url', srv.url, '--bundle', bundle, file], { env });
    oneLine(r, 2, /cannot use --rekor-url with the signing config from TUF .*--use-signing-config=false/);
    r = await runCli(['sign-blob', '--yes', '--key', key, '--tlog-upload=false', '--bundle', bundle, file], { env });
    oneLine(r, 2, /--tlog-upload=false is not supported with the signing config from TUF/);
    r = await runCli(['sign-blob', '--yes', '--key', key, '--use-signing-config=false', '--tlog-upload=false', '--bundle', bundle, file], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(readFileSync(bundle, 'utf8')) as { verificationMaterial: { tlogEntries?: unknown[] } }).verificationMaterial.tlogEntries, undefined);
    r = await runCli(['sign-blob', '--yes', '--identity-token', await token('erin@example.com'), '--fulcio-url', srv.url, '--bundle', bundle, file], { env });
    oneLine(r, 2, /cannot use --fulcio-url with the signing config from TUF/);

    // sign-blob --trusted-root: the new bundle is verified before it is written (cosign v3).
    const checked = join(home, 'checked.sigstore.json');
    r = await runCli(['sign-blob', '--yes', '--identity-token', await token('erin@example.com'), '--trusted-root', srv.trustedRootPath, '--bundle', checked, file], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(existsSync(checked));
    r = await runCli(['sign-blob', '--yes', '--key', key, '--trusted-root', srv.trustedRootPath, '--bundle', checked, file], { env });
    assert.equal(r.code, 0, r.stderr);
    const pinned = join(home, 'public-good-root.json');
    writeFileSync(pinned, publicGoodTrustedRootBytes());
    const refused = join(home, 'refused.sigstore.json');
    r = await runCli(['sign-blob', '--yes', '--identity-token', await token('erin@example.com'), '--trusted-root', pinned, '--bundle', refused, file], { env });
    assert.equal(r.code, 1, r.stderr);
    const errors = r.stderr.trim().split('\n').filter((l) => !l.startsWith('Signing as '));
    assert.equal(errors.length, 1, r.stderr);
    assert.match(errors[0]!, /^Error: the new signature does not verify against --trusted-root .*nothing was written: .*trusted root does not list/);
    assert.equal(existsSync(refused), false);
    r = await runCli(['sign-blob', '--yes', '--key', key, '--trusted-root', pinned, '--bundle', refused, file], { env });
    oneLine(r, 1, /the new signature does not verify against --trusted-root .*nothing was written/);
    assert.equal(existsSync(refused), false);
  });

  test('bad inputs: an unreachable mirror, a wrong root, expired metadata: one clear line each', async () => {
    const env = userEnv(freshHome('bad'));
    const port = await freePort();
    let r = await runCli(['initialize', '--mirror', `http://127.0.0.1:${port}/tuf`, '--root', srv.tufRootPath], { env });
    oneLine(r, 1, new RegExp(`^Error: cannot update TUF metadata from http://127.0.0.1:${port}/tuf: .*ECONNREFUSED`));

    // The root of another repository: nothing the server serves is signed by its keys.
    const other = await ensureTufRepository({ dir: join(dir, 'other'), targets: { 'trusted_root.json': Buffer.from('{}') } });
    r = await runCli(['initialize', '--mirror', mirror, '--root', other.rootPath], { env });
    oneLine(r, 1, /is not signed by the trusted TUF root .*is --root the root of this repository\?/);

    // A repository whose metadata expired (signed two years ago), read from a directory mirror.
    const old = await ensureTufRepository({ dir: join(dir, 'old'), targets: { 'trusted_root.json': readFileSync(srv.trustedRootPath) }, now: new Date(Date.now() - 730 * DAY) });
    r = await runCli(['initialize', '--mirror', pathToFileURL(old.repoDir).href, '--root', old.rootPath], { env });
    oneLine(r, 1, /TUF metadata from file:.* has expired/);

    r = await runCli(['initialize', '--mirror', 'ftp://example.com/tuf', '--root', srv.tufRootPath], { env });
    oneLine(r, 2, /not an http\(s\):\/\/ or file:\/\/ URL/);
    r = await runCli(['initialize', '--mirror', `${srv.url}/nothing`, '--root', `${srv.url}/nothing/root.json`], { env });
    oneLine(r, 11, /cannot fetch the TUF root .*HTTP 404/);
  });

  test('verify-blob --offline with the server stopped: the bundle and the TUF cache alone', async () => {
    await srv.close();
    const env = userEnv(firstHome);
    const args = ['verify-blob', '--offline', '--bundle', firstBundle, '--certificate-identity', 'dana@example.com', '--certificate-oidc-issuer', `${srv.url}/oidc`, file];
    let r = await runCli(args, { env });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /Verified OK/);
    // Expired cached metadata is not refreshed with --offline: one line saying so.
    const cache = join(firstHome, '.sigstore', 'root', encodeURIComponent(new URL(mirror).host + '/tuf'));
    const ts = JSON.parse(readFileSync(join(cache, 'timestamp.json'), 'utf8'));
    ts.signed.expires = '2000-01-01T00:00:00Z';
    writeFileSync(join(cache, 'timestamp.json'), JSON.stringify(ts));
    r = await runCli(args, { env });
    oneLine(r, 1, /--offline: the cached TUF metadata of .* is expired or incomplete/);
  });
});
