// The explorer's pages, routed by the URL's fragment so every view is a shareable link:
//   #/                      search form, log summary, recent entries
//   #/search?q=…&type=…&page=N   search results (type: auto, hash, email, subject, key, fingerprint, index, uuid)
//   #/entry/<UUID or entry ID>   one entry, its proof checked here
//   #/log                   the log's state
// Text from the log only ever reaches the page as text nodes.
import { base64Bytes, hex, parseCertificate, pemBlocks, spkiInfo } from './der.js';
import { importLogKey, sha256, verifyCheckpoint, verifyEntryInclusion } from './proof.js';

const main = document.getElementById('main');
const PAGE_SIZE = 10; // the log's entries/retrieve answers at most 10 items per request
const MAX_QUERY = 64 * 1024;

// ---------- DOM ----------
function h(tag, attrs = {}, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const kid of kids.flat(2)) if (kid !== undefined && kid !== null && kid !== false) el.append(kid instanceof Node ? kid : String(kid));
  return el;
}

function fields(pairs) {
  return h('dl', { class: 'fields' }, pairs.filter((p) => p && p[1] !== undefined && p[1] !== null && p[1] !== '').flatMap(([k, v]) => [h('dt', { text: k }), h('dd', {}, v)]));
}

const mono = (s) => h('span', { class: 'mono', text: s });
const link = (href, text, attrs = {}) => h('a', { href, ...attrs }, text);
const entryHref = (id) => `#/entry/${encodeURIComponent(id)}`;
const searchHref = (q, type = 'auto', page) => `#/search?${new URLSearchParams({ q, type, ...(page && page > 1 ? { page: String(page) } : {}) })}`;
const time = (unix) => (typeof unix === 'number' && unix > 0 ? new Date(unix * 1000).toISOString().replace('.000Z', 'Z') : 'not recorded');

function errorBox(msg) {
  return h('p', { class: 'error', role: 'alert', text: msg });
}

function show(title, ...kids) {
  document.title = `${title} · Signet log explorer`;
  const h1 = h('h1', { tabindex: '-1', text: title });
  main.replaceChildren(h1, ...kids.flat(2).filter((k) => k !== null && k !== undefined && k !== false));
  return h1;
}

// ---------- the log's API ----------
class ApiError extends Error {}

