// Builds native/log_crypto.node (run by `npm ci` as the install script, or `npm run build:native`).
// The addon only speeds up the transparency log's signature checks; without it Signet falls back to a
// slower pure-TypeScript route, so a failed build warns instead of failing the install. Set
// SIGNET_REQUIRE_NATIVE=1 to make it fail.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const candidates = [
  process.env.npm_config_node_gyp,
  process.env.npm_execpath && join(dirname(process.env.npm_execpath), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
].filter((p) => p && existsSync(p));

function give_up(why) {
  const msg = `signet: the native ECDSA verifier was not built (${why}); the transparency log will verify entries about 5x slower`;
  if (process.env.SIGNET_REQUIRE_NATIVE === '1') {
    console.error(msg);
    process.exit(1);
  }
  console.warn(msg);
  process.exit(0);
}

if (candidates.length === 0) give_up('node-gyp not found; run this through npm');
const r = spawnSync(process.execPath, [candidates[0], 'rebuild', '--directory', here], { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
if (r.status !== 0) {
  process.stderr.write(r.stdout + r.stderr);
  give_up(`node-gyp exited with ${r.status ?? r.signal}`);
}
console.log('signet: built native/build/Release/log_crypto.node');
