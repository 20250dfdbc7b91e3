// The inclusion proof of a log entry, checked in the browser with WebCrypto: the leaf hash of the body
// (RFC 6962), the path up to the root (RFC 9162 §2.1.3.2), the checkpoint naming that root and size, and
// the checkpoint's signature with the log's key (ECDSA P-256/384/521 or Ed25519).
import { base64Bytes, children, hex, readTlv, spkiInfo } from './der.js';

const te = new TextEncoder();

export async function sha256(bytes) {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

const equal = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

export const leafHash = (body) => sha256(concat(Uint8Array.of(0), body));
const nodeHash = (l, r) => sha256(concat(Uint8Array.of(1), l, r));

/** The root an inclusion proof leads to, or throws with the reason. Indices stay exact below 2^53. */
export async function rootFromInclusionProof(leaf, index, size, path) {
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || index < 0 || index >= size) throw new Error(`log index ${index} is not inside a tree of size ${size}`);
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of path) {
    if (p.length !== 32) throw new Error('a proof hash is not 32 bytes');
    if (sn === 0) throw new Error('the proof has more hashes than the tree has levels');
    if (fn % 2 === 1 || fn === sn) {
      r = await nodeHash(p, r);
      while (fn % 2 === 0 && fn !== 0) {
        fn = Math.floor(fn / 2);
        sn = Math.floor(sn / 2);
      }
    } else {
      r = await nodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  if (sn !== 0) throw new Error('the proof has fewer hashes than the tree has levels');
  return r;
}

/** A C2SP checkpoint in a signed note: origin, size, root hash, and its signature lines. */
export function parseCheckpoint(note) {
  if (typeof note !== 'string' || !note.endsWith('\n')) throw new Error('the checkpoint does not end with a newline');
  const sep = note.lastIndexOf('\n\n');
  if (sep < 0) throw new Error('the checkpoint has no signatures');
  const text = note.slice(0, sep + 1);
  const lines = text.slice(0, -1).split('\n');
  if (lines.length < 3) throw new Error('the checkpoint has fewer than three lines');
  const [origin, sizeLine, rootLine] = lines;
  if (!/^[0-9]{1,16}$/.test(sizeLine) || !Number.isSafeInteger(Number(sizeLine))) throw new Error('the checkpoint tree size is not a number');
  let rootHash;
  try {
    rootHash = base64Bytes(rootLine);
  } catch {
    throw new Error('the checkpoint root hash is not base64');
  }
  if (rootHash.length !== 32) throw new Error('the checkpoint root hash is not 32 bytes');
  const signatures = [];
  for (const line of note.slice(sep + 2, -1).split('\n')) {
    const m = /^\u2014 (\S+) ([A-Za-z0-9+/]+={0,2})$/.exec(line);
    if (!m) throw new Error('a checkpoint signature line is malformed');
    const raw = base64Bytes(m[2]);
    if (raw.length < 5) throw new Error('a checkpoint signature is too short');
    signatures.push({ name: m[1], keyId: raw.subarray(0, 4), signature: raw.subarray(4) });
  }
  return { origin, size: Number(sizeLine), rootHash, text, signatures };
}

const HASH_FOR_CURVE = { 'P-256': 'SHA-256', 'P-384': 'SHA-384', 'P-521': 'SHA-512' };
const COORD = { 'P-256': 32, 'P-384': 48, 'P-521': 66 };

/** ECDSA DER (r, s) → WebCrypto's fixed-width r || s. */
function derToP1363(sig, size) {
  const seq = readTlv(sig, 0);
  if (seq.tag !== 0x30 || seq.end !== sig.length) throw new Error('the ECDSA signature is not DER');
  const ints = children(sig, seq);
  if (ints.length !== 2 || ints.some((n) => n.tag !== 0x02)) throw new Error('the ECDSA signature is not two integers');
  const out = new Uint8Array(size * 2);
  ints.forEach((n, k) => {
    let v = sig.subarray(n.start, n.end);
    while (v.length > 0 && v[0] === 0) v = v.subarray(1);
    if (v.length > size) throw new Error('an ECDSA signature integer is too large');
    out.set(v, k * size + size - v.length);
  });
  return out;
}

/** The log key from its SPKI: the WebCrypto key, how to verify with it, and the note key IDs it signs under. */
export async function importLogKey(spkiDer, name) {
  const info = spkiInfo(spkiDer);
  const spkiHash = await sha256(spkiDer);
  if (info.type === 'ECDSA') {
    if (!HASH_FOR_CURVE[info.curve]) throw new Error(`the log key's curve ${info.curve} is not supported`);
    const key = await crypto.subtle.importKey('spki', spkiDer, { name: 'ECDSA', namedCurve: info.curve }, false, ['verify']);
    return {
      info,
      spkiHash,
      keyIds: [spkiHash.subarray(0, 4)],
      verify: (sig, data) => crypto.subtle.verify({ name: 'ECDSA', hash: HASH_FOR_CURVE[info.curve] }, key, derToP1363(sig, COORD[info.curve]), data),
    };
  }
  if (info.type === 'Ed25519') {
    const key = await crypto.subtle.importKey('spki', spkiDer, { name: 'Ed25519' }, false, ['verify']);
    const c2sp = await sha256(concat(te.encode(name + '\n'), Uint8Array.of(1), spkiDer.subarray(spkiDer.length - 32)));
    return { info, spkiHash, keyIds: [c2sp.subarray(0, 4), spkiHash.subarray(0, 4)], verify: (sig, data) => crypto.subtle.verify({ name: 'Ed25519' }, key, sig, data) };
  }
  throw new Error(`the log key type ${info.type} is not supported in the browser`);
}

/** Checks the checkpoint's signature by the log key; returns the checkpoint or throws with the reason. */
export async function verifyCheckpoint(note, logKey) {
  const cp = parseCheckpoint(note);
  const name = cp.origin.split(' - ')[0].trim();
  const mine = cp.signatures.filter((s) => s.name === name && logKey.keyIds.some((id) => equal(id, s.keyId)));
  if (mine.length === 0) throw new Error(`the checkpoint carries no signature by the log key (name ${name})`);
  for (const s of mine) {
    let ok = false;
    try {
      ok = await logKey.verify(s.signature, te.encode(cp.text));
    } catch {
      ok = false;
    }
    if (ok) return cp;
  }
  throw new Error("the checkpoint's signature does not verify with the log key");
}

/**
 * Every check of one v1 log entry against the log key. Returns { ok, steps: [{ label, ok, detail }] };
 * the first failing step says why. Nothing the server says is taken on trust but the key itself.
 */
export async function verifyEntryInclusion({ uuid, body, logIndex, logID, proof }, logKey) {
  const steps = [];
  const step = (label, ok, detail) => {
    steps.push({ label, ok, detail });
    return ok;
  };
  const done = () => ({ ok: steps.every((s) => s.ok), steps });
  const leaf = await leafHash(body);
  if (!step('Entry UUID is the leaf hash of the body', hex(leaf) === uuid.slice(-64).toLowerCase(), `SHA-256(0x00 || body) = ${hex(leaf)}`)) return done();
  if (typeof logID === 'string' && !step('Entry names this log (log ID = SHA-256 of its key)', logID.toLowerCase() === hex(logKey.spkiHash), `log ID ${logID}`)) return done();
  if (!proof || typeof proof !== 'object') {
    step('The entry carries an inclusion proof', false, 'no inclusionProof in the answer');
    return done();
  }
  if (!step('Proof is for this entry', proof.logIndex === logIndex, `proof index ${proof.logIndex}, entry index ${logIndex}`)) return done();
  let path;
  try {
    if (!Array.isArray(proof.hashes) || proof.hashes.some((h) => typeof h !== 'string' || !/^[0-9a-fA-F]{64}$/.test(h))) throw new Error('the proof hashes are not 32-byte hex');
    path = proof.hashes.map((h) => Uint8Array.from(h.match(/../g), (x) => parseInt(x, 16)));
    const root = await rootFromInclusionProof(leaf, proof.logIndex, proof.treeSize, path);
    if (!step('Proof hashes lead to the root hash', hex(root) === String(proof.rootHash).toLowerCase(), `computed ${hex(root)} over ${path.length} hashes at tree size ${proof.treeSize}; proof says ${proof.rootHash}`)) return done();
  } catch (e) {
    step('Proof hashes lead to the root hash', false, e.message);
    return done();
  }
  let cp;
  try {
    cp = await verifyCheckpoint(proof.checkpoint, logKey);
    step('Checkpoint is signed by the log key', true, `${cp.origin}, signed by ${cp.signatures.map((s) => s.name).join(', ')}`);
  } catch (e) {
    step('Checkpoint is signed by the log key', false, e.message);
    return done();
  }
  step('Checkpoint commits to that root and tree size', cp.size === proof.treeSize && hex(cp.rootHash) === String(proof.rootHash).toLowerCase(), `checkpoint: size ${cp.size}, root ${hex(cp.rootHash)}`);
  return done();
}
