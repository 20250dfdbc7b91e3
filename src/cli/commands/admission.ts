/**
 * `signet admission`: a Kubernetes validating and mutating admission webhook enforcing policy-controller's
 * ClusterImagePolicies; `signet admission test` evaluates the same policies for images on the command line
 * through the same engine and prints the same verdicts.
 */
import { Command, Option } from 'commander';
import { SignetError } from '../../errors.js';
import { parseDuration } from '../../net.js';
import { loadTrustedRoot } from '../../sigstore/trustedroot.js';
import { prepareTrust } from '../../sigstore/verifier.js';
import { AdmissionEngine, loadPolicySet, type ImageVerdict, type LoadPoliciesOptions, type NoMatchAction } from '../../admission/index.js';
import { addRegistryOptions, examples, opt, type RegistryFlags, ui, untilSignal } from '../common.js';
import { registryClient } from '../registry.js';

interface CommonFlags extends RegistryFlags {
  policies?: string[];
  trustedRoot?: string;
  /** `--no-match`: the action, or true when not given. */
  match?: string | boolean;
  cacheTtl?: string;
  secretsDir?: string;
  configmapsDir?: string;
  tufCacheDir?: string;
}

interface ServeFlags extends CommonFlags {
  tlsCert?: string;
  tlsKey?: string;
  listen: string;
  namespaces?: string;
  reviewTimeout?: string;
  tufRefresh?: string;
}

const collect = (v: string, prev: string[] | undefined): string[] => [...(prev ?? []), v];

function addCommon(cmd: Command): Command {
  cmd
    .addOption(new Option('--policies <path>', 'a ClusterImagePolicy/TrustRoot YAML file, or a directory of them (repeatable)').argParser(collect).env('SIGNET_ADMISSION_POLICIES'))
    .addOption(opt('--trusted-root <file>', 'trusted_root.json for authorities that name no trustRootRef (default: the pinned public-good root)'))
    // commander reads `--no-X <value>` as option `X` with the value (true when absent).
    .addOption(new Option('--no-match <action>', 'what to do with images no ClusterImagePolicy matches: deny (default), warn or allow').choices(['deny', 'warn', 'allow']))
    .addOption(opt('--secrets-dir <dir>', 'Secrets mounted as volumes (DIR/<secret>/<key>) for key.secretRef; re-read when the kubelet updates them'))
    .addOption(opt('--configmaps-dir <dir>', 'ConfigMaps mounted as volumes (DIR/<configmap>/<key>) for policy.configMapRef; re-read when the kubelet updates them'))
    .addOption(opt('--tuf-cache-dir <dir>', 'TUF caches of TrustRoots with spec.remote, one directory each (default: admission-tuf beside $TUF_ROOT)'))
    .addOption(opt('--cache-ttl <duration>', 'how long a verdict per (digest, policy) and a tag\'s digest are reused; 0 disables the cache', '5m'));
  return addRegistryOptions(cmd);
}

function noMatchOf(flags: CommonFlags): NoMatchAction {
  return typeof flags.match === 'string' ? (flags.match as NoMatchAction) : 'deny';
}

async function loadOptions(flags: CommonFlags): Promise<LoadPoliciesOptions> {
  const mounts: LoadPoliciesOptions = {
    ...(flags.secretsDir ? { secretsDir: flags.secretsDir } : {}),
    ...(flags.configmapsDir ? { configMapsDir: flags.configmapsDir } : {}),
    ...(flags.tufCacheDir ? { tufCacheDir: flags.tufCacheDir } : {}),
  };
  if (!flags.trustedRoot) return mounts;
  const root = await loadTrustedRoot(flags.trustedRoot);
  return { ...mounts, defaultTrust: { name: flags.trustedRoot, root, material: prepareTrust(root) } };
}

function requirePolicies(flags: CommonFlags): string[] {
  if (!flags.policies || flags.policies.length === 0) throw new SignetError('USAGE', 'admission needs --policies DIR|FILE (ClusterImagePolicy YAML)');
  return flags.policies;
}

/** The JSON line of one image's verdict (also what `admission test` prints). */
export function verdictJson(v: ImageVerdict): Record<string, unknown> {
  return {
    image: v.image,
    verdict: v.verdict,
    ...(v.digest ? { digest: v.digest } : {}),
    ...(v.noMatch ? { noMatch: true } : {}),
    policies: v.policies.map((p) => ({ name: p.policy, mode: p.mode, ok: p.ok, ...(p.reason ? { reason: p.reason } : {}), authorities: p.authorities.map((a) => ({ name: a.authority, ok: a.ok, ...(a.reason ? { reason: a.reason } : {}) })) })),
    errors: v.errors,
    warnings: v.warnings,
  };
}

