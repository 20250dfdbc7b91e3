/**
 * Pure transparency-log math shared by the log server and client verifiers: RFC 6962 hashing and proofs,
 * C2SP tiles, signed notes and checkpoints, and Rekor v1's SET and IDs. No I/O.
 */
export { EMPTY_ROOT, HASH_SIZE, type Hash, hashEquals, leafHash, nodeHash, rootFromLeafHashes, toHex } from './hash.js';
export { MerkleFrontier, type NodeSink, frontierLevels } from './frontier.js';
export {
  type NodeId,
  type NodeReader,
  type ProofElement,
  consistencyProof,
  consistencyProofNodes,
  frontierFromConsistency,
  inclusionProof,
  inclusionProofNodes,
  isPowerOfTwo,
  proofNodeSet,
  rangeNodes,
  rootFromInclusionProof,
  subtreeHash,
  verifyConsistency,
  verifyInclusion,
} from './proof.js';
export {
  FULL_TILE_BYTES,
  MAX_ENTRY_SIZE,
  TILE_HEIGHT,
  TILE_WIDTH,
  ExpandedTile,
  TileAppender,
  type TileCache,
  type TileId,
  type TilePath,
  type TileWrite,
  buildTile,
  checkTile,
  decodeEntryBundle,
  encodeEntryBundle,
  entriesPath,
  formatTileIndex,
  hashInTile,
  parseTilePath,
  partialTiles,
  tileForNode,
  tileHashes,
  tileNodeReader,
  tilePath,
  tileWidth,
  tilesForNodes,
} from './tiles.js';
export {
  MAX_NOTE_SIGNATURES,
  type NoteSignature,
  type NoteVerifier,
  type ParsedNote,
  noteKeyHash,
  noteKeyId,
  noteKeyIds,
  openNote,
  parseNote,
  signNote,
  signatureLine,
  verifyNote,
} from './note.js';
export { type Checkpoint, type VerifiedCheckpoint, formatCheckpoint, parseCheckpoint, signCheckpoint, verifyCheckpoint } from './checkpoint.js';
export { type JsonValue, canonicalJson, canonicalJsonBytes } from './jcs.js';
export { type SetFields, entryId, entryUuid, logIdFromPublicKey, parseEntryId, setPayload, signSET, verifySET } from './rekor.js';
