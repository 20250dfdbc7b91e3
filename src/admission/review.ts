/**
 * Kubernetes `AdmissionReview` (`admission.k8s.io/v1`) in and out, for the validating and mutating
 * endpoints. Workloads: Pods and the pod templates of Deployments, ReplicaSets, StatefulSets, DaemonSets,
 * Jobs and CronJobs (their images found by `cosign/k8s-images.ts`, the same reader as `manifest verify`),
 * on CREATE and UPDATE; everything else is allowed untouched. Only namespaces labelled
 * `policy.sigstore.dev/include: "true"` are checked. An AdmissionReview does not carry the namespace's
 * labels and there is no API server to ask, so they come from the request's `namespaceObject` when a
 * caller adds one, else from the `--namespaces` file the operator gives.
 */
import { parseAllDocuments } from 'yaml';
import { SignetError } from '../errors.js';
import { FILE_LIMITS, readFileLimited } from '../fsutil.js';
import { objectImages, type ManifestImage } from '../cosign/k8s-images.js';
import type { AdmissionEngine, ImageVerdict } from './engine.js';

export const INCLUDE_LABEL = 'policy.sigstore.dev/include';
export const WORKLOAD_KINDS: ReadonlySet<string> = new Set(['Pod', 'Deployment', 'ReplicaSet', 'StatefulSet', 'DaemonSet', 'Job', 'CronJob']);
const API_VERSION = 'admission.k8s.io/v1';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

export interface AdmissionRequest {
  uid: string;
  kind: string;
  namespace?: string;
  operation: string;
  object?: Obj;
  namespaceObject?: Obj;
}

export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  status?: { code: number; message: string };
  warnings?: string[];
  patchType?: 'JSONPatch';
  patch?: string;
}

export interface AdmissionReviewOut {
  apiVersion: typeof API_VERSION;
  kind: 'AdmissionReview';
  response: AdmissionResponse;
}

/** Namespace name → labels. */
export type NamespaceLabels = ReadonlyMap<string, Readonly<Record<string, string>>>;

/** `--namespaces FILE`: Namespace objects (a YAML stream, a `List`, a JSON array) or a mapping of name → labels. */
export async function loadNamespaces(path: string): Promise<NamespaceLabels> {
  const text = (await readFileLimited(path, FILE_LIMITS.small, `namespaces file ${path}`)).toString('utf8');
  const out = new Map<string, Record<string, string>>();
  const docs = parseAllDocuments(text, { prettyErrors: false });
  if (!Array.isArray(docs)) throw new SignetError('MALFORMED', `namespaces file ${path}: not YAML`);
  const labelsOf = (v: unknown, where: string): Record<string, string> => {
    if (v === undefined || v === null) return {};
    if (!isObj(v)) throw new SignetError('MALFORMED', `namespaces file ${path}: ${where}: labels must be a mapping`);
    const l: Record<string, string> = {};
    for (const [k, x] of Object.entries(v)) l[k] = String(x);
    return l;
  };
  const addNamespace = (o: unknown, where: string): void => {
    if (!isObj(o) || o.kind !== 'Namespace') throw new SignetError('MALFORMED', `namespaces file ${path}: ${where}: expected a Namespace object`);
    const md = isObj(o.metadata) ? o.metadata : {};
    if (typeof md.name !== 'string' || md.name === '') throw new SignetError('MALFORMED', `namespaces file ${path}: ${where}: metadata.name is missing`);
    out.set(md.name, labelsOf(md.labels, `${where}.metadata.labels`));
  };
  docs.forEach((doc, i) => {
    const where = `document ${i + 1}`;
    if (doc.errors.length > 0) throw new SignetError('MALFORMED', `namespaces file ${path}: ${where}: not valid YAML: ${doc.errors[0]!.message.split('\n')[0]}`);
    const v: unknown = doc.toJS();
    if (v === null || v === undefined) return;
    if (Array.isArray(v)) v.forEach((o, j) => addNamespace(o, `${where}[${j}]`));
    else if (isObj(v) && v.kind === 'Namespace') addNamespace(v, where);
    else if (isObj(v) && typeof v.kind === 'string' && v.kind.endsWith('List') && Array.isArray(v.items)) v.items.forEach((o, j) => addNamespace(o, `${where}.items[${j}]`));
    else if (isObj(v) && v.kind === undefined) for (const [name, labels] of Object.entries(v)) out.set(name, labelsOf(labels, name));
    else throw new SignetError('MALFORMED', `namespaces file ${path}: ${where}: expected Namespace objects or a mapping of namespace name to labels`);
  });
  return out;
}

