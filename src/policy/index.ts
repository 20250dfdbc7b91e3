/** Placeholder until the policy evaluators land: `--policy` is refused with a clear message. */
import { SignetError } from '../errors.js';
import type { AttestationPolicy } from './types.js';

export async function loadPolicies(_paths: string[]): Promise<AttestationPolicy[]> {
  throw new SignetError('USAGE', 'policies are not available yet');
}