async function api(path, init) {
  let res;
  try {
    res = await fetch(path, { ...init, headers: { accept: 'application/json', ...(init?.body ? { 'content-type': 'application/json' } : {}) } });
  } catch {
    throw new ApiError('the log did not answer (network error)');
  }
  const text = await res.text();
  let body;
  try {
    body = text === '' ? undefined : JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (!res.ok) {
    const msg = body && typeof body.message === 'string' ? body.message : `HTTP ${res.status}`;
    throw new ApiError(res.status === 404 ? `not found: ${msg}` : res.status < 500 ? `the log refused the query: ${msg}` : `the log failed to answer (${res.status}): ${msg}`);
  }
  return body;
}

const post = (path, body) => api(path, { method: 'POST', body: JSON.stringify(body) });

let logKeyPromise;
/** The log's key as the log serves it, with its fingerprint shown so a reader can compare it with their trusted root. */
function logKey() {
  logKeyPromise ??= (async () => {
    const [pemRes, info] = [await fetch('/api/v1/log/publicKey'), await api('/api/v1/log')];
    if (!pemRes.ok) throw new ApiError(`the log's public key is not available (HTTP ${pemRes.status})`);
    const blocks = pemBlocks(await pemRes.text());
    if (blocks.length !== 1 || blocks[0].label !== 'PUBLIC KEY') throw new ApiError("the log's public key is not a PEM PUBLIC KEY");
    const name = String(info.signedTreeHead ?? '').split('\n')[0].split(' - ')[0].trim();
    return importLogKey(blocks[0].der, name);
  })();
  logKeyPromise.catch(() => (logKeyPromise = undefined));
  return logKeyPromise;
}

// ---------- entry bodies ----------
const utf8 = new TextDecoder();

function decodeBody(b64) {
  const bytes = base64Bytes(b64);
  return { bytes, json: JSON.parse(utf8.decode(bytes)) };
}

/** A verifier from an entry body (base64 of PEM): certificates parsed, or a key with its fingerprint. */
async function readVerifier(b64) {
  const pemBytes = base64Bytes(b64);
  const text = utf8.decode(pemBytes);
  const fingerprint = hex(await sha256(pemBytes));
  const blocks = pemBlocks(text);
  if (blocks.length > 0 && blocks[0].label === 'CERTIFICATE') {
    const certs = blocks.map((b) => {
      try {
        return { der: b.der, ...parseCertificate(b.der) };
      } catch (e) {
        return { der: b.der, error: e.message };
      }
    });
    return { kind: 'certificate', pem: text, fingerprint, certs };
  }
  let key;
  try {
    key = spkiInfo(blocks[0].der);
  } catch (e) {
    key = { type: `unreadable (${e.message})` };
  }
  return { kind: 'key', pem: text, fingerprint, key };
}

function identityOf(v) {
  if (v.kind === 'certificate') {
    const leaf = v.certs[0];
    if (leaf.error) return 'certificate (unreadable)';
    const san = leaf.sans.find((s) => s.type === 'email' || s.type === 'URI');
    return san ? san.value : leaf.subject || 'certificate';
  }
  return `${keyLabel(v.key)} key ${v.fingerprint.slice(0, 16)}…`;
}

const keyLabel = (k) => (k.type === 'ECDSA' ? `ECDSA ${k.curve}` : k.type === 'RSA' ? `RSA ${k.bits}` : k.type);

/** The fields every kind has, read from its canonical body. */
async function summarize(body) {
  const spec = body.spec ?? {};
  const out = { kind: String(body.kind), version: String(body.apiVersion), digest: '', verifiers: [], extra: [] };
  if (body.kind === 'hashedrekord') {
    const hsh = spec.data?.hash;
    if (hsh) out.digest = `${hsh.algorithm}:${hsh.value}`;
    if (spec.signature?.publicKey?.content) out.verifiers.push(await readVerifier(spec.signature.publicKey.content));
    out.extra.push(['Signature', mono(spec.signature?.content ?? '')]);
  } else if (body.kind === 'dsse') {
    if (spec.payloadHash) out.digest = `${spec.payloadHash.algorithm}:${spec.payloadHash.value}`;
    for (const s of spec.signatures ?? []) out.verifiers.push(await readVerifier(s.verifier));
    out.extra.push(['Payload hash', mono(out.digest)], ['Envelope hash', spec.envelopeHash ? mono(`${spec.envelopeHash.algorithm}:${spec.envelopeHash.value}`) : undefined]);
  } else if (body.kind === 'intoto') {
    const c = spec.content ?? {};
    if (c.payloadHash) out.digest = `${c.payloadHash.algorithm}:${c.payloadHash.value}`;
    for (const s of c.envelope?.signatures ?? []) out.verifiers.push(await readVerifier(s.publicKey));
    out.extra.push(['DSSE payload type', mono(c.envelope?.payloadType ?? '')], ['Payload hash', mono(out.digest)], ['Envelope hash', c.hash ? mono(`${c.hash.algorithm}:${c.hash.value}`) : undefined]);
  }
  return out;
}

/** [{ id, entry }] from a v1 answer (an object keyed by entry ID, or a list of them). */
function entriesOf(answer) {
  const list = Array.isArray(answer) ? answer : [answer];
  return list.flatMap((o) => Object.entries(o ?? {}).map(([id, entry]) => ({ id, entry })));
}

// ---------- search ----------
const TYPES = [
  ['auto', 'Anything (detect)'],
  ['hash', 'Artifact hash (SHA-256)'],
  ['email', 'Email'],
  ['subject', 'Certificate subject (URI SAN)'],
  ['key', 'Public key or certificate (PEM)'],
  ['fingerprint', 'Key fingerprint'],
  ['index', 'Log index'],
  ['uuid', 'Entry UUID or ID'],
];

/** What a query is, or an error message in the reader's terms. */
export function classify(q, type) {
  const v = q.trim();
  if (v === '') return { error: 'Enter something to search for: an artifact hash, email, certificate subject, public key, log index or entry UUID; or choose a file below.' };
  if (v.length > MAX_QUERY) return { error: 'That query is too long (more than 64 KiB).' };
  const hex64 = /^(?:sha256:)?([0-9a-fA-F]{64})$/.exec(v);
  const longHash = /^(sha384|sha512):([0-9a-fA-F]+)$/i.exec(v);
  switch (type) {
    case 'auto':
      if (v.startsWith('-----BEGIN')) return classify(v, 'key');
      if (/^[0-9]+$/.test(v)) return classify(v, 'index');
      if (hex64 && !v.startsWith('sha256:')) return { kind: 'any64', value: hex64[1].toLowerCase() };
      if (hex64 || longHash) return classify(v, 'hash');
      if (/^[0-9a-fA-F]{80}$/.test(v)) return classify(v, 'uuid');
      if (/^[0-9a-fA-F]+$/.test(v) && v.length >= 16) return { error: `${v.length} hex digits is neither a SHA-256 hash or UUID (64) nor an entry ID (80).` };
      if (/^[^\s@]+@[^\s@]+$/.test(v)) return classify(v, 'email');
      if (/^[a-z][a-z0-9+.-]*:\S+$/i.test(v)) return classify(v, 'subject');
      return { error: `Cannot tell what "${v.slice(0, 80)}" is. Choose what to search for in the list, or enter a hash, email, URI, PEM key, log index or UUID.` };
    case 'hash':
      if (hex64) return { kind: 'hash', value: `sha256:${hex64[1].toLowerCase()}` };
      if (longHash && longHash[2].length === (longHash[1].toLowerCase() === 'sha384' ? 96 : 128)) return { kind: 'hash', value: v.toLowerCase() };
      return { error: 'An artifact hash is 64 hex digits (SHA-256), optionally written sha256:<hex>; or choose the file below to hash it here.' };
    case 'email':
      if (!/^[^\s@]+@[^\s@]+$/.test(v) || v.length > 512) return { error: 'An email looks like name@example.com.' };
      return { kind: 'email', value: v };
    case 'subject':
      if (/\s/.test(v) || v.length > 512) return { error: 'A certificate subject is one email or URI, without spaces, at most 512 characters.' };
      return { kind: 'subject', value: v };
    case 'key': {
      let blocks;
      try {
        blocks = pemBlocks(v);
      } catch (e) {
        return { error: `That PEM does not decode: ${e.message}.` };
      }
      if (blocks.length === 0) return { error: 'Paste a PEM public key or certificate (-----BEGIN PUBLIC KEY----- …).' };
      return { kind: 'key', value: v };
    }
    case 'fingerprint': {
      const m = /^(?:sha256:)?([0-9a-fA-F]{64})$/.exec(v.replaceAll(':', '').length === 64 ? v.replaceAll(':', '') : v);
      if (!m) return { error: "A key fingerprint is 64 hex digits: the SHA-256 of the key's PEM, as the entry pages show it." };
      return { kind: 'fingerprint', value: m[1].toLowerCase() };
    }
    case 'index':
      if (!/^[0-9]+$/.test(v) || !Number.isSafeInteger(Number(v))) return { error: 'A log index is a whole number, e.g. 42.' };
      return { kind: 'index', value: Number(v) };
    case 'uuid':
      if (!/^([0-9a-fA-F]{64}|[0-9a-fA-F]{80})$/.test(v)) return { error: 'An entry UUID is 64 hex digits; an entry ID (tree ID + UUID) is 80.' };
      return { kind: 'uuid', value: v.toLowerCase() };
    default:
      return { error: `Unknown search type "${type}".` };
  }
}

const b64utf8 = (s) => btoa(String.fromCharCode(...new TextEncoder().encode(s)));

/** Entry IDs matching a classified query (oldest first, as the index answers). */
async function findIds(c) {
  switch (c.kind) {
    case 'hash':
      return post('/api/v1/index/retrieve', { hash: c.value });
    case 'email':
      return post('/api/v1/index/retrieve', { email: c.value });
    case 'subject':
      return post('/api/v1/index/retrieve', { subject: c.value });
    case 'key':
      return post('/api/v1/index/retrieve', { publicKey: { format: 'x509', content: b64utf8(c.value) } });
    case 'fingerprint':
      return api(`/api/explorer/v1/fingerprint/${c.value}`);
    case 'index':
      return entriesOf(await post('/api/v1/log/entries/retrieve', { logIndexes: [c.value] })).map((e) => e.id);
    case 'uuid':
      return entriesOf(await post('/api/v1/log/entries/retrieve', { entryUUIDs: [c.value] })).map((e) => e.id);
    case 'any64': {
      const parts = await Promise.all([findIds({ kind: 'hash', value: `sha256:${c.value}` }), findIds({ kind: 'fingerprint', value: c.value }), findIds({ kind: 'uuid', value: c.value })]);
      const seen = new Set();
      return parts.flat().filter((id) => !seen.has(id.slice(-64)) && seen.add(id.slice(-64)));
    }
    default:
      return [];
  }
}

function searchForm(q = '', type = 'auto') {
  const err = h('div', { id: 'search-error', 'aria-live': 'polite' });
  const ta = h('textarea', { id: 'q', name: 'q', rows: q.includes('\n') ? 6 : 1, spellcheck: 'false', autocomplete: 'off', 'aria-describedby': 'q-hint search-error' });
  ta.value = q;
  ta.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && !ev.shiftKey && !ta.value.startsWith('-----BEGIN')) {
      ev.preventDefault();
      form.requestSubmit();
    }
  });
  const sel = h('select', { id: 'type', name: 'type' }, TYPES.map(([v, label]) => h('option', { value: v, text: label })));
  sel.value = TYPES.some(([v]) => v === type) ? type : 'auto';
  const form = h(
    'form',
    {
      class: 'search',
      role: 'search',
      onsubmit: (ev) => {
        ev.preventDefault();
        const c = classify(ta.value, sel.value);
        if (c.error) {
          err.replaceChildren(errorBox(c.error));
          ta.focus();
          return;
        }
        location.hash = searchHref(ta.value.trim(), sel.value);
      },
    },
    h('div', { class: 'field' }, h('label', { for: 'q', text: 'Search the log' }), ta),
    h('div', { class: 'field' }, h('label', { for: 'type', text: 'Search for' }), sel),
    h('button', { type: 'submit', text: 'Search' }),
  );
  const status = h('p', { class: 'hint', id: 'file-status', 'aria-live': 'polite' });
  const file = h('input', { type: 'file', id: 'file', 'aria-describedby': 'file-status' });
  const hashFile = async (f) => {
    if (!f) return;
    status.textContent = `Hashing ${f.name} (${f.size} bytes) in your browser…`;
    try {
      const digest = hex(await sha256(new Uint8Array(await f.arrayBuffer())));
      status.textContent = `${f.name}: sha256:${digest}`;
      location.hash = searchHref(digest, 'hash');
    } catch (e) {
      status.replaceChildren(errorBox(`Could not read ${f.name}: ${e.message}`));
    }
  };
  file.addEventListener('change', () => hashFile(file.files?.[0]));
  const drop = h(
    'div',
    { class: 'drop', id: 'drop' },
    h('label', { for: 'file', text: 'Or find an artifact by its file: drop it here or choose it (hashed in your browser, never uploaded)' }),
    h('div', {}, file),
    status,
  );
  drop.addEventListener('dragover', (ev) => {
    ev.preventDefault();
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (ev) => {
    ev.preventDefault();
    drop.classList.remove('over');
    hashFile(ev.dataTransfer?.files?.[0]);
  });
  return h(
    'section',
    { 'aria-label': 'Search' },
    form,
    h('p', { class: 'hint', id: 'q-hint', text: 'An artifact SHA-256, an email or URI from a certificate, a PEM public key or certificate, a key fingerprint, a log index, or an entry UUID.' }),
    err,
    drop,
  );
}

