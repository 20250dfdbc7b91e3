/**
 * `signet log monitor` against real `signet serve` logs, through a test proxy on 127.0.0.1 that can
 * switch the log behind one URL (the forked log), hide the tiles (Rekor v1 only) or alter the signed
 * checkpoint (a badly signed note). Entries are signed keyless (dev OIDC) and with keys, with Rekor v1
 * and v2 bodies.
 */
import assert from 'node:assert/strict';
import { createPublicKey, createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  MerkleFrontier,
  consistencyProof,
  frontierFromConsistency,
  leafHash,
  rootFromLeafHashes,
  type Hash,
} from '../../src/tlog/index.js';
import {
  LogAlarm,
  generateKeyPair,
  isSignetError,
  loadTrustedRoot,
  monitorRound,
  parseMonitorConfig,
  signBlob,
  signerFromPrivateKey,
  type MonitorEvent,
  entryMatcher,
  parseEntryBody,
} from '../../src/index.js';
import { canonicalizeCreateEntryRequest, canonicalizeProposedEntry } from '../../src/rekor/index.js';
import { dsseV1, ecKey, hashedRekordV2, intotoV2 } from '../rekor/fixtures.js';
import { startServer, type RunningServer } from '../../src/server/serve.js';
import { runCli } from '../helpers/cli.js';
import { httpServer } from '../helpers/peers.js';
import { devToken } from '../helpers/dev-token.js';

