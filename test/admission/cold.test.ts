/**
 * A cold review's registry traffic, seen by a TCP relay between the webhook's client and the real
 * docker-registry: no HEAD (distribution answers each with `Connection: close`, so every HEAD costs a
 * new connection), and the signatures of an image named by digest are looked up while its manifest is
 * being checked, not after (the relay holds each manifest read until the image's `.sig` lookup has
 * arrived: one after the other, the lookup never would, and the relay lets go after a while and says so).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { RegistryClient } from '../../src/oci/index.js';
import { signImages } from '../../src/cosign/sign.js';
import { obtainKeylessSigner, resolveKeylessServices } from '../../src/sigstore/sign-keyless.js';
import { parseSigningConfig } from '../../src/sigstore/signing-config.js';
import { loadTrustedRoot } from '../../src/sigstore/trustedroot.js';
import { prepareTrust } from '../../src/sigstore/verifier.js';
import { startServer, type RunningServer } from '../../src/server/serve.js';
import { AdmissionEngine, loadPolicySet } from '../../src/admission/index.js';
import { pushRandomImage, startRegistry, type RunningRegistry } from '../helpers/registry.js';

const dir = mkdtempSync(join(tmpdir(), 'signet-admission-cold-'));
let reg: RunningRegistry;
let srv: RunningServer;
let relay: Server;
let relayHost: string;
const sockets = new Set<Socket>();
const seen: Array<{ method: string; path: string }> = [];
const heldTooLong: string[] = [];
let connections = 0;
const images: Array<{ repository: string; digest: string; tag: string }> = [];

/** Forward each request head once `gate` lets it go, in order per connection; answers flow back untouched. */
function gate(method: string, path: string): Promise<void> {
  seen.push({ method, path });
  const m = /\/manifests\/(sha256:[0-9a-f]{64})$/.exec(path);
  // Only the images' own manifests (their signatures' manifests are read by digest too).
  if (!m || !images.some((i) => i.digest === m[1])) return Promise.resolve();
  const sig = `/manifests/${m[1]!.replace(':', '-')}.sig`;
  return new Promise((resolve) => {
    const started = Date.now();
    const poll = setInterval(() => {
      if (seen.some((s) => s.path.endsWith(sig))) {
        clearInterval(poll);
        resolve();
      } else if (Date.now() - started > 4000) {
        clearInterval(poll);
        heldTooLong.push(path);
        resolve();
      }
    }, 5);
  });
}

before(async () => {
  [reg, srv] = await Promise.all([startRegistry(), startServer({ dataDir: join(dir, 'srv'), listen: '127.0.0.1:0', requestLog: false, devOidc: true })]);
  const [regHost, regPort] = [reg.host.split(':')[0]!, Number(reg.host.split(':')[1])];
  relay = createServer((down) => {
    connections++;
    sockets.add(down);
    const up = connect(regPort, regHost);
    sockets.add(up);
    const close = () => {
      down.destroy();
      up.destroy();
    };
    down.on('error', close).on('close', close);
    up.on('error', close).on('close', close);
    up.pipe(down);
    let buf = Buffer.alloc(0);
    let chain = Promise.resolve();
    let raw = false;
    down.on('data', (d: Buffer) => {
      // The client first tries TLS on a loopback registry: whatever is not HTTP passes as it is.
      if (!raw && buf.length === 0 && !/^[A-Z]/.test(d.toString('latin1', 0, 1))) raw = true;
      if (raw) return void (chain = chain.then(() => void up.write(d)));
      buf = Buffer.concat([buf, d]);
      for (let end = buf.indexOf('\r\n\r\n'); end >= 0; end = buf.indexOf('\r\n\r\n')) {
        const head = buf.subarray(0, end + 4);
        buf = buf.subarray(end + 4);
        const [method, path] = head.toString('latin1').split(' ', 2) as [string, string];
        chain = chain.then(() => gate(method, path)).then(() => void up.write(head));
        // A request with a body: the rest of this connection is passed on as it comes.
        if (/\r\ncontent-length: *[1-9]/i.test(head.toString('latin1')) || /\r\ntransfer-encoding/i.test(head.toString('latin1'))) {
          raw = true;
          const rest = buf;
          chain = chain.then(() => void up.write(rest));
          break;
        }
      }
    });
  });
  await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
  relayHost = `127.0.0.1:${(relay.address() as AddressInfo).port}`;

  const client = new RegistryClient({});
  try {
    const tokenRes = await fetch(srv.url + '/oidc/token', { method: 'POST', body: JSON.stringify({ email: 'cold@example.com' }) });
    const ks = await obtainKeylessSigner(resolveKeylessServices(parseSigningConfig(readFileSync(srv.signingConfigPath))), ((await tokenRes.json()) as { id_token: string }).id_token);
    for (let i = 0; i < 3; i++) {
      const repository = `cold/app${i}`;
      const p = await pushRandomImage(client, { registry: reg.host, repository }, 'v1');
      images.push({ repository, digest: p.digest, tag: 'v1' });
    }
    await signImages({ client, signer: ks.signer, keyless: ks, images: images.map((m) => `${reg.host}/${m.repository}@${m.digest}`) });
  } finally {
    await client.close();
  }
  writeFileSync(
    join(dir, 'cip.yaml'),
    `apiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\nmetadata: {name: cold}\nspec:\n  images: [{glob: "${relayHost}/cold/**"}]\n  authorities:\n  - keyless:\n      identities: [{issuer: "${srv.url}/oidc", subject: cold@example.com}]\n`,
  );
});

after(async () => {
  for (const s of sockets) s.destroy();
  await new Promise((r) => relay?.close(r));
  await Promise.all([reg?.stop(), srv?.close()]);
  rmSync(dir, { recursive: true, force: true });
});

test('a cold review of 3 images: no HEAD, and each image signatures are looked up while its manifest is read', async () => {
  const root = await loadTrustedRoot(srv.trustedRootPath);
  const set = await loadPolicySet([join(dir, 'cip.yaml')], { defaultTrust: { name: 'test', root, material: prepareTrust(root) } });
  const client = new RegistryClient({});
  try {
    const engine = new AdmissionEngine(set, { client });
    // Two by digest (as they come after the mutating webhook), one by tag.
    const refs = [
      `${relayHost}/${images[0]!.repository}@${images[0]!.digest}`,
      `${relayHost}/${images[1]!.repository}@${images[1]!.digest}`,
      `${relayHost}/${images[2]!.repository}:${images[2]!.tag}`,
    ];
    const verdicts = await Promise.all(refs.map((r) => engine.evaluate(r)));
    for (const v of verdicts) assert.equal(v.verdict, 'pass', `${v.image}: ${v.errors.join('; ')}`);
    assert.deepEqual(seen.filter((s) => s.method === 'HEAD').map((s) => s.path), [], 'HEAD requests (each closes its connection)');
    assert.deepEqual(heldTooLong, [], 'manifest reads that waited for a signature lookup that came only after them');
    assert.ok(connections < seen.length, `${connections} connections for ${seen.length} requests: connections are reused`);
  } finally {
    await client.close();
  }
});