async function resultsTable(items, caption) {
  const rows = [];
  for (const { id, entry } of items.sort((a, b) => b.entry.logIndex - a.entry.logIndex)) {
    let s;
    try {
      s = await summarize(decodeBody(entry.body).json);
    } catch {
      s = { kind: 'unreadable', version: '', digest: '', verifiers: [] };
    }
    rows.push(
      h(
        'tr',
        {},
        h('td', { 'data-label': 'Index' }, link(entryHref(id), String(entry.logIndex))),
        h('td', { 'data-label': 'Kind', text: `${s.kind} ${s.version}` }),
        h('td', { 'data-label': 'Integrated', text: time(entry.integratedTime) }),
        h('td', { 'data-label': 'Signer', class: 'mono signer', text: s.verifiers.map(identityOf).join(', ') }),
        h('td', { 'data-label': 'Digest', class: 'mono', text: s.digest }),
      ),
    );
  }
  return h(
    'table',
    { class: 'results' },
    h('caption', { text: caption }),
    h('thead', {}, h('tr', {}, ['Index', 'Kind', 'Integrated (UTC)', 'Signer', 'Artifact / payload digest'].map((t) => h('th', { scope: 'col', text: t })))),
    h('tbody', {}, rows),
  );
}

async function searchPage(params) {
  const q = params.get('q') ?? '';
  const type = params.get('type') ?? 'auto';
  const pageParam = params.get('page') ?? '1';
  const out = h('section', { 'aria-label': 'Results', id: 'results', 'aria-live': 'polite' }, h('p', { text: 'Searching…' }));
  show('Search results', searchForm(q, type), out);
  const c = classify(q, type);
  if (c.error) return out.replaceChildren(errorBox(c.error));
  if (!/^[1-9][0-9]{0,6}$/.test(pageParam)) return out.replaceChildren(errorBox('The page number must be a whole number from 1.'));
  const page = Number(pageParam);
  let ids;
  try {
    ids = await findIds(c);
  } catch (e) {
    return out.replaceChildren(errorBox(e.message));
  }
  if (!Array.isArray(ids) || ids.length === 0) return out.replaceChildren(h('p', { class: 'notice', id: 'no-results', text: 'No entries found.' }));
  ids = [...ids].reverse(); // newest first
  const pages = Math.ceil(ids.length / PAGE_SIZE);
  if (page > pages) return out.replaceChildren(errorBox(`There are only ${pages} page(s) of results.`));
  const slice = ids.slice((page - 1) * PAGE_SIZE, page * PAGE_SIZE);
  let items;
  try {
    items = entriesOf(await post('/api/v1/log/entries/retrieve', { entryUUIDs: slice }));
  } catch (e) {
    return out.replaceChildren(errorBox(e.message));
  }
  const first = (page - 1) * PAGE_SIZE + 1;
  const caption = `Entries ${first}–${first + slice.length - 1} of ${ids.length}, newest first`;
  const nav = h(
    'nav',
    { class: 'pager', 'aria-label': 'Result pages' },
    page > 1 ? link(searchHref(q, type, page - 1), 'Previous page', { rel: 'prev' }) : null,
    h('span', { text: `Page ${page} of ${pages}` }),
    page < pages ? link(searchHref(q, type, page + 1), 'Next page', { rel: 'next' }) : null,
  );
  out.replaceChildren(await resultsTable(items, caption), nav);
}

