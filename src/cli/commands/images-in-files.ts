/**
 * `dockerfile verify` and `manifest verify`: verify the images a Dockerfile builds from, or the images of
 * Kubernetes manifests, with `verify`'s flags. Each image gets a verdict; the exit code is the worst one.
 */
import type { Command } from 'commander';
import { SignetError, type ErrorCode } from '../../errors.js';
import { readFileLimited } from '../../fsutil.js';
import { dockerfileImages } from '../../cosign/dockerfile.js';
import { manifestImages } from '../../cosign/k8s-images.js';
import { verifyImages, type ImageOutcome } from '../../cosign/verify.js';
import { boolOpt, examples, ui } from '../common.js';
import { addVerifyOptions, verifyOptionsFromFlags, type VerifyFlags } from './image.js';

/** Dockerfiles and manifests are read whole and parsed: 4 MiB is far past any real one. */
const MAX_FILE_BYTES = 4 * 1024 * 1024;

/** Where an image was named in the file, for the user. */
interface Occurrence {
  ref: string;
  where: string;
}

/**
 * The order of verdicts, best first. A signature that does not verify (possible tampering, or the wrong
 * signer) outranks an unsigned image, which outranks an image that is missing or could not be checked.
 */
const VERDICTS: Array<{ verdict: string; codes: ErrorCode[] | 'other' }> = [
  { verdict: 'verified', codes: [] },
  { verdict: 'error', codes: 'other' },
  { verdict: 'not-found', codes: ['NOT_FOUND'] },
  { verdict: 'no-signatures', codes: ['NO_SIGNATURES'] },
  { verdict: 'no-certificate', codes: ['NO_CERTIFICATE'] },
  { verdict: 'no-matching-signatures', codes: ['NO_MATCHING_SIGNATURES'] },
];

function rank(o: ImageOutcome): number {
  if (!o.error) return 0;
  const i = VERDICTS.findIndex((v) => v.codes !== 'other' && v.codes.includes(o.error!.code));
  return i < 0 ? 1 : i;
}

export interface ImageVerdict {
  image: string;
  verdict: string;
  exitCode: number;
  /** Where the file names the image (one entry per mention). */
  locations: string[];
  digest?: string;
  signatures?: number;
  code?: ErrorCode;
  message?: string;
}

/** Verify each distinct reference once, print one verdict per image, and throw the worst verdict's error. */
async function verifyAll(file: string, occurrences: Occurrence[], flags: VerifyFlags): Promise<void> {
  const refs = [...new Set(occurrences.map((o) => o.ref))];
  ui.info(`Extracted image(s): ${refs.join(', ')}`);
  const outcomes = await verifyImages({ ...(await verifyOptionsFromFlags(flags)), images: refs });
  const verdicts: ImageVerdict[] = outcomes.map((o) => {
    const v = VERDICTS[rank(o)]!;
    const locations = occurrences.filter((x) => x.ref === o.input).map((x) => x.where);
    if (!o.error) return { image: o.input, verdict: v.verdict, exitCode: 0, locations, digest: o.result!.digest, signatures: o.result!.verified.length };
    return { image: o.input, verdict: v.verdict, exitCode: o.error.exitCode, locations, code: o.error.code, message: o.error.message };
  });
  const worst = outcomes.reduce<ImageOutcome | undefined>((w, o) => (w === undefined || rank(o) > rank(w) ? o : w), undefined);
  if (flags.output === 'json') {
    ui.out(JSON.stringify({ file, images: verdicts, exitCode: worst?.error?.exitCode ?? 0 }, null, 2) + '\n');
  } else {
    const width = Math.max(...verdicts.map((v) => v.verdict.length));
    for (const v of verdicts) {
      const detail = v.exitCode === 0 ? `${v.signatures} signature${v.signatures === 1 ? '' : 's'} verified, ${v.digest}` : v.message;
      ui.out(`${v.verdict.padEnd(width)}  ${v.image}  (${v.locations.join('; ')}): ${detail}\n`);
    }
  }
  const failed = verdicts.filter((v) => v.exitCode !== 0).length;
  if (worst?.error) {
    throw new SignetError(worst.error.code, `${failed} of ${verdicts.length} image${verdicts.length === 1 ? '' : 's'} in ${file} failed verification; the worst: ${worst.input}: ${worst.error.message}`);
  }
  ui.info(`All ${verdicts.length} image${verdicts.length === 1 ? '' : 's'} in ${file} verified.`);
}

