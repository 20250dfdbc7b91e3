/**
 * policy-controller's image globs (`pkg/apis/glob`), pure: `**` matches anything (slashes included), `*`
 * anything but a slash, `.` is literal, and the whole name must match. The bare `*` and `*` + `/*` mean Docker
 * Hub's official and user repositories, as there. A glob is matched against the image's full name
 * (`index.docker.io/library/busybox:latest`: Hub's host and `library/` filled in, `:latest` when neither
 * tag nor digest is given), then — as policy-controller still does, with a warning in its code — against
 * the name as written when that differs.
 */
import { SignetError } from '../errors.js';
import { parseReference, referenceString } from '../oci/index.js';

const VALID = /^[a-zA-Z0-9\-_:/*.]+$/;

export function compileGlob(glob: string): RegExp {
  let g = glob;
  if (g === '*/*') g = 'index.docker.io/*/*';
  if (g === '*') g = 'index.docker.io/library/*';
  if (!VALID.test(g)) throw new SignetError('MALFORMED', `invalid glob ${JSON.stringify(glob)}: only letters, digits, - _ : / * . are allowed`);
  let out = '';
  for (let i = 0; i < g.length; i++) {
    const c = g[i]!;
    if (c === '*' && g[i + 1] === '*') {
      out += '.*';
      i++;
    } else if (c === '*') out += '[^/]*';
    else if (c === '.') out += '\\.';
    else out += c;
  }
  return new RegExp(`^${out}$`);
}

/** The name globs are matched against: go-containerregistry's `Reference.Name()`. */
export function fullImageName(image: string): string {
  const ref = parseReference(image);
  // Name() of a digest reference is repo@digest; of a tag reference repo:tag (a `tag@digest` keeps the digest).
  if (ref.digest !== undefined) return `${ref.registry}/${ref.repository}@${ref.digest}`;
  return referenceString(ref);
}

export function globMatches(re: RegExp, image: string, fullName: string): boolean {
  return re.test(fullName) || (fullName !== image && re.test(image));
}