// ---------- entry ----------
function certBlock(cert, i, integratedTime) {
  if (cert.error) return h('div', { class: 'cert' }, h('h4', { text: `Certificate ${i + 1}` }), errorBox(`cannot read this certificate: ${cert.error}`));
  const at = integratedTime > 0 ? new Date(integratedTime * 1000) : undefined;
  const valid = at ? at >= cert.notBefore && at <= cert.notAfter : undefined;
  return h(
    'div',
    { class: 'cert' },
    h('h4', { text: i === 0 ? 'Signing certificate' : `Chain certificate ${i + 1}${cert.isCa ? ' (CA)' : ''}` }),
    fields([
      ['Subject', cert.subject ? mono(cert.subject) : '(empty)'],
      ['Issuer', mono(cert.issuer)],
      ['Serial', mono(cert.serial)],
      ['Valid', `${cert.notBefore.toISOString()} to ${cert.notAfter.toISOString()}`],
      at ? ['At integrated time', valid ? 'within the validity period' : 'OUTSIDE the validity period'] : undefined,
      ['Public key', keyLabel(cert.key)],
      ...cert.sans.map((s) => [`SAN (${s.type})`, mono(s.value)]),
      ...cert.fulcio.map((f) => [f.name, h('span', {}, mono(f.value), h('span', { class: 'hint', text: ` (${f.oid})` }))]),
      ['Extensions', cert.extensions.map((e) => `${e.name}${e.critical ? ' (critical)' : ''}`).join(', ')],
    ]),
  );
}