/** The request of an AdmissionReview; MALFORMED (a 400) for anything else. */
export function parseReview(body: unknown): AdmissionRequest {
  const bad = (m: string): never => {
    throw new SignetError('MALFORMED', `not an AdmissionReview: ${m}`);
  };
  if (!isObj(body)) bad('the body is not a JSON object');
  const b = body as Obj;
  if (b.kind !== 'AdmissionReview') bad(`kind is ${JSON.stringify(b.kind)}, expected "AdmissionReview"`);
  if (b.apiVersion !== API_VERSION) bad(`apiVersion is ${JSON.stringify(b.apiVersion)}, expected "${API_VERSION}"`);
  const r = b.request;
  if (!isObj(r)) bad('request is missing');
  const req = r as Obj;
  if (typeof req.uid !== 'string' || req.uid === '') bad('request.uid is missing');
  if (typeof req.operation !== 'string') bad('request.operation is missing');
  const kind = isObj(req.kind) && typeof req.kind.kind === 'string' ? req.kind.kind : isObj(req.object) && typeof req.object.kind === 'string' ? req.object.kind : '';
  if (req.object !== undefined && req.object !== null && !isObj(req.object)) bad('request.object is not an object');
  return {
    uid: req.uid as string,
    kind,
    operation: req.operation as string,
    ...(typeof req.namespace === 'string' ? { namespace: req.namespace } : {}),
    ...(isObj(req.object) ? { object: req.object } : {}),
    ...(isObj(req.namespaceObject) ? { namespaceObject: req.namespaceObject } : {}),
  };
}

export function reviewOut(response: AdmissionResponse): AdmissionReviewOut {
  return { apiVersion: API_VERSION, kind: 'AdmissionReview', response };
}

export interface ReviewContext {
  engine: AdmissionEngine;
  namespaces?: NamespaceLabels;
}

/** Why a request is not checked, or undefined when it is. */
export function skipReason(req: AdmissionRequest, namespaces?: NamespaceLabels): string | undefined {
  if (req.operation !== 'CREATE' && req.operation !== 'UPDATE') return `operation ${req.operation}`;
  if (!WORKLOAD_KINDS.has(req.kind)) return `kind ${req.kind || '(none)'}`;
  if (!req.object) return 'no object';
  const md = isObj(req.object.metadata) ? req.object.metadata : {};
  if (md.deletionTimestamp) return 'being deleted';
  const nsLabels = isObj(req.namespaceObject) && isObj(req.namespaceObject.metadata) && isObj(req.namespaceObject.metadata.labels)
    ? (req.namespaceObject.metadata.labels as Record<string, unknown>)
    : req.namespace !== undefined
      ? namespaces?.get(req.namespace)
      : undefined;
  if (!nsLabels || String(nsLabels[INCLUDE_LABEL]) !== 'true') return `namespace ${req.namespace ?? '(none)'} is not labelled ${INCLUDE_LABEL}: "true"`;
  return undefined;
}

/** The images of a workload object (MALFORMED for a pod spec that is not one). */
export function workloadImages(object: Obj): ManifestImage[] {
  // The object arrives parsed: walked as it is, not printed and parsed again as YAML.
  return objectImages(object);
}

