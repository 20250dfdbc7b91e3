/**
 * Inline policies of ClusterImagePolicies (`policy: {type, data}`), compiled by the evaluators of
 * `policy/`. CUE and CEL mean the same here as in `verify-attestation --policy`: CUE is unified with the
 * input, CEL must yield true. Rego differs: policy-controller queries `data.sigstore.isCompliant`, cosign
 * `data.signature.allow`; a policy written for policy-controller (`package sigstore`) is moved to
 * cosign's package with `allow` defined as `isCompliant`, so the same evaluator runs it.
 */
import type { AttestationPolicy } from '../policy/types.js';

export type PolicyType = 'cue' | 'rego' | 'cel';

/** policy-controller's Rego convention turned into cosign's (see above); other packages are left alone. */
export function regoForCosign(text: string): string {
  if (!/^\s*package\s+sigstore\s*$/m.test(text)) return text;
  return text.replace(/^(\s*)package\s+sigstore\s*$/m, '$1package signature') + '\n\nallow {\n  isCompliant\n}\n';
}

/** Compile an inline policy (each language's module loaded only when a policy uses it). */
export async function compilePolicyText(name: string, type: PolicyType, text: string): Promise<AttestationPolicy> {
  switch (type) {
    case 'cue':
      return (await import('../policy/cue.js')).loadCuePolicy(name, text);
    case 'rego':
      return (await import('../policy/rego.js')).loadRegoPolicy(name, regoForCosign(text));
    case 'cel':
      return (await import('../policy/cel.js')).loadCelPolicy(name, text);
  }
}
