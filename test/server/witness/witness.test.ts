/**
 * The witness (c2sp.org/tlog-witness) against real `signet serve` logs: it cosigns a growing log, keeps
 * its record across restarts, and refuses rollbacks, forks (a second server started from a copy of the
 * first's data dir), unknown logs, bad signatures and malformed requests with the spec's status codes.
 * Cosignatures are checked with a verifier written here from the spec.
 */
import assert from 'node:assert/strict';
import { createHash, createPublicKey, generateKeyPairSync, verify, type KeyObject } from 'node:crypto';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type RunningServer, startServer } from '../../../src/server/serve.js';
import { addCheckpointBody } from '../../../src/server/witness/index.js';
import { type RunningWitness, startWitness } from '../../../src/server/witness/server.js';
import { signCheckpoint } from '../../../src/tlog/index.js';
import { runCli } from '../../helpers/cli.js';
import { ecKey, hashedRekordV1 } from '../../rekor/fixtures.js';

const dirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'signet-witness-'));
  dirs.push(d);
  return d;
}
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const NAME = 'witness.test/w1';
const witnessKey = generateKeyPairSync('ed25519');
const submitter = ecKey();

/** The spec's check of a response: one line per cosignature, key ID and Ed25519 over the v1 message. */
function checkCosignature(body: string, checkpointText: string, pub: KeyObject = witnessKey.publicKey): number {
  const m = /^\u2014 (\S+) (\S+)\n$/.exec(body);
  assert.ok(m, `one signature line, got ${JSON.stringify(body)}`);
  assert.equal(m[1], NAME);
  const raw = Buffer.from(m[2]!, 'base64');
  const id = createHash('sha256').update(Buffer.concat([Buffer.from(`${NAME}\n`), Buffer.of(4), pub.export({ format: 'der', type: 'spki' }).subarray(12)])).digest().subarray(0, 4);
  assert.deepEqual(raw.subarray(0, 4), id);
  const time = raw.readBigUInt64BE(4);
  assert.ok(verify(null, Buffer.from(`cosignature/v1\ntime ${time}\n${checkpointText}`), pub, raw.subarray(12)), 'the cosignature verifies');
  return Number(time);
}

const textOf = (note: string): string => note.slice(0, note.lastIndexOf('\n\n') + 1);

async function addEntries(srv: RunningServer, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const r = await fetch(`${srv.url}/api/v1/log/entries`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(hashedRekordV1(submitter)) });
    assert.equal(r.status, 201, await r.text());
  }
}

async function checkpointOf(srv: RunningServer): Promise<{ note: string; size: number }> {
  const note = await (await fetch(`${srv.url}/api/v2/checkpoint`)).text();
  return { note, size: Number(note.split('\n')[1]) };
}

async function proof(srv: RunningServer, first: number, last: number): Promise<Buffer[]> {
  if (first === 0 || first === last) return [];
  const r = await fetch(`${srv.url}/api/v1/log/proof?firstSize=${first}&lastSize=${last}`);
  assert.equal(r.status, 200, await r.clone().text());
  return ((await r.json()) as { hashes: string[] }).hashes.map((h) => Buffer.from(h, 'hex'));
}

async function add(w: RunningWitness, body: string): Promise<{ status: number; type: string | null; text: string }> {
  const r = await fetch(`${w.url}/add-checkpoint`, { method: 'POST', body });
  return { status: r.status, type: r.headers.get('content-type'), text: await r.text() };
}