/** `spec.template.spec.containers[0]` → `/spec/template/spec/containers/0/image` (RFC 6901). */
export function imagePointer(path: string): string {
  const parts: string[] = [];
  for (const seg of path.split('.')) {
    const m = /^([^[]+)((?:\[\d+\])*)$/.exec(seg);
    if (!m) throw new SignetError('INTERNAL', `unexpected container path ${path}`);
    parts.push(m[1]!);
    for (const idx of m[2]!.matchAll(/\[(\d+)\]/g)) parts.push(idx[1]!);
  }
  return '/' + [...parts, 'image'].map((p) => p.replace(/~/g, '~0').replace(/\//g, '~1')).join('/');
}

async function verdicts(ctx: ReviewContext, req: AdmissionRequest, images: ManifestImage[]): Promise<Map<string, ImageVerdict>> {
  const distinct = [...new Set(images.map((i) => i.ref))];
  const results = await Promise.all(distinct.map((ref) => ctx.engine.evaluate(ref, { object: req.object! })));
  return new Map(distinct.map((ref, i) => [ref, results[i]!]));
}

/** The validating answer: denied with every failing image and why, warnings for warn-mode failures. */
export async function validateRequest(ctx: ReviewContext, req: AdmissionRequest): Promise<{ response: AdmissionResponse; verdict: 'allowed' | 'denied' | 'warned' | 'skipped' }> {
  if (skipReason(req, ctx.namespaces) !== undefined) return { response: { uid: req.uid, allowed: true }, verdict: 'skipped' };
  let images: ManifestImage[];
  try {
    images = workloadImages(req.object!);
  } catch (e) {
    return { response: { uid: req.uid, allowed: false, status: { code: 400, message: (e as Error).message } }, verdict: 'denied' };
  }
  const results = await verdicts(ctx, req, images);
  const errors: string[] = [];
  const warnings: string[] = [];
  for (const im of images) {
    const v = results.get(im.ref)!;
    const at = im.path + '.image';
    for (const e of v.errors) errors.push(`${at}: ${e}`);
    for (const w of v.warnings) warnings.push(`${at}: ${w}`);
  }
  const uniqueWarnings = [...new Set(warnings)];
  if (errors.length > 0) {
    return {
      response: { uid: req.uid, allowed: false, status: { code: 403, message: `admission denied by signet: ${errors.join('\n')}` }, ...(uniqueWarnings.length ? { warnings: uniqueWarnings } : {}) },
      verdict: 'denied',
    };
  }
  return { response: { uid: req.uid, allowed: true, ...(uniqueWarnings.length ? { warnings: uniqueWarnings } : {}) }, verdict: uniqueWarnings.length ? 'warned' : 'allowed' };
}

/**
 * The mutating answer: every image of a checked workload given by tag is replaced by the same name
 * pinned to the digest it resolves to now (`app:v1` → `app@sha256:…`) — the digest the validating
 * endpoint then verifies. Images that do not resolve are left for the validating endpoint to deny.
 */
export async function mutateRequest(ctx: ReviewContext, req: AdmissionRequest): Promise<{ response: AdmissionResponse; patched: number }> {
  if (skipReason(req, ctx.namespaces) !== undefined) return { response: { uid: req.uid, allowed: true }, patched: 0 };
  let images: ManifestImage[];
  try {
    images = workloadImages(req.object!);
  } catch {
    return { response: { uid: req.uid, allowed: true }, patched: 0 };
  }
  const distinct = [...new Set(images.map((i) => i.ref))];
  const pinned = await Promise.all(
    distinct.map(async (ref) => {
      try {
        return (await ctx.engine.resolve(ref)).pinned;
      } catch {
        return undefined;
      }
    }),
  );
  const byRef = new Map(distinct.map((r, i) => [r, pinned[i]]));
  const patch = images.flatMap((im) => {
    const p = byRef.get(im.ref);
    return p && p !== im.ref ? [{ op: 'replace', path: imagePointer(im.path), value: p }] : [];
  });
  if (patch.length === 0) return { response: { uid: req.uid, allowed: true }, patched: 0 };
  return { response: { uid: req.uid, allowed: true, patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(patch)).toString('base64') }, patched: patch.length };
}
