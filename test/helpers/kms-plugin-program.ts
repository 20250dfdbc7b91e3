/**
 * A KMS plug-in for the tests, speaking sigstore's cliplugin protocol v1 over a local key file: the key
 * resource ID is the path of a PKCS#8 PEM private key. Installed on PATH as `sigstore-kms-NAME` by
 * `installKmsPlugin`. SIGNET_TEST_PLUGIN_MODE makes it misbehave: `error` (an errorMessage), `crash`
 * (exit 3, nothing on stdout), `garbage` (not JSON), `badsig` (a signature over other bytes), `hang`
 * (never answers). SIGNET_TEST_PLUGIN_LOG names a file each run appends its argv to (one JSON line).
 */
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';

const HASHES: Record<number, string | null> = { 0: null, 5: 'sha256', 6: 'sha384', 7: 'sha512' };

function respond(obj: unknown): never {
  process.stdout.write(JSON.stringify(obj));
  process.exit(0);
}

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

function publicPem(key: KeyObject): string {
  return createPublicKey(key).export({ type: 'spki', format: 'pem' }).toString();
}

async function main(): Promise<void> {
  const [version, json] = process.argv.slice(2);
  if (process.env.SIGNET_TEST_PLUGIN_LOG) appendFileSync(process.env.SIGNET_TEST_PLUGIN_LOG, JSON.stringify(process.argv.slice(2)) + '\n');
  const mode = process.env.SIGNET_TEST_PLUGIN_MODE ?? '';
  if (mode === 'hang') await new Promise(() => setInterval(() => undefined, 1000));
  if (mode === 'crash') {
    process.stderr.write('plug-in: something went wrong\n');
    process.exit(3);
  }
  if (mode === 'garbage') {
    process.stdout.write('this is not JSON');
    process.exit(0);
  }
  if (version !== '1') respond({ errorMessage: `unsupported protocol version ${version}` });
  const args = JSON.parse(json!) as {
    methodName: string;
    initOptions: { protocolVersion: string; keyResourceID: string; hashFunc: number };
    createKey?: { algorithm: string };
    signMessage?: { signOptions?: { hashFunc?: number } };
  };
  if (mode === 'error') respond({ errorMessage: `no such key ${args.initOptions.keyResourceID}` });
  const path = args.initOptions.keyResourceID;
  switch (args.methodName) {
    case 'defaultAlgorithm':
      // Go plug-ins without json tags answer with Go's field names: the client must not mind the case.
      respond({ defaultAlgorithm: { DefaultAlgorithm: 'ecdsa-p256-sha256' } });
    case 'createKey': {
      if (existsSync(path)) respond({ errorMessage: `${path} already exists` });
      const alg = args.createKey!.algorithm;
      const key =
        alg === 'ecdsa-p256-sha256' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey
        : alg === 'ecdsa-p384-sha384' ? generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey
        : alg === 'rsa-2048' ? generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey
        : respond({ errorMessage: `unsupported algorithm ${alg}` });
      writeFileSync(path, key.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
      respond({ createKey: { PublicKeyPEM: Buffer.from(publicPem(key)).toString('base64') } });
    }
    case 'publicKey': {
      if (!existsSync(path)) respond({ errorMessage: `no key at ${path}` });
      respond({ publicKey: { publicKeyPEM: Buffer.from(publicPem(createPrivateKey(readFileSync(path)))).toString('base64') } });
    }
    case 'signMessage': {
      const message = await readStdin();
      const key = createPrivateKey(readFileSync(path));
      const hash = HASHES[args.signMessage?.signOptions?.hashFunc ?? args.initOptions.hashFunc];
      const signed = mode === 'badsig' ? Buffer.concat([message, Buffer.from('!')]) : message;
      respond({ signMessage: { signature: sign(hash ?? null, signed, key).toString('base64') } });
    }
    default:
      respond({ errorMessage: `unsupported method: ${args.methodName}` });
  }
}

void main();
