/**
 * Log monitoring as a library user calls it (src/index.ts): signed tree heads and entries verified,
 * checkpoints remembered between runs, and a log that shows two histories caught — against real
 * `signet serve` logs (two of them sharing a key and origin play the forked log).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  checkpointPath,
  generateKeyPair,
  isSignetError,
  loadTrustedRoot,
  readStoredCheckpoint,
  RekorV1Client,
  signBlob,
  signerFromPrivateKey,
  trustedRootFromLogKey,
  verifyLogEntry,
  verifyLogInfo,
  type TrustedRoot,
} from '../../src/index.js';
import { startServer, type RunningServer } from '../../src/server/serve.js';

describe('log monitoring through the library', () => {
  const dir = mkdtempSync(join(tmpdir(), 'signet-logmon-'));
  const signer = signerFromPrivateKey(generateKeyPair('ecdsa-p256').privateKey);
  const logKey = generateKeyPair('ecdsa-p256').privateKey;
  let a: RunningServer;
  let b: RunningServer;
  let ca: RekorV1Client;
  let cb: RekorV1Client;
  let root: TrustedRoot;
  let n = 0;
  const others: RunningServer[] = [];
  const env = { SIGNET_HOME: join(dir, 'home') };
  const logTo = async (s: RunningServer) => signBlob(Buffer.from(`blob ${n++}`), { signer, tlog: { url: s.url, majorApiVersion: 1 } });

  before(async () => {
    const opts = { listen: '127.0.0.1:0', requestLog: false as const, logKey, origin: 'fork.test' };
    [a, b] = await Promise.all([startServer({ ...opts, dataDir: join(dir, 'a') }), startServer({ ...opts, dataDir: join(dir, 'b') })]);
    ca = new RekorV1Client({ baseUrl: a.url });
    cb = new RekorV1Client({ baseUrl: b.url });
    root = await loadTrustedRoot(a.trustedRootPath);
  });
  after(async () => {
    await Promise.all([a.close(), b.close(), ...others.map((s) => s.close())]);
    rmSync(dir, { recursive: true, force: true });
  });

  test('the signed tree head matches the log\'s size and root; another log\'s root does not verify it', async () => {
    await logTo(a);
    const li = await ca.logInfo();
    const cp = verifyLogInfo(li, root);
    assert.equal(cp.size, li.treeSize);
    const otherRoot = await trustedRootFromLogKey(new RekorV1Client({ baseUrl: (await startOther()).url }));
    assert.throws(() => verifyLogInfo(li, otherRoot), (e) => isSignetError(e));
  });

  test('entries verify; the checkpoint is remembered and later ones are checked for consistency with it', async () => {
    const first = await verifyLogEntry(ca, await ca.getByIndex(0), root, env);
    assert.deepEqual(first.consistency, {});
    assert.ok(first.verified.includes('inclusionProof'));
    const stored = await readStoredCheckpoint(checkpointPath(root.tlogs[0]!.logId.toString('hex'), env));
    assert.equal(stored?.size, first.treeSize);
    await logTo(a);
    await logTo(a);
    const later = await verifyLogEntry(ca, await ca.getByIndex(2), root, env);
    assert.equal(later.treeSize, first.treeSize + 2);
    assert.deepEqual(later.consistency, { previousSize: first.treeSize });
    // Trust on first use of the key the log serves gives the same answers.
    const tofu = await verifyLogEntry(ca, await ca.getByIndex(1), await trustedRootFromLogKey(ca), env);
    assert.deepEqual(tofu.consistency, { previousSize: later.treeSize });
  });

  test('a log that shows another history (same key, same origin) is caught, at the same size and at a larger one', async () => {
    const size = (await ca.logInfo()).treeSize;
    while ((await cb.logInfo()).treeSize < size) await logTo(b);
    await assert.rejects(verifyLogEntry(cb, await cb.getByIndex(0), root, env), (e) => isSignetError(e, 'TLOG') && /two different trees/.test((e as Error).message));
    await logTo(b);
    await assert.rejects(verifyLogEntry(cb, await cb.getByIndex(0), root, env), (e) => isSignetError(e));
  });

  test('a stored checkpoint that is corrupt, or no longer signed, is refused', async () => {
    const path = checkpointPath(root.tlogs[0]!.logId.toString('hex'), env);
    const good = readFileSync(path, 'utf8');
    writeFileSync(path, '{not json');
    await assert.rejects(verifyLogEntry(ca, await ca.getByIndex(0), root, env), (e) => isSignetError(e, 'MALFORMED') && /delete it to start over/.test((e as Error).message));
    const doc = JSON.parse(good) as { checkpoint: string };
    writeFileSync(path, JSON.stringify({ ...doc, checkpoint: doc.checkpoint.replace(/\n\n/, '\nextra\n\n') }));
    await assert.rejects(verifyLogEntry(ca, await ca.getByIndex(0), root, env), (e) => isSignetError(e));
    writeFileSync(path, good);
  });

  async function startOther(): Promise<RunningServer> {
    const s = await startServer({ dataDir: join(dir, `other${others.length}`), listen: '127.0.0.1:0', requestLog: false });
    others.push(s);
    return s;
  }
});
