// Builds native/log_crypto.node (run by `npm ci` as the install script, or `npm run build:native`).
// The addon only speeds up the transparency log (signature checks, SETs); without it Signet falls back to a
// slower pure-TypeScript route, so a failed build warns instead of failing the install. Set
// SIGNET_REQUIRE_NATIVE=1 to make it fail.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
// npm's own node-gyp: named by npm when this runs as an npm script, else found beside a global npm.
const candidates = [
  process.env.npm_config_node_gyp,
  process.env.npm_execpath && join(dirname(process.env.npm_execpath), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  '/usr/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js',
  '/usr/local/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js',
].filter((p) => p && existsSync(p));

function giveUp(why) {
  const msg = `signet: the native ECDSA verifier was not built (${why}); the transparency log will verify entries about 5x slower`;
  if (process.env.SIGNET_REQUIRE_NATIVE === '1') {
    console.error(msg);
    process.exit(1);
  }
  console.warn(msg);
  process.exit(0);
}

if (candidates.length === 0) giveUp('node-gyp not found; run npm run build:native');
// Node-API is the same in every Node version, so the system's Node headers serve when npm names none
// (node-gyp would otherwise try to download them).
const nodedir = process.env.npm_config_nodedir || (existsSync('/usr/include/node/node_api.h') ? '/usr' : undefined);
const args = [candidates[0], 'rebuild', '--directory', here, ...(nodedir ? [`--nodedir=${nodedir}`] : [])];
const r = spawnSync(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
if (r.status !== 0) {
  process.stderr.write(r.stdout + r.stderr);
  giveUp(`node-gyp exited with ${r.status ?? r.signal}`);
}
console.log('signet: built native/build/Release/log_crypto.node');