function signerBlock(v, n, total, integratedTime) {
  const head = total > 1 ? h('h3', { text: `Signer ${n + 1}` }) : null;
  if (v.kind === 'certificate') {
    const leaf = v.certs[0];
    const sanEmail = leaf.sans?.find((s) => s.type === 'email');
    const sanUri = leaf.sans?.find((s) => s.type === 'URI');
    const issuer = leaf.fulcio?.find((f) => f.oid.endsWith('.1.8')) ?? leaf.fulcio?.find((f) => f.oid.endsWith('.1.1'));
    return h(
      'section',
      { class: 'signer' },
      head,
      fields([
        ['Identity', sanEmail ? link(searchHref(sanEmail.value, 'email'), sanEmail.value) : sanUri ? link(searchHref(sanUri.value, 'subject'), sanUri.value) : '(no email or URI SAN)'],
        ['OIDC issuer', issuer ? mono(issuer.value) : undefined],
        ['Chain fingerprint', link(searchHref(v.fingerprint, 'fingerprint'), mono(v.fingerprint))],
      ]),
      v.certs.map((c, i) => certBlock(c, i, integratedTime)),
      h('details', {}, h('summary', { text: 'Certificate chain (PEM)' }), h('pre', { text: v.pem })),
    );
  }
  return h(
    'section',
    { class: 'signer' },
    head,
    fields([
      ['Public key', keyLabel(v.key)],
      ['Key fingerprint', h('span', {}, link(searchHref(v.fingerprint, 'fingerprint'), mono(v.fingerprint)), h('span', { class: 'hint', text: " (SHA-256 of the key's PEM)" }))],
    ]),
    h('pre', { class: 'pem', text: v.pem }),
  );
}