async function readText(file: string, what: string): Promise<string> {
  const bytes = await readFileLimited(file, MAX_FILE_BYTES, `${what} ${file}`);
  return bytes.toString('utf8');
}

const OUTPUT = { default: 'text', description: 'output format: text (one verdict line per image) or json (the verdicts as one JSON document)' } as const;

export function registerImagesInFilesCommands(program: Command): void {
  const dockerfile = program.command('dockerfile').description('verify the images a Dockerfile builds from');
  const dverify = dockerfile
    .command('verify')
    .description(
      'verify the signatures of every image a Dockerfile uses (FROM and COPY --from; stages and scratch skipped; ' +
        'variables from ARGs declared before the first FROM, overridden by environment variables of the same name, as cosign reads them)',
    )
    .argument('<dockerfile>', 'path to the Dockerfile')
    .addOption(boolOpt('--base-image-only', 'only verify the final stage\'s base image (followed through stage names)'));
  addVerifyOptions(dverify, OUTPUT);
  examples(dverify, [
    'signet dockerfile verify --key cosign.pub Dockerfile',
    'signet dockerfile verify --base-image-only --certificate-identity-regexp \'^https://github.com/chainguard-images/\' --certificate-oidc-issuer https://token.actions.githubusercontent.com Dockerfile',
    'GO_VERSION=1.23 signet dockerfile verify --key cosign.pub -o json build/Dockerfile   # overrides ARG GO_VERSION=…',
  ]);
  dverify.action(async (file: string, flags: VerifyFlags & { baseImageOnly: boolean }) => {
    const found = dockerfileImages(await readText(file, 'Dockerfile'), process.env);
    for (const s of found.skipped) ui.info(`- line ${s.line}: ${s.reason}, skipped`);
    let images = found.images;
    if (flags.baseImageOnly) {
      if (!found.base) throw new SignetError('MALFORMED', `${file}: the final stage starts FROM scratch: there is no base image to verify`);
      images = [found.base];
    }
    if (images.length === 0) throw new SignetError('MALFORMED', `${file}: no images to verify (every FROM is scratch or an earlier stage)`);
    const occurrences = images.map((i) => ({
      ref: i.ref,
      where: `line ${i.line} ${i.instruction}${i.stage !== undefined ? ` (stage ${i.stage})` : ''}${i.platform !== undefined ? ` --platform=${i.platform}` : ''}`,
    }));
    await verifyAll(file, occurrences, flags);
  });

  const manifest = program.command('manifest').description('verify the images of Kubernetes manifests');
  const mverify = manifest
    .command('verify')
    .description(
      'verify the signatures of every container image in a Kubernetes manifest file (multi-document YAML or JSON: Pods, Deployments, ReplicaSets, ' +
        'StatefulSets, DaemonSets, Jobs, CronJobs and resources shaped like them; containers, initContainers and ephemeralContainers)',
    )
    .argument('<file>', 'path to the manifest (.yaml, .yml or .json)');
  addVerifyOptions(mverify, OUTPUT);
  examples(mverify, [
    'signet manifest verify --key cosign.pub deploy.yaml',
    'kubectl get deploy web -o yaml > web.yaml && signet manifest verify --certificate-identity me@example.com --certificate-oidc-issuer https://accounts.google.com web.yaml',
    'signet manifest verify --key cosign.pub -o json k8s/all.yaml | jq \'.images[] | select(.exitCode != 0)\'',
  ]);
  mverify.action(async (file: string, flags: VerifyFlags) => {
    const images = manifestImages(await readText(file, 'manifest'));
    if (images.length === 0) throw new SignetError('MALFORMED', `${file}: no container images found (no pod spec with containers in any document)`);
    const occurrences = images.map((i) => ({ ref: i.ref, where: `document ${i.document} ${i.object} ${i.path}${i.container ? ` (${i.container})` : ''}` }));
    await verifyAll(file, occurrences, flags);
  });
}
