/**
 * `signet sign -t`: a transparency log that accepts and never answers ends the command at the deadline,
 * with one line naming the log, and nothing reaches the registry (signatures are logged before anything
 * is pushed). The registry is the real docker-registry; the log is a raw socket on 127.0.0.1.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encryptPrivateKey, generateKeyPair } from '../../src/keys/index.js';
import { RegistryClient } from '../../src/oci/index.js';
import { pushRandomImage, startRegistry, type RunningRegistry } from '../helpers/registry.js';
import { runCli } from '../helpers/cli.js';

let reg: RunningRegistry;
let silent: Server;
const sockets = new Set<Socket>();
const dir = mkdtempSync(join(tmpdir(), 'signet-deadline-'));
const keyFile = join(dir, 'cosign.key');

before(async () => {
  reg = await startRegistry();
  silent = createServer((s) => {
    sockets.add(s);
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  writeFileSync(keyFile, encryptPrivateKey(generateKeyPair('ecdsa-p256').privateKey, Buffer.from('pw'), { N: 32768 }));
});
after(async () => {
  for (const s of sockets) s.destroy();
  await new Promise((r) => silent.close(r));
  await reg.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('signet sign -t', () => {
  for (const newFormat of [true, false]) {
    test(`a log that never answers: the deadline ends the command and nothing is pushed (new bundle format: ${newFormat})`, { timeout: 120_000 }, async () => {
      const client = new RegistryClient();
      const repo = { registry: reg.host, repository: `deadline/app-${newFormat}` };
      const img = await pushRandomImage(client, repo, 'v1');
      const log = `127.0.0.1:${(silent.address() as AddressInfo).port}`;
      const start = Date.now();
      const r = await runCli(
        ['sign', '-t', '2s', '--key', keyFile, '--rekor-url', `http://${log}`, `--new-bundle-format=${newFormat}`, '-y', `${reg.host}/${repo.repository}@${img.digest}`],
        { env: { COSIGN_PASSWORD: 'pw', SIGNET_HOME: join(dir, 'home') } },
      );
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`^Error: .*timed out after 2s \\(-t/--timeout\\) while waiting for response headers from ${log}\\n$`));
      assert.ok(Date.now() - start < 30_000);
      // Neither a .sig tag nor a referrers fallback index: the tag list is what it was.
      assert.deepEqual(await client.listTags(repo), ['v1']);
      await client.close();
    });
  }
});
