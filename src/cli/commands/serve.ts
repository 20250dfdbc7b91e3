/**
 * `signet serve`: the whole private Sigstore on one port — transparency log (Rekor v1 + v2 APIs, tiles),
 * Fulcio-compatible CA, RFC 3161 TSA, and with --dev-oidc a development OIDC issuer. Prints the URL, the
 * trusted root and the signing config paths on stdout; request logs go to stderr as JSON lines.
 * SIGTERM/SIGINT stop accepting connections, finish in-flight requests and their batches, and close the log.
 */
import type { KeyObject } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { Command, Option } from 'commander';
import { SignetError } from '../../errors.js';
import { ioError } from '../../fsutil.js';
import { decodePemBlocks, decryptPrivateKey, importPrivateKeyPem, isEncryptedKeyLabel } from '../../keys/index.js';
import { loadOidcConfig } from '../../server/oidc/index.js';
import { DEFAULT_POOL_NICE } from '../../server/http/verify-pool.js';
import { defaultMaxConnections, descriptorLimit } from '../../server/http/limits.js';
import { DEFAULT_CACHED_TILES, TILES_PER_MIB } from '../../server/log/tile-store.js';
import { startServer } from '../../server/serve.js';
import { parseWitnessFlag } from '../../server/witness/cosigning.js';
import { examples, parseBool, ui } from '../common.js';
import { readPassword } from '../password.js';

interface ServeFlags {
  dataDir?: string;
  listen: string;
  storage?: string;
  logKey?: string;
  origin?: string;
  publicUrl?: string;
  oidcIssuers?: string;
  devOidc?: boolean;
  devOidcInsecureAnyAddress?: boolean;
  maxConnections?: string;
  caKey?: string;
  caCert?: string;
  tsaKey?: string;
  tsaChain?: string;
  rekorApiVersion: string;
  poolNice: string;
  tileCache?: string;
  witness?: string[];
  witnessQuorum?: string;
}

/** A private key from a PEM file: plain PKCS#8/SEC1/PKCS#1, or cosign's encrypted format (COSIGN_PASSWORD). */
export async function loadKeyFile(path: string, what: string): Promise<KeyObject> {
  let text: string;
  try {
    text = await fs.readFile(path, 'utf8');
  } catch (e) {
    throw ioError(`cannot read ${what} ${path}`, e);
  }
  const label = decodePemBlocks(text)[0]?.label;
  if (label === undefined) throw new SignetError('KEY_FORMAT', `${path} does not contain a PEM private key`);
  try {
    if (isEncryptedKeyLabel(label)) return decryptPrivateKey(text, await readPassword({ confirm: false, prompt: `Enter password for the ${what}: ` }));
    return importPrivateKeyPem(text);
  } catch (e) {
    if (e instanceof SignetError) throw new SignetError(e.code, `${path}: ${e.message}`, { cause: e });
    throw e;
  }
}

async function readPemFile(path: string, what: string): Promise<string> {
  try {
    return await fs.readFile(path, 'utf8');
  } catch (e) {
    throw ioError(`cannot read ${what} ${path}`, e);
  }
}

/** A key and its chain come together; one without the other is a mistake we name. */
function pair(key: string | undefined, chain: string | undefined, keyFlag: string, chainFlag: string): void {
  if ((key === undefined) !== (chain === undefined)) {
    throw new SignetError('USAGE', key === undefined ? `${chainFlag} needs ${keyFlag}` : `${keyFlag} needs ${chainFlag} (its certificate chain)`);
  }
}

