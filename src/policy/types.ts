/**
 * The contract between the attestation flows (cosign/) and the policy evaluators (policy/): a policy
 * file compiled once per run, then evaluated over many in-toto statements.
 */

/** The languages `--policy FILE` selects by extension, as cosign does (`.cel` is Signet's own). */
export type PolicyLanguage = 'cue' | 'rego' | 'cel';

/** The outcome of one policy over one statement. `reason` says why it failed, in the policy's terms. */
export interface PolicyVerdict {
  ok: boolean;
  /** The policy's name as the user gave it (the file path). */
  policy: string;
  reason?: string;
}

export interface AttestationPolicy {
  /** The file path as given on the command line; names the policy in every message. */
  readonly name: string;
  readonly language: PolicyLanguage;
  /**
   * Evaluate the policy over each statement (the parsed JSON of a DSSE payload: the in-toto
   * statement, `predicate` included). One verdict per statement, in order. Taking them together lets
   * an evaluator that runs out of process (CUE's WebAssembly build) pay its start-up once per call.
   */
  evaluate(statements: readonly unknown[]): Promise<PolicyVerdict[]>;
}