export function registerAdmission(program: Command): void {
  const cmd = program
    .command('admission')
    .description(
      'run a Kubernetes admission webhook (HTTPS): /validate checks every image of Pods and pod templates in namespaces labelled ' +
        'policy.sigstore.dev/include: "true" against Sigstore policy-controller ClusterImagePolicies; /mutate pins image tags to the digests it verifies',
    );
  addCommon(cmd)
    .addOption(opt('--tls-cert <file>', 'PEM certificate (chain) the webhook serves; re-read when it changes'))
    .addOption(opt('--tls-key <file>', 'PEM private key of --tls-cert'))
    .addOption(new Option('--listen <host:port>', 'address to listen on').default(':8443').env('SIGNET_LISTEN'))
    .addOption(opt('--namespaces <file>', 'Namespace objects (YAML/JSON) or a mapping name → labels: where the include label is read, since an AdmissionReview does not carry it; re-read when it changes'))
    .addOption(opt('--tuf-refresh <duration>', 'how often TrustRoots with spec.remote are refreshed from their TUF mirrors', '10m'))
    .addOption(opt('--review-timeout <duration>', 'deny a review that takes longer (fail closed); keep it under the webhook timeoutSeconds', '9s'))
    .action(async (flags: ServeFlags) => {
      const policies = requirePolicies(flags);
      if (!flags.tlsCert || !flags.tlsKey) throw new SignetError('USAGE', 'admission needs --tls-cert and --tls-key (the API server only calls webhooks over HTTPS; see deploy/README.md)');
      const { startAdmissionServer } = await import('../admission-server.js');
      const client = registryClient(flags);
      const a = await startAdmissionServer({
        policies,
        loadOptions: await loadOptions(flags),
        client,
        tlsCert: flags.tlsCert,
        tlsKey: flags.tlsKey,
        listen: flags.listen,
        noMatch: noMatchOf(flags),
        cacheTtlMs: parseDuration(flags.cacheTtl ?? '5m'),
        reviewTimeoutMs: parseDuration(flags.reviewTimeout ?? '9s'),
        tufRefreshMs: parseDuration(flags.tufRefresh ?? '10m'),
        ...(flags.namespaces ? { namespacesFile: flags.namespaces } : {}),
      });
      ui.out(`Listening on ${a.url} with ${a.engine.policySet.policies.length} ClusterImagePolicies\n`);
      await untilSignal(() => a.close().then(() => client.close()));
    });
  examples(cmd, [
    'signet admission --policies /etc/signet/policies --tls-cert tls.crt --tls-key tls.key --namespaces namespaces.yaml',
    'signet admission --policies cip.yaml --trusted-root trusted_root.json --tls-cert tls.crt --tls-key tls.key --listen :8443 --no-match warn',
    'signet admission --policies /etc/signet/policies --secrets-dir /etc/signet/secrets --configmaps-dir /etc/signet/configmaps --tls-cert tls.crt --tls-key tls.key',
    'signet admission test --policies cip.yaml ghcr.io/example/app:v1',
  ]);

  const test = cmd
    .command('test')
    .description('evaluate ClusterImagePolicies for images, as the webhook would (same engine, same verdicts); one JSON line per image on stdout, exit 1 when any is denied')
    .argument('<image...>', 'image references');
  // The common options are declared on both (for --help); commander hands them to `admission`, the parent.
  addCommon(test).action(async (images: string[], own: CommonFlags, self: Command) => {
    const flags: CommonFlags = { ...own, ...(self.parent?.opts<CommonFlags>() ?? {}) };
    const set = await loadPolicySet(requirePolicies(flags), await loadOptions(flags));
    const client = registryClient(flags);
    try {
      const engine = new AdmissionEngine(set, { client, noMatch: noMatchOf(flags), cacheTtlMs: 0 });
      const verdicts = await Promise.all(images.map((i) => engine.evaluate(i)));
      for (const v of verdicts) {
        ui.out(JSON.stringify(verdictJson(v)) + '\n');
        const head = v.verdict === 'pass' ? 'admitted' : v.verdict === 'warn' ? 'admitted with warnings' : 'denied';
        ui.info(`${v.image}: ${head}${v.digest ? ` (${v.digest})` : ''}`);
        for (const e of v.errors) ui.info(`  error: ${e}`);
        for (const w of v.warnings) ui.info(`  warning: ${w}`);
      }
      if (verdicts.some((v) => v.verdict === 'fail')) process.exitCode = 1;
    } finally {
      await client.close();
    }
  });
  examples(test, ['signet admission test --policies ./policies registry.example.com/app:v1 registry.example.com/db@sha256:…', 'signet admission test --policies cip.yaml --no-match allow nginx:1.27']);
}
