/**
 * Keyless set-up from cosign's option names, for callers that hold them flat (the CLI's flags, a
 * library user's options): the certified ephemeral signer, the identity policy a keyless verification
 * checks, and the trust material it checks against.
 */
import { SignetError } from '../errors.js';
import { FILE_LIMITS, readFileLimited } from '../fsutil.js';
import { certificateIdentity, validateIdentityPolicy, type IdentityPolicy } from './identity.js';
import { prepareKeyless, type KeylessSigner } from './sign-keyless.js';
import { parseSigningConfig } from './signing-config.js';
import { loadTrustedRoot, type TrustedRoot } from './trustedroot.js';
import { loadPublicGoodTrustedRoot, signingConfigInPlay, tufTrust } from './tuf.js';
import { prepareTrust, type TrustMaterial } from './verifier.js';

export interface KeylessSignOptions {
  /** --tlog-upload: false signs without a log (a TSA is then required). */
  tlogUpload: boolean;
  /** --rekor-url: a Rekor v1 log instead of the signing config's. */
  rekorUrl?: string;
  /** --signing-config: a signing_config.json file; default the TUF cache's (after `initialize`), else the public-good services. */
  signingConfig?: string;
  /** --use-signing-config (default true): cosign v3's rules, see tuf.ts signingConfigInPlay. */
  useSigningConfig?: boolean;
  /** --fulcio-url */
  fulcioUrl?: string;
  /** --timestamp-server-url */
  timestampServerUrl?: string;
  /** --identity-token: the token, or a file holding it (else SIGSTORE_ID_TOKEN, GitHub Actions). */
  identityToken?: string;
  /** --oidc-issuer for the browser login. */
  oidcIssuer?: string;
  /** --oidc-client-id for the browser login (default sigstore). */
  oidcClientId?: string;
  /** --oidc-client-secret-file: a file holding the OIDC client secret (confidential clients, client_credentials). */
  oidcClientSecretFile?: string;
  /** --oidc-redirect-url: the browser login's loopback redirect (default http://localhost:0/auth/callback). */
  oidcRedirectUrl?: string;
  /** --oidc-provider: envvar, github-actions, buildkite-agent or filesystem (cosign's names). */
  oidcProvider?: string;
  /** --oidc-disable-ambient-providers. */
  oidcDisableAmbientProviders?: boolean;
  /** --fulcio-auth-flow: normal, device, token or client_credentials. */
  fulcioAuthFlow?: string;
  /** Offer the browser login when no token is found: only for a person at a terminal. */
  interactive?: boolean;
  /** Progress messages for a person (the browser login's URL). */
  log?: (message: string) => void;
}

/** The certified ephemeral signer for a keyless signing run: nothing is signed before this succeeds. */
export async function keylessSigner(flags: KeylessSignOptions): Promise<KeylessSigner> {
  const secret = flags.oidcClientSecretFile ? (await readFileLimited(flags.oidcClientSecretFile, FILE_LIMITS.small, `OIDC client secret file ${flags.oidcClientSecretFile}`)).toString('utf8').trim() : undefined;
  if (secret === '') throw new SignetError('USAGE', `OIDC client secret file ${flags.oidcClientSecretFile} is empty`);
  const src = await signingConfigInPlay(flags);
  return prepareKeyless({
    ...(src?.kind === 'tuf' ? { signingConfig: parseSigningConfig(src.bytes) } : {}),
    ...(secret !== undefined ? { oidcClientSecret: secret } : {}),
    ...(flags.oidcRedirectUrl !== undefined && flags.oidcRedirectUrl !== '' ? { oidcRedirectUrl: flags.oidcRedirectUrl } : {}),
    ...(flags.oidcProvider !== undefined && flags.oidcProvider !== '' ? { oidcProvider: flags.oidcProvider } : {}),
    ...(flags.oidcDisableAmbientProviders ? { disableAmbientProviders: true } : {}),
    ...(flags.fulcioAuthFlow !== undefined && flags.fulcioAuthFlow !== '' ? { fulcioAuthFlow: flags.fulcioAuthFlow } : {}),
    ...(flags.signingConfig !== undefined ? { signingConfigPath: flags.signingConfig } : {}),
    overrides: {
      tlogUpload: flags.tlogUpload,
      ...(flags.fulcioUrl !== undefined ? { caUrl: flags.fulcioUrl } : {}),
      ...(flags.rekorUrl !== undefined ? { rekorUrl: flags.rekorUrl } : {}),
      ...(flags.timestampServerUrl !== undefined ? { tsaUrl: flags.timestampServerUrl } : {}),
    },
    ...(flags.identityToken !== undefined ? { identityToken: flags.identityToken } : {}),
    ...(flags.oidcIssuer !== undefined ? { oidcIssuer: flags.oidcIssuer } : {}),
    ...(flags.oidcClientId !== undefined ? { oidcClientId: flags.oidcClientId } : {}),
    interactive: flags.interactive === true,
    ...(flags.log ? { log: flags.log } : {}),
  });
}

/** Who a keyless signer signs as: the certificate's subject and OIDC issuer. */
export function signerIdentity(ks: KeylessSigner): { subject?: string; issuer?: string } {
  const id = certificateIdentity(ks.certificate);
  return { ...(id.subject !== undefined ? { subject: id.subject } : {}), ...(id.issuer !== undefined ? { issuer: id.issuer } : {}) };
}

/** An identity policy's fields, any of them unset or empty (as flags arrive). */
export type IdentityPolicyInput = { [K in keyof IdentityPolicy]?: string | undefined };

/**
 * The identity policy from possibly-empty values: empty ones are dropped, then the policy is checked
 * (identity and issuer both pinned, regexps compile); USAGE naming the flags otherwise.
 */
export function identityPolicy(input: IdentityPolicyInput): IdentityPolicy {
  const p: IdentityPolicy = {};
  for (const k of ['identity', 'identityRegexp', 'issuer', 'issuerRegexp', 'githubWorkflowTrigger', 'githubWorkflowSha', 'githubWorkflowName', 'githubWorkflowRepository', 'githubWorkflowRef'] as const) {
    const v = input[k];
    if (v !== undefined && v !== '') p[k] = v;
  }
  validateIdentityPolicy(p);
  return p;
}

/** A trusted_root.json file, else the TUF cache's after `initialize` (cosign's order); undefined when neither. */
export async function configuredTrustedRoot(path: string | undefined, opts: { offline?: boolean } = {}): Promise<TrustedRoot | undefined> {
  if (path) return loadTrustedRoot(path);
  return (await tufTrust(opts.offline ? { offline: true } : {}))?.trustedRoot;
}

/**
 * The trust material for keyless verification: a trusted_root.json file, else the TUF cache's (after
 * `initialize`), else the pinned public-good root (no network).
 */
export async function keylessTrust(f: { trustedRoot?: string | undefined; offline?: boolean }): Promise<TrustMaterial> {
  const root = (await configuredTrustedRoot(f.trustedRoot, { offline: f.offline === true })) ?? (await loadPublicGoodTrustedRoot({ offline: true }));
  return prepareTrust(root);
}