/** The payload inside a bundle, a DSSE envelope, cosign's legacy attestation file, or a bare statement. */
function payloadOf(bytes, depth = 0) {
  let doc;
  try {
    doc = JSON.parse(utf8.decode(bytes));
  } catch {
    return { bytes };
  }
  const env = doc?.dsseEnvelope ?? (typeof doc?.payload === 'string' && typeof doc?.payloadType === 'string' ? doc : undefined);
  if (env) return { bytes: base64Bytes(env.payload), payloadType: String(env.payloadType) };
  if (typeof doc?.base64Signature === 'string' && depth === 0) return payloadOf(base64Bytes(doc.base64Signature), 1);
  return { bytes };
}

/**
 * dsse and intoto bodies keep the payload's hash, not the payload: the reader's bundle, envelope or
 * statement is checked against that hash here, and only then are its subject and predicate type shown.
 */
function statementCheck(payloadDigest) {
  const out = h('div', { id: 'statement', 'aria-live': 'polite' });
  const input = h('input', { type: 'file', id: 'statement-file' });
  input.addEventListener('change', async () => {
    const f = input.files?.[0];
    if (!f) return;
    try {
      const p = payloadOf(new Uint8Array(await f.arrayBuffer()));
      const digest = `sha256:${hex(await sha256(p.bytes))}`;
      if (digest !== payloadDigest) {
        out.replaceChildren(errorBox(`${f.name} does not hold this entry's payload: its payload hashes to ${digest}, the entry logged ${payloadDigest}.`));
        return;
      }
      let st;
      try {
        st = JSON.parse(utf8.decode(p.bytes));
      } catch {
        st = undefined;
      }
      const subjects = Array.isArray(st?.subject) ? st.subject : [];
      out.replaceChildren(
        h('p', { class: 'verdict ok', text: `${f.name} holds the logged payload (${digest}).` }),
        fields([
          ['DSSE payload type', p.payloadType ? mono(p.payloadType) : undefined],
          ['Statement type', st?._type ? mono(String(st._type)) : undefined],
          ['Predicate type', st?.predicateType ? mono(String(st.predicateType)) : undefined],
          ...subjects.map((sub, i) => [
            `Subject ${i + 1}`,
            h(
              'span',
              {},
              mono(String(sub?.name ?? '')),
              ' ',
              Object.entries(sub?.digest ?? {}).map(([alg, v]) => h('span', {}, ' ', alg === 'sha256' ? link(searchHref(String(v), 'hash'), mono(`${alg}:${v}`)) : mono(`${alg}:${v}`))),
            ),
          ]),
        ]),
      );
    } catch (e) {
      out.replaceChildren(errorBox(`Could not read ${f.name}: ${e.message}`));
    }
  });
  return h(
    'section',
    { 'aria-label': 'Attestation statement' },
    h('h2', { text: 'Statement' }),
    h('p', { class: 'hint', text: "The log keeps the envelope's hashes, not its payload (the in-toto subject digests are searchable). To see the subject and predicate type, choose the bundle, envelope or statement: it is checked against the logged payload hash here." }),
    h('label', { for: 'statement-file', text: 'Bundle, DSSE envelope or statement file' }),
    h('div', {}, input),
    out,
  );
}

