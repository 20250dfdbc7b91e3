/** The admission layer: policy-controller's ClusterImagePolicies enforced over Kubernetes AdmissionReviews. */
export { compileGlob, fullImageName, globMatches } from './glob.js';
export { loadPolicySet, policyFiles, type Authority, type ImagePolicy, type PolicySet, type Trust, type LoadPoliciesOptions } from './policies.js';
export { readMounted, type MountKind } from './mounts.js';
export { AdmissionEngine, writtenRepository, type EngineOptions, type ImageVerdict, type NoMatchAction, type PolicyOutcome, type AuthorityOutcome } from './engine.js';
export {
  INCLUDE_LABEL,
  WORKLOAD_KINDS,
  imagePointer,
  loadNamespaces,
  mutateRequest,
  parseReview,
  reviewOut,
  skipReason,
  validateRequest,
  workloadImages,
  type AdmissionRequest,
  type AdmissionResponse,
  type NamespaceLabels,
  type ReviewContext,
} from './review.js';
