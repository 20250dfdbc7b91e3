import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { Metadata, MetadataKind } from '@tufjs/models';
import { ensureTufRepository } from '../../../src/server/tuf/index.js';
import { isSignetError } from '../../../src/errors.js';

const DAY = 86_400_000;

describe('server TUF repository', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tuf-repo-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('re-signs only what changed or nears expiry, each role checked by the root', async () => {
    const tdir = join(dir, 'a');
    const a = await ensureTufRepository({ dir: tdir, targets: { 'trusted_root.json': Buffer.from('one') } });
    assert.deepEqual(a.versions, { root: 1, targets: 1, snapshot: 1, timestamp: 1 });
    // Nothing changed: nothing re-signed.
    assert.deepEqual((await ensureTufRepository({ dir: tdir, targets: { 'trusted_root.json': Buffer.from('one') } })).versions, a.versions);
    // A new target: targets, snapshot and timestamp move on; the root (and its keys) stay.
    const b = await ensureTufRepository({ dir: tdir, targets: { 'trusted_root.json': Buffer.from('two'), 'signing_config.v0.2.json': Buffer.from('{}') } });
    assert.deepEqual(b.versions, { root: 1, targets: 2, snapshot: 2, timestamp: 2 });
    // Ten days on, the snapshot (14 days) and the timestamp (7 days) ran low and are re-signed; targets (90 days) stay.
    const c = await ensureTufRepository({ dir: tdir, targets: { 'trusted_root.json': Buffer.from('two'), 'signing_config.v0.2.json': Buffer.from('{}') }, now: new Date(Date.now() + 10 * DAY) });
    assert.deepEqual(c.versions, { root: 1, targets: 2, snapshot: 3, timestamp: 3 });

    const read = (f: string) => JSON.parse(readFileSync(join(c.repoDir, f), 'utf8'));
    const root = Metadata.fromJSON(MetadataKind.Root, read('root.json'));
    root.verifyDelegate('root', root);
    root.verifyDelegate('timestamp', Metadata.fromJSON(MetadataKind.Timestamp, read('timestamp.json')));
    root.verifyDelegate('snapshot', Metadata.fromJSON(MetadataKind.Snapshot, read('3.snapshot.json')));
    const targets = Metadata.fromJSON(MetadataKind.Targets, read('2.targets.json'));
    root.verifyDelegate('targets', targets);
    assert.deepEqual(Object.keys(targets.signed.targets).sort(), ['signing_config.v0.2.json', 'trusted_root.json']);
    assert.equal(readFileSync(join(c.repoDir, 'targets', `${targets.signed.targets['trusted_root.json']!.hashes.sha256}.trusted_root.json`), 'utf8'), 'two');
  });

  test('keys that do not match the published root are refused, not silently replaced', async () => {
    const tdir = join(dir, 'b');
    await ensureTufRepository({ dir: tdir, targets: { 'trusted_root.json': Buffer.from('x') } });
    const other = join(dir, 'c');
    await ensureTufRepository({ dir: other, targets: { 'trusted_root.json': Buffer.from('x') } });
    writeFileSync(join(tdir, 'keys.json'), readFileSync(join(other, 'keys.json')));
    await assert.rejects(ensureTufRepository({ dir: tdir, targets: { 'trusted_root.json': Buffer.from('x') } }), (e) => isSignetError(e, 'CONFLICT') && /does not hold the keys/.test(e.message));
  });
});