async function entryPage(idOrIndex, byIndex) {
  show(byIndex ? `Entry at index ${idOrIndex}` : 'Log entry', h('p', { text: 'Loading the entry…' }));
  let items;
  try {
    if (byIndex) {
      if (!/^[0-9]+$/.test(idOrIndex) || !Number.isSafeInteger(Number(idOrIndex))) throw new ApiError('A log index is a whole number, e.g. 42.');
      items = entriesOf(await api(`/api/v1/log/entries?logIndex=${idOrIndex}`));
    } else {
      const c = classify(idOrIndex, 'uuid');
      if (c.error) throw new ApiError(c.error);
      items = entriesOf(await api(`/api/v1/log/entries/${c.value}`));
    }
  } catch (e) {
    show('Entry not shown', errorBox(e.message), searchForm());
    return;
  }
  if (items.length !== 1) {
    show('Entry not shown', errorBox('The log answered with an unexpected shape.'));
    return;
  }
  const { id, entry } = items[0];
  let body;
  let s;
  try {
    body = decodeBody(entry.body);
    s = await summarize(body.json);
  } catch (e) {
    body ??= { bytes: new Uint8Array(), json: null };
    s = { kind: 'unreadable', version: '', digest: '', verifiers: [], extra: [['Problem', `the body does not decode: ${e.message}`]] };
  }
  const verdict = h('div', { class: 'verdict pending', id: 'verdict', role: 'status', 'data-state': 'pending', text: 'Checking the inclusion proof in your browser…' });
  const steps = h('ol', { class: 'steps', id: 'proof-steps' });
  const proof = entry.verification?.inclusionProof;
  const keyInfo = h('p', { class: 'hint', id: 'log-key' });
  show(
    `Entry ${entry.logIndex}: ${s.kind} ${s.version}`,
    verdict,
    h('h2', { text: 'Entry' }),
    fields([
      ['Kind', `${s.kind} ${s.version}`],
      ['Log index', String(entry.logIndex)],
      ['Integrated time', time(entry.integratedTime)],
      ['Entry UUID', mono(id.slice(-64))],
      ['Entry ID', mono(id)],
      ['Log ID', mono(entry.logID ?? '')],
      s.kind === 'hashedrekord' && s.digest ? ['Artifact digest', link(searchHref(s.digest.replace(/^sha256:/, ''), 'hash'), mono(s.digest))] : undefined,
      ...s.extra,
    ]),
    s.kind === 'dsse' || s.kind === 'intoto' ? statementCheck(s.digest) : null,
    h('h2', { text: s.verifiers.length > 1 ? 'Signers' : 'Signer' }),
    s.verifiers.map((v, i) => signerBlock(v, i, s.verifiers.length, entry.integratedTime)),
    h('h2', { text: 'Inclusion proof' }),
    keyInfo,
    steps,
    proof
      ? fields([
          ['Tree size', String(proof.treeSize)],
          ['Root hash', mono(String(proof.rootHash))],
          ['Proof hashes', h('ol', { class: 'mono' }, (proof.hashes ?? []).map((x) => h('li', { text: String(x) })))],
          ['Checkpoint', h('pre', { text: String(proof.checkpoint ?? '') })],
        ])
      : null,
    h('h2', { text: 'Raw body' }),
    h('pre', { id: 'raw-body', text: body.json ? JSON.stringify(body.json, null, 2) : '' }),
    h('p', {}, link(`/api/v1/log/entries/${encodeURIComponent(id)}`, 'The log\'s JSON for this entry')),
  );
  const setVerdict = (ok, text) => {
    verdict.className = `verdict ${ok ? 'ok' : 'bad'}`;
    verdict.dataset.state = ok ? 'verified' : 'failed';
    verdict.textContent = text;
  };
  try {
    const key = await logKey();
    keyInfo.textContent = `Checked with the log's ${keyLabel(key.info)} key, SHA-256 ${hex(key.spkiHash)} (compare with the log's key in your trusted root).`;
    const r = await verifyEntryInclusion({ uuid: id, body: body.bytes, logIndex: entry.logIndex, logID: entry.logID, proof }, key);
    steps.replaceChildren(...r.steps.map((st) => h('li', {}, h('span', { class: st.ok ? 'okmark' : 'badmark', text: st.ok ? '✓ ' : '✗ ' }), `${st.label}: `, mono(st.detail ?? ''))));
    const failed = r.steps.find((st) => !st.ok);
    if (r.ok) setVerdict(true, `Inclusion proof VERIFIED in your browser: entry ${entry.logIndex} is in the tree of size ${proof.treeSize} that the log signed.`);
    else setVerdict(false, `Inclusion proof verification FAILED: ${failed ? `${failed.label} — no. ${failed.detail ?? ''}` : 'unknown reason'}`);
  } catch (e) {
    setVerdict(false, `Inclusion proof verification FAILED: ${e.message}`);
  }
}