const dir = mkdtempSync(join(tmpdir(), 'signet-logwatch-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const file = (name: string): string => join(dir, `${++n}-${name}`);
const env = { SIGNET_HOME: join(dir, 'home'), SIGSTORE_ID_TOKEN: undefined, ACTIONS_ID_TOKEN_REQUEST_URL: undefined };

/** A proxy in front of `target()`: `mode.tiles = false` hides /api/v2/, `mode.note` rewrites signed checkpoints. */
interface Proxy {
  url: string;
  target: string;
  tiles: boolean;
  note?: (note: string) => string;
  /** Answers 404 to the requests it picks. */
  fail?: (url: string) => boolean;
  /** Rewrites answers with entries: entry bundles and v1 retrieve answers. */
  entries?: (url: string, body: Buffer) => Buffer;
}

async function startProxy(target: string): Promise<Proxy> {
  const p: Proxy = { url: '', target, tiles: true };
  const host = await httpServer(async (req, res) => {
    try {
      if ((!p.tiles && req.url!.startsWith('/api/v2/')) || p.fail?.(req.url!)) {
        res.writeHead(404, { 'content-type': 'application/json' }).end('{"message":"not here"}');
        return;
      }
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const r = await fetch(p.target + req.url, {
        method: req.method!,
        headers: { 'content-type': req.headers['content-type'] ?? 'application/json', accept: req.headers.accept ?? '*/*' },
        ...(chunks.length ? { body: Buffer.concat(chunks) } : {}),
      });
      let body: Buffer = Buffer.from(await r.arrayBuffer());
      if (p.note && r.status === 200 && req.url === '/api/v2/checkpoint') body = Buffer.from(p.note(body.toString('utf8')));
      if (p.note && r.status === 200 && req.url === '/api/v1/log') {
        const d = JSON.parse(body.toString('utf8')) as { signedTreeHead: string };
        d.signedTreeHead = p.note(d.signedTreeHead);
        body = Buffer.from(JSON.stringify(d));
      }
      if (p.entries && r.status === 200 && (req.url!.startsWith('/api/v2/tile/entries/') || req.url === '/api/v1/log/entries/retrieve')) body = p.entries(req.url!, body);
      res.writeHead(r.status, { 'content-type': r.headers.get('content-type') ?? 'application/octet-stream' }).end(body);
    } catch (e) {
      res.writeHead(502).end(String(e));
    }
  });
  p.url = `http://${host}`;
  return p;
}

type Event = { type: string; [k: string]: unknown };
const events = (stdout: string): Event[] =>
  stdout
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as Event);
const matchIndexes = (ev: Event[]): number[] => ev.filter((e) => e.type === 'match').map((e) => (e.entry as { index: number }).index);


describe('log monitor: checkpoints, identities, restarts', () => {
  let srv: RunningServer;
  let proxy: Proxy;
  const otherKey = signerFromPrivateKey(generateKeyPair('ecdsa-p256').privateKey);
  const watchedKeyPriv = generateKeyPair('ecdsa-p256').privateKey;
  const watchedSigner = signerFromPrivateKey(watchedKeyPriv);
  const fingerprint = createHash('sha256').update(createPublicKey(watchedKeyPriv).export({ format: 'der', type: 'spki' })).digest('hex');
  let config: string;
  let blob = 0;
  const keyless: { alice?: number; bob?: number } = {};

  const logKeyed = async (s: typeof otherKey, api: 1 | 2 = 1): Promise<number> => {
    const r = await signBlob(Buffer.from(`blob ${blob++} ${Date.now()}`), { signer: s, tlog: { url: srv.url, majorApiVersion: api } });
    return Number(r.tlogEntries[0]!.logIndex);
  };
  const logKeyless = async (email: string): Promise<number> => {
    const artifact = file('artifact.txt');
    writeFileSync(artifact, `keyless ${blob++}\n`);
    const bundle = file('bundle.json');
    const r = await runCli(['sign-blob', '--signing-config', srv.signingConfigPath, '--identity-token', await devToken(srv.url, email), '--bundle', bundle, artifact], { env });
    assert.equal(r.code, 0, r.stderr);
    return Number((JSON.parse(readFileSync(bundle, 'utf8')) as { verificationMaterial: { tlogEntries: Array<{ logIndex: string }> } }).verificationMaterial.tlogEntries[0]!.logIndex);
  };
  const monitor = (state: string, extra: string[] = [], url = proxy.url) =>
    runCli(['log', 'monitor', '--url', url, '--trusted-root', srv.trustedRootPath, '--state', state, '--once', ...extra], { env });

  before(async () => {
    srv = await startServer({ dataDir: join(dir, 'srv'), listen: '127.0.0.1:0', requestLog: false, devOidc: true });
    proxy = await startProxy(srv.url);
    config = file('watch.yaml');
    writeFileSync(
      config,
      [
        '# rekor-monitor shape',
        'monitoredValues:',
        '  certIdentities:',
        '    - certSubject: ^alice@example\\.com$',
        '      issuers:',
        `        - ^${srv.url.replace(/\./g, '\\.')}/oidc$`,
        '  fingerprints:',
        `    - ${fingerprint}`,
        'outputIdentities: ignored.txt',
      ].join('\n') + '\n',
    );
  });
  after(() => srv.close());

  test('a fresh state starts at the current checkpoint; a watched identity and key are reported once, with their index; others are not', async () => {
    await logKeyed(otherKey);
    const state = file('state.json');
    const first = await monitor(state, ['--config', config]);
    assert.equal(first.code, 0, first.stderr);
    const ev1 = events(first.stdout);
    assert.deepEqual(matchIndexes(ev1), []);
    const cp = ev1.find((e) => e.type === 'checkpoint')!;
    assert.equal(cp.size, (await (await fetch(srv.url + '/api/v1/log')).json() as { treeSize: number }).treeSize);
    assert.ok(existsSync(state));

    const alice = await logKeyless('alice@example.com');
    keyless.alice = alice;
    keyless.bob = await logKeyless('bob@example.com');
    await logKeyed(otherKey);
    const keyV1 = await logKeyed(watchedSigner, 1);
    const keyV2 = await logKeyed(watchedSigner, 2);
    const second = await monitor(state, ['--config', config]);
    assert.equal(second.code, 0, second.stderr);
    const ev2 = events(second.stdout);
    assert.deepEqual(matchIndexes(ev2), [alice, keyV1, keyV2]);
    const a = ev2.find((e) => e.type === 'match' && (e.entry as { index: number }).index === alice)!.entry as Record<string, unknown>;
    assert.deepEqual(a.identity, { subject: 'alice@example.com', issuer: srv.url + '/oidc' });
    assert.equal(a.kind, 'hashedrekord');
    assert.match(String(a.digest), /^sha256:[0-9a-f]{64}$/);
    assert.match(String(a.uuid), /^[0-9a-f]{64}$/);
    assert.deepEqual((a.matches as Array<{ type: string }>).map((m) => m.type), ['certIdentity']);
    const k = ev2.find((e) => e.type === 'match' && (e.entry as { index: number }).index === keyV2)!.entry as Record<string, unknown>;
    assert.equal(k.apiVersion, '0.0.2');
    assert.equal(k.fingerprint, fingerprint);
    // Nothing new: nothing reported again.
    const third = await monitor(state, ['--config', config]);
    assert.equal(third.code, 0, third.stderr);
    assert.deepEqual(matchIndexes(events(third.stdout)), []);
  });

  test('subjects and Fulcio extensions (the OIDC issuer) match keyless entries, each reported once with every rule it met', async () => {
    const cfg = file('ext.yaml');
    writeFileSync(cfg, `monitoredValues:\n  subjects: ['^bob@']\n  fulcioExtensions:\n    issuer: ['${srv.url}/oidc']\n`);
    const r = await monitor(file('ext.json'), ['--config', cfg, '--from-index', '0']);
    assert.equal(r.code, 0, r.stderr);
    const ev = events(r.stdout).filter((e) => e.type === 'match').map((e) => e.entry as { index: number; matches: Array<{ type: string; rule: string; value: string }> });
    assert.deepEqual(ev.map((e) => e.index), [keyless.alice, keyless.bob]);
    assert.deepEqual(ev[0]!.matches, [{ type: 'extension', rule: '1.3.6.1.4.1.57264.1.8', value: `${srv.url}/oidc` }]);
    assert.deepEqual(ev[1]!.matches.map((m) => m.type), ['subject', 'extension']);
    assert.equal(ev[1]!.matches[0]!.value, 'bob@example.com');
  });

  test('restarts resume from the state file: entries added between rounds are neither missed nor repeated (tiles and Rekor v1)', async () => {
    for (const tiles of [true, false]) {
      proxy.tiles = tiles;
      const state = file(`resume-${tiles}.json`);
      const start = (await (await fetch(srv.url + '/api/v1/log')).json() as { treeSize: number }).treeSize;
      const want: number[] = [];
      const seen: number[] = [];
      const r0 = await monitor(state, ['--config', config]);
      assert.equal(r0.code, 0, r0.stderr);
      for (let round = 0; round < 3; round++) {
        for (let i = 0; i < 3; i++) {
          await logKeyed(otherKey);
          want.push(await logKeyed(watchedSigner, i === 1 ? 2 : 1));
        }
        const r = await monitor(state, ['--config', config]);
        assert.equal(r.code, 0, r.stderr);
        seen.push(...matchIndexes(events(r.stdout)));
      }
      assert.deepEqual(seen, want);
      const st = JSON.parse(readFileSync(state, 'utf8')) as { api: string; nextIndex: number; size: number };
      assert.equal(st.api, tiles ? 'tiles' : 'v1');
      assert.equal(st.nextIndex, st.size);
      assert.ok(st.size >= start + 18);
      // --from-index with a new state reads the past too, through either API.
      const past = await monitor(file('past.json'), ['--config', config, '--from-index', String(start)]);
      assert.equal(past.code, 0, past.stderr);
      assert.deepEqual(matchIndexes(events(past.stdout)), want);
    }
    proxy.tiles = true;
  });

  test('a badly signed checkpoint is an alarm: exit 3, one stderr line, a JSON event, the state untouched', async () => {
    for (const tiles of [true, false]) {
      proxy.tiles = tiles;
      const state = file('state-sig.json');
      assert.equal((await monitor(state)).code, 0);
      await logKeyed(otherKey);
      const before = readFileSync(state);
      // Another root hash under the log's signature.
      proxy.note = (note) => {
        const lines = note.split('\n');
        const root = Buffer.from(lines[2]!, 'base64');
        root[0]! ^= 1;
        lines[2] = root.toString('base64');
        return lines.join('\n');
      };
      const r = await monitor(state);
      assert.equal(r.code, 3, r.stderr);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, /ALARM: the checkpoint of .* does not verify/);
      const ev = events(r.stdout);
      assert.equal(ev.length, 1);
      assert.equal(ev[0]!.type, 'alarm');
      assert.equal(ev[0]!.reason, 'bad-checkpoint');
      assert.deepEqual(readFileSync(state), before);
      proxy.note = undefined;
      const ok = await monitor(state);
      assert.equal(ok.code, 0, ok.stderr);
    }
    proxy.tiles = true;
  });

  test('entries that do not make up the signed tree are an alarm (one changed body, tiles and Rekor v1)', async () => {
    for (const tiles of [true, false]) {
      proxy.tiles = tiles;
      const state = file('state-entries.json');
      assert.equal((await monitor(state, ['--config', config])).code, 0);
      await logKeyed(otherKey);
      await logKeyed(watchedSigner);
      const before = readFileSync(state);
      proxy.entries = (url, body) => {
        if (url.startsWith('/api/v2/')) {
          // the last entry's last byte of JSON: still a body, another leaf
          const out = Buffer.from(body);
          out[out.length - 2] = 0x20;
          return out;
        }
        const list = JSON.parse(body.toString('utf8')) as Array<Record<string, { body: string }>>;
        const e = Object.values(list[list.length - 1]!)[0]!;
        e.body = Buffer.from(Buffer.from(e.body, 'base64').toString('utf8').replace('"hashedrekord"', '"hashedrekord" ')).toString('base64');
        return Buffer.from(JSON.stringify(list));
      };
      const r = await monitor(state, ['--config', config]);
      proxy.entries = undefined;
      assert.equal(r.code, 3, r.stderr);
      const alarm = events(r.stdout).find((e) => e.type === 'alarm')!;
      assert.equal(alarm.reason, 'entries');
      assert.deepEqual(matchIndexes(events(r.stdout)), [], 'nothing is reported from a range that did not verify');
      assert.deepEqual(readFileSync(state), before);
      const ok = await monitor(state, ['--config', config]);
      assert.equal(ok.code, 0, ok.stderr);
      assert.equal(matchIndexes(events(ok.stdout)).length, 1);
    }
    proxy.tiles = true;
  });

  test('--from-index at the small and power-of-two sizes reads the same entries through tiles and Rekor v1', async () => {
    let everything: number[] | undefined;
    for (const tiles of [true, false]) {
      proxy.tiles = tiles;
      for (const from of [0, 1, 2, 3, 4, 8]) {
        const r = await monitor(file('from.json'), ['--config', config, '--from-index', String(from)]);
        assert.equal(r.code, 0, r.stderr);
        const got = matchIndexes(events(r.stdout));
        everything ??= got;
        assert.deepEqual(got, everything.filter((i) => i >= from), `from ${from}, tiles ${tiles}`);
      }
    }
    proxy.tiles = true;
    assert.ok(everything!.length > 3);
  });

  test('a round works through a backlog in steps, each stored once reported: a failure midway loses nothing and repeats nothing', async () => {
    const trustedRoot = await loadTrustedRoot(srv.trustedRootPath);
    const watch = parseMonitorConfig(readFileSync(config, 'utf8')).monitoredValues;
    const everything = matchIndexes(events((await monitor(file('all.json'), ['--config', config, '--from-index', '0'])).stdout));
    for (const tiles of [true, false]) {
      proxy.tiles = tiles;
      const statePath = file('steps.json');
      const seen: number[] = [];
      const emit = (e: MonitorEvent): void => {
        if (e.type === 'match') seen.push(e.entry.index);
      };
      // Entry reads fail after a few: the steps before are kept.
      let reads = 0;
      proxy.fail = (url) => (url.startsWith('/api/v2/tile/entries/') || url === '/api/v1/log/entries/retrieve') && ++reads > 4;
      await assert.rejects(monitorRound({ url: proxy.url, trustedRoot, statePath, fromIndex: 0, watch, step: 3, emit }), (e) => isSignetError(e) && !(e instanceof LogAlarm));
      proxy.fail = undefined;
      const mid = JSON.parse(readFileSync(statePath, 'utf8')) as { nextIndex: number; size: number };
      assert.ok(mid.nextIndex > 0 && mid.nextIndex < mid.size, JSON.stringify(mid));
      assert.deepEqual(seen, everything.filter((i) => i < mid.nextIndex));
      const r = await monitorRound({ url: proxy.url, trustedRoot, statePath, watch, step: 3, emit });
      assert.deepEqual(seen, everything);
      assert.equal(r.entriesRead, mid.size - mid.nextIndex);
      const done = JSON.parse(readFileSync(statePath, 'utf8')) as { nextIndex: number; size: number };
      assert.equal(done.nextIndex, done.size);
    }
    proxy.tiles = true;
  });

  test('bad inputs: clear errors, non-zero exits, the state file untouched', async () => {
    const noRoot = await runCli(['log', 'monitor', '--url', proxy.url, '--state', file('s.json'), '--once'], { env });
    assert.equal(noRoot.code, 2);
    assert.match(noRoot.stderr, /needs --trusted-root/);
    const missingRoot = await runCli(['log', 'monitor', '--url', proxy.url, '--trusted-root', join(dir, 'nope.json'), '--state', file('s.json'), '--once'], { env });
    assert.equal(missingRoot.code, 1);
    assert.match(missingRoot.stderr, /nope\.json/);
    assert.equal(missingRoot.stderr.trim().split('\n').length, 1);

    const corrupt = file('corrupt.json');
    writeFileSync(corrupt, '{"version":1,"url":');
    const c = await monitor(corrupt);
    assert.equal(c.code, 1);
    assert.match(c.stderr, /state file .* is corrupt/);
    assert.equal(readFileSync(corrupt, 'utf8'), '{"version":1,"url":');
    const dirState = join(dir, 'a-directory');
    mkdirSync(dirState);
    const unreadable = await monitor(dirState);
    assert.equal(unreadable.code, 1);
    assert.match(unreadable.stderr, /is a directory/);

    for (const [text, why] of [
      ['monitoredValues:\n  certIdentity:\n    - certSubject: x\n', /unknown key "certIdentity"/],
      ['monitoredValues:\n  certIdentities:\n    - certSubject: "(unclosed"\n', /not a valid regular expression/],
      ['monitoredValues:\n  fingerprints: [abc]\n', /fingerprints\[0\]/],
      ['monitoredValues: {}\n', /nothing to watch/],
      ['[not: yaml', /not valid YAML/],
    ] as const) {
      const cfg = file('bad.yaml');
      writeFileSync(cfg, text);
      const r = await monitor(file('s.json'), ['--config', cfg]);
      assert.equal(r.code, 2, `${text}: ${r.stderr}`);
      assert.match(r.stderr, why);
    }

    const downState = file('s.json');
    const d = await monitor(downState, [], 'http://127.0.0.1:1');
    assert.equal(d.code, 1);
    assert.match(d.stderr, /cannot reach the transparency log/);
    assert.equal(existsSync(downState), false);

    const both = await monitor(file('s.json'), ['--interval', '1m']);
    assert.equal(both.code, 2);
  });
});