describe('witness', () => {
  let log: RunningServer;
  let logDir: string;
  let witness: RunningWitness;
  let witnessDir: string;
  let origin: string;
  let logsFile: string;

  before(async () => {
    logDir = tmp();
    log = await startServer({ dataDir: logDir, listen: '127.0.0.1:0', requestLog: false });
    await addEntries(log, 3);
    const cp = await checkpointOf(log);
    origin = cp.note.split('\n')[0]!;
    const pem = await (await fetch(`${log.url}/api/v1/log/publicKey`)).text();
    logsFile = join(tmp(), 'logs.json');
    writeFileSync(logsFile, JSON.stringify({ logs: [{ origin, key: pem }] }));
    witnessDir = tmp();
    const { parseWitnessedLogs } = await import('../../../src/server/witness/index.js');
    witness = await startWitness({ name: NAME, key: witnessKey.privateKey, logs: parseWitnessedLogs(JSON.stringify({ logs: [{ origin, key: pem }] }), 'logs'), dataDir: witnessDir, listen: '127.0.0.1:0', requestLog: false });
  });
  after(async () => {
    await witness?.close();
    await log?.close();
  });

  test('cosigns a log as it grows, each step proven consistent, and refuses to go back', async () => {
    const first = await checkpointOf(log);
    const r1 = await add(witness, addCheckpointBody(0, [], first.note));
    assert.equal(r1.status, 200, r1.text);
    checkCosignature(r1.text, textOf(first.note));

    // The same request again: the witness now holds size 3, not 0.
    const again = await add(witness, addCheckpointBody(0, [], first.note));
    assert.equal(again.status, 409);
    assert.equal(again.type, 'text/x.tlog.size');
    assert.equal(again.text, `${first.size}\n`);

    await addEntries(log, 5);
    const second = await checkpointOf(log);
    const r2 = await add(witness, addCheckpointBody(first.size, await proof(log, first.size, second.size), second.note));
    assert.equal(r2.status, 200, r2.text);
    checkCosignature(r2.text, textOf(second.note));

    // Rolling back to the first checkpoint: its size is below the one held.
    const back = await add(witness, addCheckpointBody(second.size, [], first.note));
    assert.equal(back.status, 400, back.text);
    const stale = await add(witness, addCheckpointBody(first.size, await proof(log, first.size, first.size), first.note));
    assert.equal(stale.status, 409);
    assert.equal(stale.text, `${second.size}\n`);
    // Re-submitting the held checkpoint is cosigned again (same size, same root).
    assert.equal((await add(witness, addCheckpointBody(second.size, [], second.note))).status, 200);
  });

  test('a wrong consistency proof is 422, and nothing is stored', async () => {
    const held = await checkpointOf(log);
    await addEntries(log, 2);
    const next = await checkpointOf(log);
    const good = await proof(log, held.size, next.size);
    const bad = good.map((h, i) => (i === 0 ? Buffer.alloc(32, 7) : h));
    const r = await add(witness, addCheckpointBody(held.size, bad, next.note));
    assert.equal(r.status, 422, r.text);
    assert.equal((await witness.witness.latest(origin))!.size, held.size);
    assert.equal((await add(witness, addCheckpointBody(held.size, good, next.note))).status, 200);
  });

  test('a forked log (a second server from a copy of the data dir) is refused', async () => {
    await log.close();
    const forkDir = tmp();
    cpSync(logDir, forkDir, { recursive: true });
    log = await startServer({ dataDir: logDir, listen: '127.0.0.1:0', requestLog: false });
    const fork = await startServer({ dataDir: forkDir, listen: '127.0.0.1:0', requestLog: false });
    try {
      const base = await checkpointOf(log);
      assert.equal(base.size, (await witness.witness.latest(origin))!.size);
      await addEntries(log, 2);
      await addEntries(fork, 3); // different entries from the same tree
      const a = await checkpointOf(log);
      const b = await checkpointOf(fork);
      assert.equal((await add(witness, addCheckpointBody(base.size, await proof(log, base.size, a.size), a.note))).status, 200);
      // The fork proves consistency with its own past: the witness now holds the other branch.
      const stale = await add(witness, addCheckpointBody(base.size, await proof(fork, base.size, b.size), b.note));
      assert.equal(stale.status, 409);
      const forked = await add(witness, addCheckpointBody(a.size, await proof(fork, a.size, b.size), b.note));
      assert.equal(forked.status, 422, forked.text);
      await addEntries(fork, 0);
    } finally {
      await fork.close();
    }
  });

  test('unknown origin 404, a checkpoint no trusted key signed 403, malformed requests 400', async () => {
    const held = (await witness.witness.latest(origin))!;
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const rootHash = held.rootHash;
    const unknown = signCheckpoint({ origin: 'elsewhere.example', size: 1, rootHash }, 'elsewhere.example', other.privateKey);
    assert.equal((await add(witness, addCheckpointBody(0, [], unknown))).status, 404);
    const forged = signCheckpoint({ origin, size: held.size + 1, rootHash }, origin.split(' - ')[0]!, other.privateKey);
    const r = await add(witness, addCheckpointBody(held.size, [], forged));
    assert.equal(r.status, 403, r.text);
    for (const body of ['', 'old x\n\n' + held.note, `old ${held.size}\nnot-base64!\n\n${held.note}`, `old 01\n\n${held.note}`, `old ${held.size}\n${held.note}`, `old 0\n${Buffer.alloc(32).toString('base64')}\n\n${held.note}`]) {
      const res = await add(witness, body);
      assert.equal(res.status, 400, `${JSON.stringify(body.slice(0, 40))}: ${res.status} ${res.text}`);
    }
    assert.equal((await witness.witness.latest(origin))!.size, held.size);
  });

  test('racing requests from the same old size: exactly one is cosigned, the other sees 409', async () => {
    const held = (await witness.witness.latest(origin))!;
    await addEntries(log, 1);
    const a = await checkpointOf(log);
    await addEntries(log, 1);
    const b = await checkpointOf(log);
    const [ra, rb] = await Promise.all([
      add(witness, addCheckpointBody(held.size, await proof(log, held.size, a.size), a.note)),
      add(witness, addCheckpointBody(held.size, await proof(log, held.size, b.size), b.note)),
    ]);
    assert.deepEqual([ra.status, rb.status].sort(), [200, 409]);
    const kept = (await witness.witness.latest(origin))!.size;
    assert.equal(kept, ra.status === 200 ? a.size : b.size);
  });

  test('the record survives a restart of the witness', async () => {
    const held = (await witness.witness.latest(origin))!;
    await witness.close();
    const { parseWitnessedLogs } = await import('../../../src/server/witness/index.js');
    const pem = await (await fetch(`${log.url}/api/v1/log/publicKey`)).text();
    witness = await startWitness({ name: NAME, key: witnessKey.privateKey, logs: parseWitnessedLogs(JSON.stringify({ logs: [{ origin, key: pem }] }), 'logs'), dataDir: witnessDir, listen: '127.0.0.1:0', requestLog: false });
    const r = await add(witness, addCheckpointBody(0, [], held.note));
    assert.equal(r.status, 409);
    assert.equal(r.text, `${held.size}\n`);
  });
});

