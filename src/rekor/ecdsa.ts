/**
 * The log server's ECDSA-over-digest checks off the event loop. The verifier itself is keys/ecdsa.ts (the
 * native addon, or the one TypeScript fallback); this module only batches the checks asked for in one
 * turn of the event loop into one libuv thread-pool job of the addon (see perTurnBatcher).
 */
import type { PublicKeyInfo } from '../keys/index.js';
import { availableParallelism } from 'node:os';
import { perTurnBatcher } from '../batching.js';
import { verifyEcdsaDigestOf } from '../keys/ecdsa.js';
import { nativeCrypto } from '../native.js';

export { ecdsaBackend } from '../keys/ecdsa.js';

const addon = nativeCrypto.addon;

const verifyBatched = addon
  ? perTurnBatcher<{ spki: Buffer; digest: Uint8Array; sig: Uint8Array }, boolean>(async (jobs) => {
      const v = await addon.verifyMany(
        jobs.map((j) => j.spki),
        jobs.map((j) => j.digest),
        jobs.map((j) => j.sig),
      );
      return Array.from(v, (x) => x === 1);
    }, { maxChunks: availableParallelism() })
  : undefined;

/**
 * verifyEcdsaDigest for servers, off the event loop: checks asked for in one turn go to the thread pool
 * as one batch, each key as its DER (a key parsed without node:crypto never needs a KeyObject). Without
 * the addon it runs in place (keys/ecdsa.ts's fallback), with the same verdicts.
 */
export function verifyEcdsaDigestBatched(key: PublicKeyInfo, digest: Uint8Array, sigDer: Uint8Array): Promise<boolean> {
  // Not an async function: the batcher's promise is handed back as it is, one promise per check fewer.
  if (!verifyBatched) return Promise.resolve(verifyEcdsaDigestOf(key, digest, sigDer));
  return key.kind.startsWith('ecdsa-') ? verifyBatched({ spki: key.spkiDer, digest, sig: sigDer }) : Promise.resolve(false);
}