describe('log monitor: a forked log', () => {
  let a: RunningServer;
  let b: RunningServer;
  let proxy: Proxy;
  const signer = signerFromPrivateKey(generateKeyPair('ecdsa-p256').privateKey);
  let blob = 0;
  const logTo = (s: RunningServer) => signBlob(Buffer.from(`fork blob ${blob++}`), { signer, tlog: { url: s.url, majorApiVersion: 1 } });
  const monitor = (state: string) => runCli(['log', 'monitor', '--url', proxy.url, '--trusted-root', a.trustedRootPath, '--state', state, '--once'], { env });
  const size = async (s: RunningServer) => ((await (await fetch(s.url + '/api/v1/log')).json()) as { treeSize: number }).treeSize;

  before(async () => {
    const first = await startServer({ dataDir: join(dir, 'fork-a'), listen: '127.0.0.1:0', requestLog: false });
    for (let i = 0; i < 5; i++) await logTo(first);
    await first.close();
    // The second log starts from a copy of the first one's data directory: same key, same history so far.
    cpSync(join(dir, 'fork-a'), join(dir, 'fork-b'), { recursive: true });
    [a, b] = await Promise.all([
      startServer({ dataDir: join(dir, 'fork-a'), listen: '127.0.0.1:0', requestLog: false }),
      startServer({ dataDir: join(dir, 'fork-b'), listen: '127.0.0.1:0', requestLog: false }),
    ]);
    proxy = await startProxy(a.url);
  });
  after(() => Promise.all([a.close(), b.close()]));

  test('the copy agrees until the two diverge; the monitor that saw one detects the fork against the other', async () => {
    // Same history so far: the copy is consistent with what was seen of the first.
    const common = file('fork-common.json');
    assert.equal((await monitor(common)).code, 0);
    proxy.target = b.url;
    const agree = await monitor(common);
    assert.equal(agree.code, 0, agree.stderr);
    for (const tiles of [true, false]) {
      proxy.tiles = tiles;
      proxy.target = a.url;
      const state = file(`fork-${tiles}.json`);
      const r0 = await monitor(state);
      assert.equal(r0.code, 0, r0.stderr);
      // Both take different entries; the monitor sees A's, then is shown B's tree.
      proxy.target = a.url;
      await logTo(a);
      await logTo(a);
      assert.equal((await monitor(state)).code, 0);
      while ((await size(b)) < (await size(a))) await logTo(b);
      const saved = readFileSync(state);
      proxy.target = b.url;
      const same = await monitor(state);
      assert.equal(same.code, 3, same.stderr);
      assert.equal(events(same.stdout)[0]!.reason, 'fork');
      assert.match(same.stderr, /^Error: ALARM: .* two different trees of size \d+/);
      await logTo(b);
      const larger = await monitor(state);
      assert.equal(larger.code, 3, larger.stderr);
      const ev = events(larger.stdout);
      assert.equal(ev.length, 1);
      assert.equal(ev[0]!.reason, 'inconsistent');
      assert.equal(larger.stderr.trim().split('\n').length, 1);
      assert.deepEqual(readFileSync(state), saved);
      // Equal sizes again for the next pass.
      while ((await size(a)) < (await size(b))) await logTo(a);
    }
  });
});

