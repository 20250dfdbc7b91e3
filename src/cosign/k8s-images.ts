/**
 * The container images of Kubernetes manifests, for `manifest verify` (pure: text in, references out).
 *
 * Every YAML document (or JSON object; `kind: List` items too) is read where the API puts a pod spec:
 * `spec` (Pod), `spec.template.spec` (Deployment, ReplicaSet, StatefulSet, DaemonSet, Job,
 * ReplicationController, PodTemplate's `template.spec`, and custom resources built the same way) and
 * `spec.jobTemplate.spec.template.spec` (CronJob), as cosign reads any document shaped like these. From
 * each pod spec: `initContainers`, `containers` and `ephemeralContainers` (cosign reads the first two).
 */
import { parseAllDocuments } from 'yaml';
import { SignetError } from '../errors.js';

export interface ManifestImage {
  ref: string;
  /** The object's kind and name, e.g. `Deployment/web` (`?` when absent). */
  object: string;
  /** 1-based index of the YAML document in the file. */
  document: number;
  /** Where in the object, e.g. `spec.template.spec.initContainers[0]` (name: `init-db`). */
  path: string;
  container?: string;
}

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

const POD_SPEC_PATHS: string[][] = [['spec'], ['template', 'spec'], ['spec', 'template', 'spec'], ['spec', 'jobTemplate', 'spec', 'template', 'spec']];
const CONTAINER_FIELDS = ['initContainers', 'containers', 'ephemeralContainers'] as const;

/** The images of every document of a manifest file, in order. */
export function manifestImages(source: string): ManifestImage[] {
  const docs = parseAllDocuments(source, { prettyErrors: false, uniqueKeys: false });
  if (!Array.isArray(docs)) throw new SignetError('MALFORMED', 'manifest: not a YAML stream');
  const images: ManifestImage[] = [];
  docs.forEach((doc, i) => {
    const n = i + 1;
    if (doc.errors.length > 0) {
      const e = doc.errors[0]!;
      const at = e.linePos?.[0] ? ` (line ${e.linePos[0].line}, column ${e.linePos[0].col})` : '';
      throw new SignetError('MALFORMED', `manifest document ${n}: not valid YAML${at}: ${e.message.split('\n')[0]}`);
    }
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: 100 });
    } catch (e) {
      throw new SignetError('MALFORMED', `manifest document ${n}: ${(e as Error).message.split('\n')[0]}`);
    }
    if (value === null || value === undefined) return; // an empty document (a trailing `---`)
    if (!isObj(value)) throw new SignetError('MALFORMED', `manifest document ${n}: expected a Kubernetes object (a mapping), got ${Array.isArray(value) ? 'a list' : typeof value}`);
    collectObject(value, n, '', images);
  });
  return images;
}

/** The images of one object already parsed (an AdmissionReview's), read as document 1 of a manifest. */
export function objectImages(o: Obj): ManifestImage[] {
  const images: ManifestImage[] = [];
  collectObject(o, 1, '', images);
  return images;
}

function collectObject(o: Obj, document: number, prefix: string, images: ManifestImage[]): void {
  const metadata = isObj(o.metadata) ? o.metadata : {};
  const object = `${typeof o.kind === 'string' ? o.kind : '?'}/${typeof metadata.name === 'string' ? metadata.name : '?'}`;
  if (o.kind === 'List' || (typeof o.kind === 'string' && o.kind.endsWith('List') && Array.isArray(o.items))) {
    if (!Array.isArray(o.items)) return;
    o.items.forEach((item, j) => {
      if (isObj(item)) collectObject(item, document, `${prefix}items[${j}].`, images);
    });
    return;
  }
  for (const path of POD_SPEC_PATHS) {
    let at: unknown = o;
    for (const key of path) at = isObj(at) ? at[key] : undefined;
    if (!isObj(at)) continue;
    for (const field of CONTAINER_FIELDS) {
      const list = at[field];
      if (list === undefined || list === null) continue;
      const where = `${prefix}${path.join('.')}.${field}`;
      if (!Array.isArray(list)) throw new SignetError('MALFORMED', `manifest document ${document} (${object}): ${where} is not a list`);
      list.forEach((c, k) => {
        if (!isObj(c)) throw new SignetError('MALFORMED', `manifest document ${document} (${object}): ${where}[${k}] is not a container`);
        const name = typeof c.name === 'string' ? c.name : undefined;
        if (c.image === undefined || c.image === '') return; // the API server would refuse it; nothing to verify
        if (typeof c.image !== 'string') throw new SignetError('MALFORMED', `manifest document ${document} (${object}): ${where}[${k}].image is not a string`);
        images.push({ ref: c.image.trim(), object, document, path: `${where}[${k}]`, ...(name ? { container: name } : {}) });
      });
    }
  }
}