export function registerServe(program: Command): void {
  const cmd = program
    .command('serve')
    .description(
      'run a private Sigstore on one port: transparency log (Rekor v1 /api/v1/log/..., Rekor v2 write API and C2SP tiles), ' +
        'Fulcio-compatible CA (/api/v2/signingCert), RFC 3161 TSA (/api/v1/timestamp), with --dev-oidc a development ' +
        'OIDC issuer (/oidc), /metrics and /ping; writes DIR/trusted_root.json and DIR/signing_config.json for clients',
    )
    .addOption(new Option('--data-dir <dir>', 'directory for all state (log tiles and index, log.key, ca/, tsa/, oidc/, trusted_root.json, signing_config.json); created if missing').env('SIGNET_DATA_DIR'))
    .addOption(new Option('--listen <host:port>', 'address to listen on ("[::1]:3000", ":3000" for all interfaces, port 0 for any free port)').default('127.0.0.1:3000').env('SIGNET_LISTEN'))
    .addOption(
      new Option('--storage <url>', 'log storage: "embedded" (files + SQLite under --data-dir) or a postgres://user:pass@host/db URL shared by several servers')
        .env('SIGNET_STORAGE'),
    )
    .addOption(
      new Option('--log-key <file>', 'PEM private key that signs checkpoints and SETs (PKCS#8, EC, or cosign encrypted with COSIGN_PASSWORD); default: an ECDSA P-256 key generated once into DIR/log.key')
        .env('SIGNET_LOG_KEY'),
    )
    .addOption(
      new Option(
        '--origin <origin>',
        'checkpoint origin line, fixed when the log is created; default "<host of --public-url> - <treeID>". The note signature name is the part before " - "; sigstore-js only accepts checkpoints whose name occurs in the log URL, so it must name the host clients use. An existing log keeps its origin',
      ).env('SIGNET_ORIGIN'),
    )
    .addOption(
      new Option(
        '--public-url <url>',
        'URL clients reach this server at, written into trusted_root.json and signing_config.json; default http://<listen host>:<port>, where a wildcard listen address (0.0.0.0, ::) is replaced by this machine\'s hostname',
      ).env('SIGNET_PUBLIC_URL'),
    )
    .addOption(
      new Option(
        '--oidc-issuers <file>',
        'JSON file of OIDC issuers the CA trusts, in Fulcio\'s config shape ({"OIDCIssuers": {"<url>": {"IssuerURL", "ClientID", "Type"}}, "MetaIssuers": {...}}); without it (and without --dev-oidc) the CA refuses every token',
      ).env('SIGNET_OIDC_ISSUERS'),
    )
    .addOption(
      new Option(
        '--dev-oidc [bool]',
        'also run a development OIDC issuer under /oidc that mints tokens for any email to loopback clients (signet dev token); for local trials only, never on a shared server: refused unless --listen and --public-url are loopback',
      )
        // A value, so that SIGNET_DEV_OIDC=0 or =false means off: a plain flag is on whenever its variable is set.
        .env('SIGNET_DEV_OIDC')
        .argParser(parseBool)
        .preset('true'),
    )
    .addOption(
      new Option(
        '--dev-oidc-insecure-any-address',
        'INSECURE: allow --dev-oidc on a non-loopback --listen or --public-url, where anyone who reaches the server (directly or through a proxy without forwarding headers) can mint a token and get certificates for any email; command line only (no environment variable), so it is never on by accident',
      ),
    )
    .addOption(
      new Option(
        '--max-connections <n>',
        'most client connections open at once; more are closed on arrival so that the file descriptors left keep the log writing; default: the process\'s descriptor limit (ulimit -n) minus 10% (at least 128) kept for the log\'s files and database connections',
      ).env('SIGNET_MAX_CONNECTIONS'),
    )
    .addOption(new Option('--ca-key <file>', 'CA issuing key (PEM, or cosign encrypted with COSIGN_PASSWORD); needs --ca-cert; default: a chain created once in DIR/ca').env('SIGNET_CA_KEY'))
    .addOption(new Option('--ca-cert <file>', 'PEM chain for --ca-key: the issuing certificate first, up to a self-signed root').env('SIGNET_CA_CERT'))
    .addOption(new Option('--tsa-key <file>', 'timestamp authority signing key (PEM, or cosign encrypted with COSIGN_PASSWORD); needs --tsa-chain; default: created once in DIR/tsa').env('SIGNET_TSA_KEY'))
    .addOption(new Option('--tsa-chain <file>', 'PEM chain for --tsa-key, leaf first; the leaf needs the critical timeStamping EKU').env('SIGNET_TSA_CHAIN'))
    .addOption(
      new Option(
        '--rekor-api-version <n>',
        'highest Rekor API version signing_config.json offers: 1, or 2 to list the v2 API too (clients pick the highest; v2 entries carry no integrated time, so keyless signing then relies on the TSA)',
      )
        .choices(['1', '2'])
        .default('1')
        .env('SIGNET_REKOR_API_VERSION'),
    )
    .addOption(
      new Option(
        '--pool-nice <n>',
        'how many nice steps (0..19, Linux) below the event loop the threads run that verify log submissions and sign SETs: the event loop is the one serial stage of a write, so on a busy machine it goes first; 0 for equal priority',
      )
        .default(String(DEFAULT_POOL_NICE))
        .env('SIGNET_POOL_NICE'),
    )
    .addOption(
      new Option(
        '--tile-cache <MiB>',
        `memory for full tiles read from disk and checked against the tree (embedded storage): reads of them skip the file; random reads of a log's tiles go faster the larger the share held (all level-0 tiles of 1M entries take 31 MiB) (default: ${DEFAULT_CACHED_TILES / TILES_PER_MIB})`,
      ).env('SIGNET_TILE_CACHE'),
    )
    .addOption(
      new Option(
        '--witness <url,vkey>',
        'a C2SP witness that cosigns the log\'s checkpoints (repeatable): its URL and its cosignature/v1 key (signet witness --print-vkey). The checkpoint served at /api/v2/checkpoint is then the newest one a witness cosigned, with the cosignature lines',
      ).argParser((v: string, prev: string[] | undefined) => [...(prev ?? []), v]),
    )
    .addOption(
      new Option(
        '--witness-quorum <n>',
        'make every write wait until a checkpoint covering it is cosigned by N of the --witness witnesses, and answer with that checkpoint (bundles then carry the cosignatures); off by default: it adds a witness round trip to each write (503 after 30 s without a quorum; the entry stays in the log)',
      ).env('SIGNET_WITNESS_QUORUM'),
    )
    .action(async (flags: ServeFlags) => {
      if (!flags.dataDir) throw new SignetError('USAGE', 'serve needs --data-dir DIR');
      pair(flags.caKey, flags.caCert, '--ca-key', '--ca-cert');
      pair(flags.tsaKey, flags.tsaChain, '--tsa-key', '--tsa-chain');
      if (!/^[0-9]{1,2}$/.test(flags.poolNice) || Number(flags.poolNice) > 19) throw new SignetError('USAGE', `--pool-nice must be an integer 0..19, got "${flags.poolNice}"`);
      let maxConnections: number | undefined;
      if (flags.maxConnections !== undefined) {
        if (!/^[0-9]{1,9}$/.test(flags.maxConnections) || Number(flags.maxConnections) < 1) {
          throw new SignetError('USAGE', `--max-connections must be a positive integer, got "${flags.maxConnections}"`);
        }
        maxConnections = Number(flags.maxConnections);
      }
      let cachedTiles: number | undefined;
      if (flags.tileCache !== undefined) {
        if (!/^[0-9]{1,7}$/.test(flags.tileCache) || Number(flags.tileCache) < 1) throw new SignetError('USAGE', `--tile-cache must be a whole number of MiB, at least 1, got "${flags.tileCache}"`);
        if (flags.storage && flags.storage !== 'embedded') throw new SignetError('USAGE', '--tile-cache applies to the embedded storage: a PostgreSQL log keeps its tiles as rows, not files');
        cachedTiles = Number(flags.tileCache) * TILES_PER_MIB;
      }
      const witnesses = (flags.witness ?? []).map(parseWitnessFlag);
      let witnessQuorum: number | undefined;
      if (flags.witnessQuorum !== undefined) {
        if (!/^[0-9]{1,3}$/.test(flags.witnessQuorum) || Number(flags.witnessQuorum) < 1) throw new SignetError('USAGE', `--witness-quorum must be a positive integer, got "${flags.witnessQuorum}"`);
        witnessQuorum = Number(flags.witnessQuorum);
        if (witnessQuorum > witnesses.length) throw new SignetError('USAGE', `--witness-quorum ${witnessQuorum} needs at least that many --witness flags (got ${witnesses.length})`);
      }
      if (flags.devOidcInsecureAnyAddress && !flags.devOidc) throw new SignetError('USAGE', '--dev-oidc-insecure-any-address needs --dev-oidc');
      const logKey = flags.logKey ? await loadKeyFile(flags.logKey, 'log key') : undefined;
      const oidcIssuers = flags.oidcIssuers ? await loadOidcConfig(flags.oidcIssuers) : undefined;
      const caKey = flags.caKey ? await loadKeyFile(flags.caKey, 'CA key') : undefined;
      const caCert = flags.caCert ? await readPemFile(flags.caCert, 'CA certificate chain') : undefined;
      const tsaKey = flags.tsaKey ? await loadKeyFile(flags.tsaKey, 'TSA key') : undefined;
      const tsaChain = flags.tsaChain ? await readPemFile(flags.tsaChain, 'TSA certificate chain') : undefined;
      const srv = await startServer({
        dataDir: flags.dataDir,
        listen: flags.listen,
        ...(flags.publicUrl ? { publicUrl: flags.publicUrl } : {}),
        ...(flags.storage ? { storage: flags.storage } : {}),
        ...(logKey ? { logKey } : {}),
        ...(flags.origin ? { origin: flags.origin } : {}),
        ...(oidcIssuers ? { oidcIssuers } : {}),
        devOidc: !!flags.devOidc,
        ...(flags.devOidcInsecureAnyAddress ? { devOidcInsecureAnyAddress: true } : {}),
        ...(maxConnections !== undefined ? { maxConnections } : {}),
        ...(cachedTiles !== undefined ? { cachedTiles } : {}),
        ...(caKey && caCert ? { caKey, caCert } : {}),
        ...(tsaKey && tsaChain ? { tsaKey, tsaChain } : {}),
        rekorApiVersion: flags.rekorApiVersion === '2' ? 2 : 1,
        poolNice: Number(flags.poolNice),
        ...(witnesses.length > 0 ? { witnesses, witnessQuorum: witnessQuorum ?? 1, waitForWitnesses: witnessQuorum !== undefined } : {}),
      });
      ui.out(`Listening on ${srv.url}\nTrusted root: ${srv.trustedRootPath}\nSigning config: ${srv.signingConfigPath}\nTUF repository: ${srv.url}/tuf (root ${srv.tufRootPath})\n`);
      ui.info(`Log explorer (search, entries, proofs checked in the browser) at ${srv.url}/`);
      if (srv.devIssuer && flags.devOidcInsecureAnyAddress) {
        ui.warn(`--dev-oidc-insecure-any-address: anyone who can reach ${srv.url} can mint a token for any email address at ${srv.devIssuer.issuerUrl}/token and get certificates for it`);
      }
      const limit = descriptorLimit();
      if (maxConnections !== undefined && limit !== undefined && maxConnections > defaultMaxConnections(limit)) {
        ui.warn(`--max-connections ${maxConnections} leaves too few of the process's ${limit} file descriptors for the log's own files: with that many connections open, writes can fail (raise ulimit -n or lower the limit)`);
      }
      if (srv.devIssuer) ui.info(`Development OIDC issuer at ${srv.devIssuer.issuerUrl} (loopback clients can mint tokens: signet dev token --server ${srv.url} --email ADDRESS)`);
      else if (!oidcIssuers) ui.info('No OIDC issuer is configured: the CA refuses every token (use --oidc-issuers FILE or --dev-oidc)');
      const { ecdsaBackend } = await import('../../rekor/ecdsa.js');
      if (ecdsaBackend.name !== 'native') ui.info(`Log submissions are verified without the native ECDSA addon, about 5x slower: ${ecdsaBackend.why ?? ''}`);
      await new Promise<void>((resolve, reject) => {
        let stopping = false;
        const stop = (sig: string): void => {
          if (stopping) return;
          stopping = true;
          ui.info(`${sig}: finishing in-flight requests`);
          srv.close().then(resolve, reject);
        };
        process.once('SIGTERM', () => stop('SIGTERM'));
        process.once('SIGINT', () => stop('SIGINT'));
      });
    });
  examples(cmd, [
    'signet serve --data-dir /var/lib/signet --dev-oidc',
    'ulimit -n 65536 && signet serve --data-dir /var/lib/signet --listen :3000 --max-connections 50000 --oidc-issuers issuers.json',
    'signet serve --data-dir /var/lib/signet --listen 0.0.0.0:3000 --public-url https://sigstore.example.com --oidc-issuers issuers.json',
    'COSIGN_PASSWORD=... signet serve --data-dir ./log --log-key cosign.key',
    'signet serve --data-dir ./node1 --storage postgres://signet:secret@db.internal/signet --listen :3000',
    'signet serve --data-dir ./sig --ca-key ca.key --ca-cert ca-chain.pem --tsa-key tsa.key --tsa-chain tsa-chain.pem --oidc-issuers issuers.json',
    'signet sign-blob --signing-config /var/lib/signet/signing_config.json --bundle out.sigstore.json artifact.bin',
    'signet serve --data-dir ./log --witness http://127.0.0.1:3100,witness.example.com/w1+6a2b3c4d+BHx... --witness-quorum 1',
  ]);
}