describe('frontierFromConsistency and the config parser', () => {
  test('the compact range read out of a consistency proof is the old tree\'s, for every pair of sizes up to 40', () => {
    const leaves: Hash[] = Array.from({ length: 40 }, (_, i) => leafHash(Buffer.from(`leaf ${i}`)));
    const level = (l: number, i: number): Hash => rootFromLeafHashes(leaves.slice(i * 2 ** l, (i + 1) * 2 ** l));
    for (let s2 = 2; s2 <= 40; s2++) {
      for (let s1 = 1; s1 < s2; s1++) {
        const proof = consistencyProof(s1, s2, level);
        const want = MerkleFrontier.empty();
        want.appendAll(leaves.slice(0, s1));
        const root1 = rootFromLeafHashes(leaves.slice(0, s1));
        const root2 = rootFromLeafHashes(leaves.slice(0, s2));
        const got = frontierFromConsistency(s1, s2, proof, root1, root2);
        assert.deepEqual(got.map((h) => Buffer.from(h).toString('hex')), want.nodes().map((h) => Buffer.from(h).toString('hex')), `${s1}→${s2}`);
        if ((s1 & (s1 - 1)) !== 0) assert.deepEqual(frontierFromConsistency(s1, s2, proof, undefined, root2), got);
        const bad = proof.map((h) => Buffer.from(h));
        if (bad[0]) {
          bad[0][0]! ^= 1;
          assert.throws(() => frontierFromConsistency(s1, s2, bad, undefined, root2), (e) => isSignetError(e, 'TLOG'));
        }
      }
    }
  });

  test('dsse and intoto bodies (v1) and hashedrekord v2 bodies: digest and signer key read, fingerprints matched', () => {
    const key = ecKey();
    const fp = createHash('sha256').update(key.spkiDer).digest('hex');
    const payload = Buffer.from(JSON.stringify({ _type: 'https://in-toto.io/Statement/v1', subject: [{ name: 'a', digest: { sha256: 'ab'.repeat(32) } }], predicateType: 'x', predicate: {} }));
    const matcher = entryMatcher({ certIdentities: [], subjects: [], fingerprints: [fp], oidMatchers: [] });
    const bodies = [
      canonicalizeProposedEntry(dsseV1(key, payload)).body,
      canonicalizeProposedEntry(intotoV2(key, payload)).body,
      canonicalizeCreateEntryRequest(hashedRekordV2(key)).body,
    ];
    const payloadDigest = `sha256:${createHash('sha256').update(payload).digest('hex')}`;
    bodies.forEach((body, i) => {
      const p = parseEntryBody(body);
      assert.equal(p.signers.length, 1);
      const m = matcher.match(i, body)!;
      assert.equal(m.fingerprint, fp);
      assert.deepEqual(m.matches, [{ type: 'fingerprint', rule: fp, value: fp }]);
      if (i < 2) assert.equal(m.digest, payloadDigest);
      else assert.match(m.digest!, /^sha256:[0-9a-f]{64}$/);
    });
    assert.deepEqual([parseEntryBody(bodies[0]!).kind, parseEntryBody(bodies[1]!).kind, parseEntryBody(bodies[2]!).apiVersion], ['dsse', 'intoto', '0.0.2']);
    assert.equal(entryMatcher({ certIdentities: [], subjects: [], fingerprints: ['00'.repeat(32)], oidMatchers: [] }).match(0, bodies[0]!), undefined);
  });

  test('rekor-monitor\'s config shapes', () => {
    const c = parseMonitorConfig(
      [
        'startIndex: 7',
        'monitoredValues:',
        '  certIdentities:',
        '    - certSubject: user@domain\\.com',
        '  subjects: [subject@domain\\.com]',
        '  fingerprints: ["SHA256:' + 'AB'.repeat(32) + '"]',
        '  fulcioExtensions:',
        '    build-config-uri: [https://example.com/build.yml]',
        '  customExtensions:',
        '    - objectIdentifier: 1.3.6.1.4.1.57264.1.9',
        '      extensionValues: https://example.com/signer',
        '  oidMatchers:',
        '    - objectIdentifier: [1, 3, 6, 1, 4, 1, 57264, 1, 12]',
        '      extensionValues: [https://github.com/o/r]',
      ].join('\n'),
    );
    assert.equal(c.startIndex, 7);
    assert.deepEqual(c.monitoredValues.certIdentities, [{ certSubject: 'user@domain\\.com', issuers: [] }]);
    assert.deepEqual(c.monitoredValues.fingerprints, ['ab'.repeat(32)]);
    assert.deepEqual(
      c.monitoredValues.oidMatchers.map((m) => m.objectIdentifier),
      ['1.3.6.1.4.1.57264.1.12', '1.3.6.1.4.1.57264.1.9', '1.3.6.1.4.1.57264.1.18'],
    );
    assert.throws(() => parseMonitorConfig('monitoredValues:\n  fulcioExtensions:\n    no-such: [x]\n'), (e) => isSignetError(e, 'USAGE') && /no-such/.test((e as Error).message));
  });
});
