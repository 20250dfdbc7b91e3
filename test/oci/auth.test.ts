/** Registry auth against the real docker-registry: htpasswd basic, Docker token auth, TLS; Docker config and helpers. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RegistryClient, loginToDockerConfig, resolveCredentials, type Repo } from '../../src/oci/index.js';
import { isSignetError } from '../../src/errors.js';
import { pushRandomImage, startRegistry, type RunningRegistry } from '../helpers/registry.js';

const fast = { retries: 1, minDelayMs: 5, maxDelayMs: 20 };

/** Run `fn` with DOCKER_CONFIG (and optionally PATH) pointing at a fresh temp dir. */
async function withDockerConfig<T>(config: unknown, fn: (dir: string) => Promise<T>, extraPath?: (dir: string) => void): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'signet-dockercfg-'));
  const saved = { DOCKER_CONFIG: process.env.DOCKER_CONFIG, PATH: process.env.PATH };
  try {
    if (config !== undefined) writeFileSync(join(dir, 'config.json'), typeof config === 'string' ? config : JSON.stringify(config));
    process.env.DOCKER_CONFIG = dir;
    if (extraPath) {
      extraPath(dir);
      process.env.PATH = `${dir}:${saved.PATH}`;
    }
    return await fn(dir);
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('basic auth (htpasswd)', () => {
  let reg: RunningRegistry;
  const repo = (): Repo => ({ registry: reg.host, repository: 'secure/app' });
  before(async () => {
    reg = await startRegistry({ auth: 'basic' });
  });
  after(async () => reg?.stop());

  test('explicit username/password push and pull', async () => {
    const c = new RegistryClient({ username: reg.username, password: reg.password, retry: fast });
    try {
      const img = await pushRandomImage(c, repo(), 'v1');
      assert.equal((await c.getManifest(repo(), 'v1')).digest, img.digest);
    } finally {
      await c.close();
    }
  });

  test('anonymous -> REGISTRY_AUTH with a hint; wrong password -> REGISTRY_AUTH', async () => {
    await withDockerConfig(undefined, async () => {
      const anon = new RegistryClient({ retry: fast });
      await assert.rejects(anon.getManifest(repo(), 'v1'), (e: unknown) => isSignetError(e, 'REGISTRY_AUTH') && /401/.test(e.message) && /signet login/.test(e.message));
      await anon.close();
    });
    const wrong = new RegistryClient({ username: reg.username, password: 'wrong-password', retry: fast });
    await assert.rejects(wrong.getManifest(repo(), 'v1'), (e: unknown) => isSignetError(e, 'REGISTRY_AUTH') && !e.message.includes('wrong-password'));
    await wrong.close();
  });

  test('credentials from docker config auths (base64 auth and username/password)', async () => {
    const auth = Buffer.from(`${reg.username}:${reg.password}`).toString('base64');
    await withDockerConfig({ auths: { [`http://${reg.host}/v2/`]: { auth } } }, async () => {
      const c = new RegistryClient({ retry: fast });
      assert.ok(await c.headManifest(repo(), 'v1'));
      await c.close();
    });
    await withDockerConfig({ auths: { [reg.host]: { username: reg.username, password: reg.password } } }, async () => {
      const c = new RegistryClient({ retry: fast });
      assert.ok(await c.headManifest(repo(), 'v1'));
      await c.close();
    });
  });

  test('credentials from a credHelpers entry (docker-credential-<name> on PATH)', async () => {
    const config = { credHelpers: { [reg.host]: 'signettest' }, auths: { [reg.host]: { auth: Buffer.from('bad:bad').toString('base64') } } };
    await withDockerConfig(
      config,
      async (dir) => {
        const c = new RegistryClient({ retry: fast });
        assert.ok(await c.headManifest(repo(), 'v1'));
        await c.close();
        // The helper got the server on stdin.
        assert.equal(readFileSync(join(dir, 'helper-stdin'), 'utf8'), reg.host);
      },
      (dir) => {
        const script = join(dir, 'docker-credential-signettest');
        writeFileSync(
          script,
          `#!/bin/sh\n[ "$1" = get ] || exit 1\ncat > "${dir}/helper-stdin"\necho '{"ServerURL":"${reg.host}","Username":"${reg.username}","Secret":"${reg.password}"}'\n`,
        );
        chmodSync(script, 0o755);
      },
    );
  });

  test('credsStore: helper with no entry falls back to auths; a missing helper is a clear error', async () => {
    const auth = Buffer.from(`${reg.username}:${reg.password}`).toString('base64');
    await withDockerConfig(
      { credsStore: 'signetempty', auths: { [reg.host]: { auth } } },
      async () => {
        assert.deepEqual(await resolveCredentials(reg.host), { kind: 'basic', username: reg.username, password: reg.password });
      },
      (dir) => {
        const script = join(dir, 'docker-credential-signetempty');
        writeFileSync(script, '#!/bin/sh\necho "credentials not found in native keychain"\nexit 1\n');
        chmodSync(script, 0o755);
      },
    );
    await withDockerConfig({ credHelpers: { [reg.host]: 'doesnotexist' } }, async () => {
      await assert.rejects(resolveCredentials(reg.host), (e: unknown) => isSignetError(e, 'REGISTRY_AUTH') && /docker-credential-doesnotexist/.test(e.message));
    });
  });

  test('login writes docker config atomically, keeps other entries, mode 0600; the client then uses it', async () => {
    await withDockerConfig({ auths: { 'other.example': { auth: 'eDp5' } }, credsStore: '', psFormat: 'keep-me' }, async (dir) => {
      const path = await loginToDockerConfig(reg.host, reg.username!, reg.password!);
      assert.equal(path, join(dir, 'config.json'));
      const doc = JSON.parse(readFileSync(path, 'utf8'));
      assert.equal(doc.psFormat, 'keep-me');
      assert.equal(doc.auths['other.example'].auth, 'eDp5');
      assert.equal(Buffer.from(doc.auths[reg.host].auth, 'base64').toString(), `${reg.username}:${reg.password}`);
      assert.equal(statSync(path).mode & 0o777, 0o600);
      const c = new RegistryClient({ retry: fast });
      assert.ok(await c.headManifest(repo(), 'v1'));
      await c.close();
      // Docker Hub goes under Docker's own key.
      await loginToDockerConfig('docker.io', 'u', 'p');
      assert.ok(JSON.parse(readFileSync(path, 'utf8')).auths['https://index.docker.io/v1/']);
    });
  });

  test('login rejects bad input and a broken config', async () => {
    await withDockerConfig('{not json', async () => {
      await assert.rejects(loginToDockerConfig('r.example', 'u', 'p'), (e: unknown) => isSignetError(e, 'MALFORMED'));
    });
    await withDockerConfig(undefined, async () => {
      await assert.rejects(loginToDockerConfig('r.example', '', 'p'), (e: unknown) => isSignetError(e, 'USAGE'));
      await assert.rejects(loginToDockerConfig('r.example', 'a:b', 'p'), (e: unknown) => isSignetError(e, 'USAGE'));
      await assert.rejects(loginToDockerConfig('r.example', 'u', ''), (e: unknown) => isSignetError(e, 'USAGE'));
    });
  });
});

describe('token auth (Docker token server, ES256 JWT with x5c)', () => {
  let reg: RunningRegistry;
  before(async () => {
    reg = await startRegistry({ auth: 'token' });
  });
  after(async () => reg?.stop());

  test('push, pull, mount and list with per-repository scopes; tokens are reused', async () => {
    const c = new RegistryClient({ username: reg.username, password: reg.password, retry: fast });
    try {
      const a: Repo = { registry: reg.host, repository: 'tok/a' };
      const b: Repo = { registry: reg.host, repository: 'tok/b' };
      const img = await pushRandomImage(c, a, 'v1');
      const before = reg.tokenServer!.requests.length;
      await Promise.all(Array.from({ length: 10 }, () => c.getManifest(a, 'v1')));
      // Pull reuses the cached pull,push token of the same repository.
      assert.equal(reg.tokenServer!.requests.length, before);
      assert.equal(await c.mountBlob(b, img.layer.digest, 'tok/a'), true);
      const mountReq = reg.tokenServer!.requests.at(-1)!;
      assert.deepEqual(mountReq.scopes.sort(), ['repository:tok/a:pull', 'repository:tok/b:pull,push']);
      assert.deepEqual(await c.listTags(a), ['v1']);
      await c.deleteManifest(a, img.digest);
      assert.equal(await c.headManifest(a, 'v1'), null);
    } finally {
      await c.close();
    }
  });

  test('wrong password -> REGISTRY_AUTH from the token server; anonymous gets no access', async () => {
    const wrong = new RegistryClient({ username: reg.username, password: 'nope', retry: fast });
    await assert.rejects(wrong.getManifest({ registry: reg.host, repository: 'tok/a' }, 'v1'), (e: unknown) => isSignetError(e, 'REGISTRY_AUTH') && /token server refused the credentials/.test(e.message));
    await wrong.close();
    await withDockerConfig(undefined, async () => {
      const anon = new RegistryClient({ retry: fast });
      await assert.rejects(anon.listTags({ registry: reg.host, repository: 'tok/a' }), (e: unknown) => isSignetError(e, 'REGISTRY_AUTH'));
      await anon.close();
    });
  });

  test('identitytoken in docker config -> refresh-token grant', async () => {
    await withDockerConfig({ auths: { [reg.host]: { identitytoken: reg.password } } }, async () => {
      const c = new RegistryClient({ retry: fast });
      const img = await pushRandomImage(c, { registry: reg.host, repository: 'tok/ident' }, 'x');
      assert.equal((await c.headManifest({ registry: reg.host, repository: 'tok/ident' }, 'x'))?.digest, img.digest);
      assert.equal(reg.tokenServer!.requests.at(-1)!.method, 'POST');
      await c.close();
    });
  });
});

describe('token expiry', () => {
  let reg: RunningRegistry;
  before(async () => {
    reg = await startRegistry({ auth: 'token', tokenExpiresIn: 2, anonymousPull: true });
  });
  after(async () => reg?.stop());

  test('an expired token is replaced, a live one reused; anonymous pull works where the server allows it', async () => {
    const r: Repo = { registry: reg.host, repository: 'exp/app' };
    const c = new RegistryClient({ username: reg.username, password: reg.password, retry: fast });
    await pushRandomImage(c, r, 'v1');
    const n0 = reg.tokenServer!.requests.length;
    await c.headManifest(r, 'v1');
    assert.equal(reg.tokenServer!.requests.length, n0);
    await new Promise((res) => setTimeout(res, 1700));
    await c.headManifest(r, 'v1');
    assert.equal(reg.tokenServer!.requests.length, n0 + 1);
    await c.close();
    await withDockerConfig(undefined, async () => {
      const anon = new RegistryClient({ retry: fast });
      assert.ok(await anon.headManifest(r, 'v1'));
      await assert.rejects(anon.putBlob(r, Buffer.from('anon')), (e: unknown) => isSignetError(e, 'REGISTRY_AUTH'));
      await anon.close();
    });
  });
});

describe('TLS registry', () => {
  let reg: RunningRegistry;
  before(async () => {
    reg = await startRegistry({ tls: true });
  });
  after(async () => reg?.stop());

  test('trusted through --registry-cacert', async () => {
    const c = new RegistryClient({ caCertFile: reg.caCertFile, retry: fast });
    const img = await pushRandomImage(c, { registry: reg.host, repository: 'tls/app' }, 'v1');
    assert.equal((await c.getManifest({ registry: reg.host, repository: 'tls/app' }, 'v1')).digest, img.digest);
    await c.close();
  });

  test('untrusted certificate -> clear NETWORK error, no silent http fallback; insecure works', async () => {
    const c = new RegistryClient({ retry: fast });
    await assert.rejects(c.headManifest({ registry: reg.host, repository: 'tls/app' }, 'v1'), (e: unknown) => isSignetError(e, 'NETWORK') && /certificate not trusted/.test(e.message) && /--registry-cacert/.test(e.message));
    await c.close();
    const insecure = new RegistryClient({ insecure: true, retry: fast });
    assert.ok(await insecure.headManifest({ registry: reg.host, repository: 'tls/app' }, 'v1'));
    await insecure.close();
  });

  test('a CA file that is not PEM is refused', () => {
    const dir = mkdtempSync(join(tmpdir(), 'signet-ca-'));
    writeFileSync(join(dir, 'ca.pem'), 'hello');
    assert.throws(() => new RegistryClient({ caCertFile: join(dir, 'ca.pem') }), (e: unknown) => isSignetError(e, 'MALFORMED'));
    assert.throws(() => new RegistryClient({ caCertFile: join(dir, 'missing.pem') }), (e: unknown) => isSignetError(e, 'IO'));
    rmSync(dir, { recursive: true, force: true });
  });
});