// ---------- log state ----------
async function recentEntries(size, n) {
  if (size === 0) return h('p', { class: 'notice', text: 'The log is empty.' });
  const indexes = [];
  for (let i = size - 1; i >= 0 && indexes.length < n; i--) indexes.push(i);
  const items = [];
  for (let i = 0; i < indexes.length; i += PAGE_SIZE) items.push(...entriesOf(await post('/api/v1/log/entries/retrieve', { logIndexes: indexes.slice(i, i + PAGE_SIZE) })));
  return resultsTable(items, `The ${items.length} most recent entries`);
}

async function logSummary(full) {
  const [info, stats] = await Promise.all([api('/api/v1/log'), api('/api/explorer/v1/stats')]);
  const rate = stats.entriesPerMinute;
  const fmt = (x) => (Number.isInteger(x) ? String(x) : x.toFixed(1));
  const parts = [
    h(
      'dl',
      { class: 'stats', id: 'stats' },
      [
        ['Tree size', String(info.treeSize)],
        ['Entries, last minute', fmt(rate.lastMinute)],
        ['Per minute, last 10 min', fmt(rate.last10Minutes)],
        ['Per minute, last hour', fmt(rate.lastHour)],
      ].map(([k, v]) => h('div', {}, h('dt', { text: k }), h('dd', { text: v }))),
    ),
  ];
  if (full) {
    const cpState = h('p', { id: 'checkpoint-state', role: 'status', class: 'verdict pending', text: 'Checking the checkpoint signature…' });
    parts.push(
      h('h2', { text: 'Latest checkpoint' }),
      cpState,
      fields([
        ['Tree ID', mono(String(info.treeID))],
        ['Root hash', mono(String(info.rootHash))],
        ['Latest entry integrated', time(stats.latestIntegratedTime)],
      ]),
      h('pre', { text: String(info.signedTreeHead) }),
    );
    logKey()
      .then((key) => verifyCheckpoint(info.signedTreeHead, key).then((cp) => ({ key, cp })))
      .then(({ key, cp }) => {
        const ok = cp.size === info.treeSize && hex(cp.rootHash) === String(info.rootHash).toLowerCase();
        cpState.className = `verdict ${ok ? 'ok' : 'bad'}`;
        cpState.textContent = ok
          ? `Checkpoint signature VERIFIED with the log's key (SHA-256 ${hex(key.spkiHash)}).`
          : 'Checkpoint verification FAILED: the signed checkpoint names another size or root than the log reports.';
      })
      .catch((e) => {
        cpState.className = 'verdict bad';
        cpState.textContent = `Checkpoint verification FAILED: ${e.message}`;
      });
  }
  parts.push(h('h2', { text: 'Recent entries' }), await recentEntries(info.treeSize, full ? 20 : PAGE_SIZE));
  return parts;
}

async function homePage() {
  const state = h('section', { 'aria-label': 'Log state' }, h('p', { text: 'Loading the log state…' }));
  show('Search the transparency log', searchForm(), h('h2', { text: 'Log' }), state);
  try {
    state.replaceChildren(...(await logSummary(false)), h('p', {}, link('#/log', 'Log state and the latest checkpoint')));
  } catch (e) {
    state.replaceChildren(errorBox(e.message));
  }
}

async function logPage() {
  const state = h('section', { 'aria-label': 'Log state' }, h('p', { text: 'Loading the log state…' }));
  show('Log state', state);
  try {
    state.replaceChildren(...(await logSummary(true)));
  } catch (e) {
    state.replaceChildren(errorBox(e.message));
  }
}

// ---------- routing ----------
let navigations = 0;
async function route() {
  const n = ++navigations;
  const raw = location.hash.replace(/^#/, '') || '/';
  const qi = raw.indexOf('?');
  const path = qi < 0 ? raw : raw.slice(0, qi);
  const params = new URLSearchParams(qi < 0 ? '' : raw.slice(qi + 1));
  let m;
  try {
    if (path === '/' || path === '') await homePage();
    else if (path === '/search') await searchPage(params);
    else if (path === '/log') await logPage();
    else if ((m = /^\/entry\/([^/]+)$/.exec(path))) await entryPage(decodeURIComponent(m[1]), false);
    else if ((m = /^\/index\/([^/]+)$/.exec(path))) await entryPage(decodeURIComponent(m[1]), true);
    else show('Page not found', errorBox(`There is no page ${path.slice(0, 100)} here.`), searchForm());
  } catch (e) {
    show('Something went wrong', errorBox(String(e?.message ?? e)));
  }
  if (n === navigations) document.body.dataset.ready = String(n);
}

window.addEventListener('hashchange', () => {
  route().then(() => main.querySelector('h1')?.focus());
});
route();