describe('signet witness (CLI)', () => {
  test('--generate-key writes an encrypted Ed25519 key and prints its vkey; --print-vkey reads it back', async () => {
    const dir = tmp();
    const key = join(dir, 'w.key');
    const env = { COSIGN_PASSWORD: 'pw' };
    const gen = await runCli(['witness', '--generate-key', '--key', key, '--name', NAME], { env });
    assert.equal(gen.code, 0, gen.stderr);
    const vkey = gen.stdout.trim();
    assert.match(vkey, /^witness\.test\/w1\+[0-9a-f]{8}\+/);
    assert.equal(Buffer.from(vkey.slice(vkey.indexOf('+', vkey.indexOf('+') + 1) + 1), 'base64')[0], 4, 'a cosignature/v1 key (type 0x04)');
    const again = await runCli(['witness', '--print-vkey', '--key', key, '--name', NAME], { env });
    assert.equal(again.stdout.trim(), vkey);
    const pub = createPublicKey(await import('node:fs').then((fs) => fs.readFileSync(join(dir, 'w.pub'))));
    assert.equal(pub.asymmetricKeyType, 'ed25519');
    const twice = await runCli(['witness', '--generate-key', '--key', key, '--name', NAME], { env });
    assert.notEqual(twice.code, 0);
    assert.match(twice.stderr, /already exists/);
    const wrongPw = await runCli(['witness', '--print-vkey', '--key', key, '--name', NAME], { env: { COSIGN_PASSWORD: 'nope' } });
    assert.notEqual(wrongPw.code, 0);
  });

  test('bad flags and files: one clear line each', async () => {
    const dir = tmp();
    const ec = join(dir, 'ec.pem');
    writeFileSync(ec, generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const ed = join(dir, 'ed.pem');
    writeFileSync(ed, witnessKey.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const badLogs = join(dir, 'logs.json');
    writeFileSync(badLogs, '{"logs": [{"origin": "x"}]}');
    const cases: Array<[string[], RegExp]> = [
      [['witness', '--name', NAME], /needs --key/],
      [['witness', '--key', ed], /needs --name/],
      [['witness', '--key', ec, '--name', NAME, '--print-vkey'], /must be Ed25519/],
      [['witness', '--key', ed, '--name', NAME, '--data-dir', dir], /needs --logs/],
      [['witness', '--key', ed, '--name', NAME, '--logs', badLogs, '--data-dir', dir], /logs\[0\]\.key must be/],
    ];
    for (const [args, re] of cases) {
      const r = await runCli(args);
      assert.notEqual(r.code, 0, args.join(' '));
      assert.match(r.stderr, re, args.join(' '));
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    }
  });
});
