/*
 * ECDSA verification over a precomputed digest, by the OpenSSL that Node itself links.
 *
 * A hashedrekord entry carries only the digest of its artifact, and node:crypto verifies ECDSA only
 * over messages it hashes itself. This addon hands the digest straight to EVP_PKEY_verify, which with
 * no message digest configured treats its input as the hash (ECDSA's bits2int truncation included), or
 * for a P-256/P-384 key in the standard SPKI form to ECDSA_verify, which EVP_PKEY_verify runs for it
 * (see "verification keys").
 * It links against nothing: the OpenSSL symbols resolve to the ones the node binary exports, so the
 * verdict is exactly Node's own OpenSSL's.
 *
 * verify(spkiDer: Uint8Array, digest: Uint8Array, sigDer: Uint8Array): boolean
 *   true only for a valid signature by an EC public key; false for a bad signature, a key that is not
 *   EC, or DER that does not parse. Throws only on wrong argument types.
 * verifyMany(spkis: Uint8Array[], digests: Uint8Array[], sigs: Uint8Array[]): Promise<Uint8Array>
 *   many checks in one libuv thread-pool job (verdicts 1/0 in order), so that the event loop pays only
 *   the hand-off instead of ~90 µs per P-256 verification. A hand-off wakes a pool thread, which on a
 *   busy machine costs the event loop tens of µs, so a server hands over a whole batch at once. The
 *   inputs are copied before the call returns; a key repeated within the batch is parsed once.
 * merkleLevels(hashes: Uint8Array): Buffer
 *   the RFC 6962 interior levels over a run of 32-byte hashes (a tile): level 1 (floor(n/2) hashes of
 *   adjacent pairs), then level 2, and so on, concatenated. Synchronous: a full tile is 255 SHA-256s,
 *   ~27 µs here, ~10x faster than one crypto.hash call each; every proof read expands a tile or more.
 * signingKey(pkcs8Der: Uint8Array): object, and
 * signMany(key, md: string, payloads: Uint8Array[]): Promise<Uint8Array>
 *   signatures (ECDSA DER, or Ed25519 with md "") of many payloads in one thread-pool job, each
 *   prefixed by its 2-byte big-endian length. The log signs a SET for every entry it accepts.
 * setPoolNice(n: 0..19): void
 *   thread-pool threads lower their own priority by n nice steps before their next verifyMany or
 *   signMany job (Linux only; see "thread-pool priority" below).
 * readSmallFile(path: string, max: number, digestOut?: Uint8Array): Buffer | null
 *   a small file whole, in one call (open, fstat, pread, close: see "small file reads" below), into a
 *   Buffer of its own; null when it is larger than max bytes. With digestOut (32 bytes), its SHA-256 too.
 * readBundleEntry(path: string, j: number, into: Uint8Array, firstRead: number): number
 *   an entry bundle read into `into` only as far as its entry j ends, in one call (see there).
 */
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <stdio.h>
#ifndef _WIN32
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>
#endif
#include <node_api.h>
#include <openssl/evp.h>
/* The low-level SHA-256 calls (deprecated in OpenSSL 3 in favour of EVP, still exported by Node's
 * OpenSSL): for the 65-byte inputs of Merkle nodes, EVP's per-digest set-up costs more than the hash. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/obj_mac.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <openssl/err.h>
#ifdef __linux__
#include <sys/resource.h>
#include <sys/syscall.h>
#endif

/*
 * ---- thread-pool priority ----
 * A log server's event loop is its one serial stage; the thread-pool threads doing signature work for it
 * are many and parallel. On a small machine, with more runnable threads than cores, the scheduler would
 * share time evenly and preempt the loop for them, and then every stage waits on the loop. A pool thread
 * therefore lowers its own priority by `pool_nice` (Linux nice increments, per thread) before its first
 * job. Raising nice needs no privilege; it is never lowered again.
 */
static int pool_nice = 0;
static _Thread_local int thread_nice = 0;

static void lower_pool_thread_priority(void) {
#ifdef __linux__
  int want = __atomic_load_n(&pool_nice, __ATOMIC_RELAXED);
  if (want <= thread_nice) return;
  id_t tid = (id_t)syscall(SYS_gettid);
  errno = 0;
  int cur = getpriority(PRIO_PROCESS, tid);
  if (errno == 0) {
    int target = cur + (want - thread_nice);
    setpriority(PRIO_PROCESS, tid, target > 19 ? 19 : target);
  }
  thread_nice = want;
#endif
}

static napi_value set_pool_nice(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t n;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  if (argc < 1 || napi_get_value_int32(env, argv[0], &n) != napi_ok || n < 0 || n > 19) {
    napi_throw_range_error(env, NULL, "setPoolNice(n) takes an integer 0..19");
    return NULL;
  }
  __atomic_store_n(&pool_nice, n, __ATOMIC_RELAXED);
  return NULL;
}

static int bytes_of(napi_env env, napi_value v, const unsigned char **data, size_t *len) {
  bool is_ta = false;
  if (napi_is_typedarray(env, v, &is_ta) != napi_ok || !is_ta) return 0;
  napi_typedarray_type type;
  size_t length;
  void *ptr;
  napi_value ab;
  size_t offset;
  if (napi_get_typedarray_info(env, v, &type, &length, &ptr, &ab, &offset) != napi_ok) return 0;
  if (type != napi_uint8_array) return 0;
  *data = (const unsigned char *)ptr;
  *len = length;
  return 1;
}

/*
 * ---- verification keys ----
 * A parsed verification key. The two SubjectPublicKeyInfo forms nearly every ECDSA key comes in (P-256 and
 * P-384, named curve, uncompressed point: a fixed DER prefix, then the point) are read with the EC_KEY
 * calls: o2i_ECPublicKey checks the point is on the curve as the decoder does, and ECDSA_verify is what
 * EVP_PKEY_verify runs for an EC key (DER strictness included). d2i_PUBKEY, OpenSSL 3's decoder, costs
 * ~11-13 µs a key here against ~3.5, and a log whose entries each carry a key of their own (keyless
 * signing) parses one per entry. Every other key goes through d2i_PUBKEY and EVP.
 */
struct vkey {
  EVP_PKEY *pkey;
  EC_KEY *ec;
};

static const unsigned char P256_SPKI_PREFIX[] = {0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01,
                                                 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00};
static const unsigned char P384_SPKI_PREFIX[] = {0x30, 0x76, 0x30, 0x10, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02,
                                                 0x01, 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22, 0x03, 0x62, 0x00};

/* The EC_KEY of a standard P-256/P-384 SPKI, or NULL when it is not one (or its point is not valid). */
static EC_KEY *standard_ec_key(const unsigned char *spki, size_t spki_len) {
  const unsigned char *prefix;
  size_t prefix_len, point_len;
  int nid;
  if (spki_len == sizeof(P256_SPKI_PREFIX) + 65) {
    prefix = P256_SPKI_PREFIX, prefix_len = sizeof(P256_SPKI_PREFIX), point_len = 65, nid = NID_X9_62_prime256v1;
  } else if (spki_len == sizeof(P384_SPKI_PREFIX) + 97) {
    prefix = P384_SPKI_PREFIX, prefix_len = sizeof(P384_SPKI_PREFIX), point_len = 97, nid = NID_secp384r1;
  } else {
    return NULL;
  }
  if (memcmp(spki, prefix, prefix_len) != 0 || spki[prefix_len] != 0x04) return NULL;
  EC_KEY *ec = EC_KEY_new_by_curve_name(nid);
  const unsigned char *p = spki + prefix_len;
  if (ec == NULL || o2i_ECPublicKey(&ec, &p, (long)point_len) == NULL) {
    EC_KEY_free(ec);
    return NULL;
  }
  return ec;
}

/* The EC public key in a DER SubjectPublicKeyInfo; both NULL for anything else. */
static struct vkey vkey_of(const unsigned char *spki, size_t spki_len) {
  struct vkey k = {NULL, NULL};
  k.ec = standard_ec_key(spki, spki_len);
  if (k.ec != NULL) return k;
  /* A standard-looking SPKI whose point did not parse is refused by the decoder too; it decides. */
  ERR_clear_error();
  const unsigned char *p = spki;
  EVP_PKEY *pkey = d2i_PUBKEY(NULL, &p, (long)spki_len);
  /* Trailing bytes after the SubjectPublicKeyInfo mean the input was not one key. */
  if (pkey != NULL && (p != spki + spki_len || EVP_PKEY_get_base_id(pkey) != EVP_PKEY_EC)) {
    EVP_PKEY_free(pkey);
    pkey = NULL;
  }
  k.pkey = pkey;
  return k;
}

static void vkey_free(struct vkey *k) {
  EC_KEY_free(k->ec);
  EVP_PKEY_free(k->pkey);
  k->ec = NULL;
  k->pkey = NULL;
}

static int check_with(const struct vkey *k, const unsigned char *digest, size_t digest_len, const unsigned char *sig, size_t sig_len) {
  int ok = 0;
  if (k->ec != NULL) {
    ok = digest_len <= 0x7fffffff && sig_len <= 0x7fffffff && ECDSA_verify(0, digest, (int)digest_len, sig, (int)sig_len, k->ec) == 1;
  } else if (k->pkey != NULL) {
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(k->pkey, NULL);
    if (ctx != NULL && EVP_PKEY_verify_init(ctx) == 1) ok = EVP_PKEY_verify(ctx, sig, sig_len, digest, digest_len) == 1;
    EVP_PKEY_CTX_free(ctx);
  }
  /* Failures leave entries on this thread's OpenSSL error queue; node:crypto must not inherit them. */
  ERR_clear_error();
  return ok;
}

static int check(const unsigned char *spki, size_t spki_len, const unsigned char *digest, size_t digest_len,
                 const unsigned char *sig, size_t sig_len) {
  struct vkey k = vkey_of(spki, spki_len);
  int ok = check_with(&k, digest, digest_len, sig, sig_len);
  vkey_free(&k);
  return ok;
}

struct args {
  const unsigned char *spki, *digest, *sig;
  size_t spki_len, digest_len, sig_len;
};

static int get_args(napi_env env, napi_callback_info info, const char *usage, struct args *a) {
  size_t argc = 3;
  napi_value argv[3];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return 0;
  if (argc < 3 || !bytes_of(env, argv[0], &a->spki, &a->spki_len) || !bytes_of(env, argv[1], &a->digest, &a->digest_len) ||
      !bytes_of(env, argv[2], &a->sig, &a->sig_len)) {
    napi_throw_type_error(env, NULL, usage);
    return 0;
  }
  return 1;
}

static napi_value verify(napi_env env, napi_callback_info info) {
  struct args a;
  if (!get_args(env, info, "verify(spkiDer, digest, sigDer) takes three Uint8Arrays", &a)) return NULL;
  napi_value result;
  napi_get_boolean(env, check(a.spki, a.spki_len, a.digest, a.digest_len, a.sig, a.sig_len), &result);
  return result;
}

/* ---- batches ---- */

/* Copies of n byte strings into one allocation: ends[i] is where string i ends. */
struct packed {
  size_t n;
  size_t *ends;
  unsigned char *data;
};

static void packed_free(struct packed *p) {
  free(p->ends);
  free(p->data);
  p->ends = NULL;
  p->data = NULL;
}

static const unsigned char *packed_at(const struct packed *p, size_t i, size_t *len) {
  size_t start = i == 0 ? 0 : p->ends[i - 1];
  *len = p->ends[i] - start;
  return p->data + start;
}

/* Packs a JS array of Uint8Arrays; n_expected (if not (size_t)-1) must match its length. */
static int pack_array(napi_env env, napi_value arr, size_t n_expected, struct packed *out) {
  bool is_array = false;
  uint32_t n;
  out->n = 0;
  out->ends = NULL;
  out->data = NULL;
  if (napi_is_array(env, arr, &is_array) != napi_ok || !is_array) return 0;
  if (napi_get_array_length(env, arr, &n) != napi_ok) return 0;
  if (n_expected != (size_t)-1 && n != n_expected) return 0;
  const unsigned char **ptrs = malloc(sizeof(*ptrs) * (n ? n : 1));
  out->ends = malloc(sizeof(size_t) * (n ? n : 1));
  if (ptrs == NULL || out->ends == NULL) {
    free(ptrs);
    packed_free(out);
    return 0;
  }
  size_t total = 0;
  for (uint32_t i = 0; i < n; i++) {
    napi_value el;
    size_t len;
    if (napi_get_element(env, arr, i, &el) != napi_ok || !bytes_of(env, el, &ptrs[i], &len)) {
      free(ptrs);
      packed_free(out);
      return 0;
    }
    total += len;
    out->ends[i] = total;
  }
  out->data = malloc(total ? total : 1);
  if (out->data == NULL) {
    free(ptrs);
    packed_free(out);
    return 0;
  }
  for (uint32_t i = 0; i < n; i++) {
    size_t start = i == 0 ? 0 : out->ends[i - 1];
    memcpy(out->data + start, ptrs[i], out->ends[i] - start);
  }
  free(ptrs);
  out->n = n;
  return 1;
}

struct verify_batch {
  napi_async_work work;
  napi_deferred deferred;
  struct packed spkis, digests, sigs;
  unsigned char *verdicts;
};

/*
 * A batch often holds many entries signed with one key (a CI key, a KMS key), so each batch remembers the
 * keys it has parsed, a few at a time; an unparseable key is remembered too (as no key).
 */
#define BATCH_KEYS 8

struct batch_keys {
  size_t n, next;
  const unsigned char *spki[BATCH_KEYS];
  size_t len[BATCH_KEYS];
  struct vkey key[BATCH_KEYS];
};

static const struct vkey *batch_key(struct batch_keys *c, const unsigned char *spki, size_t len) {
  for (size_t i = 0; i < c->n; i++) {
    if (c->len[i] == len && memcmp(c->spki[i], spki, len) == 0) return &c->key[i];
  }
  size_t at = c->n < BATCH_KEYS ? c->n++ : (c->next++ % BATCH_KEYS);
  if (c->spki[at] != NULL) vkey_free(&c->key[at]);
  c->spki[at] = spki;
  c->len[at] = len;
  c->key[at] = vkey_of(spki, len);
  return &c->key[at];
}

static void verify_batch_execute(napi_env env, void *data) {
  (void)env;
  struct verify_batch *b = data;
  lower_pool_thread_priority();
  struct batch_keys keys;
  memset(&keys, 0, sizeof(keys));
  for (size_t i = 0; i < b->spkis.n; i++) {
    size_t kl, dl, sl;
    const unsigned char *k = packed_at(&b->spkis, i, &kl), *d = packed_at(&b->digests, i, &dl), *s = packed_at(&b->sigs, i, &sl);
    b->verdicts[i] = (unsigned char)check_with(batch_key(&keys, k, kl), d, dl, s, sl);
  }
  for (size_t i = 0; i < keys.n; i++) vkey_free(&keys.key[i]);
}

static void verify_batch_free(struct verify_batch *b) {
  packed_free(&b->spkis);
  packed_free(&b->digests);
  packed_free(&b->sigs);
  free(b->verdicts);
  free(b);
}

static void settle_with_bytes(napi_env env, napi_status status, napi_deferred deferred, const unsigned char *bytes, size_t len,
                              const char *what) {
  napi_value result;
  if (status == napi_ok) {
    void *dst;
    napi_value ab;
    if (napi_create_arraybuffer(env, len, &dst, &ab) == napi_ok &&
        napi_create_typedarray(env, napi_uint8_array, len, ab, 0, &result) == napi_ok) {
      if (len) memcpy(dst, bytes, len);
      napi_resolve_deferred(env, deferred, result);
      return;
    }
  }
  napi_value msg;
  napi_create_string_utf8(env, what, NAPI_AUTO_LENGTH, &msg);
  napi_create_error(env, NULL, msg, &result);
  napi_reject_deferred(env, deferred, result);
}

static void verify_batch_complete(napi_env env, napi_status status, void *data) {
  struct verify_batch *b = data;
  settle_with_bytes(env, status, b->deferred, b->verdicts, b->spkis.n, "ECDSA verification batch failed");
  napi_delete_async_work(env, b->work);
  verify_batch_free(b);
}

static napi_value queue(napi_env env, const char *name, napi_async_execute_callback exec, napi_async_complete_callback done,
                        void *data, napi_async_work *work, napi_deferred *deferred) {
  napi_value promise, res;
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &res);
  if (napi_create_promise(env, deferred, &promise) != napi_ok) return NULL;
  if (napi_create_async_work(env, NULL, res, exec, done, data, work) != napi_ok) return NULL;
  if (napi_queue_async_work(env, *work) != napi_ok) {
    napi_delete_async_work(env, *work);
    return NULL;
  }
  return promise;
}

static napi_value verify_many(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  struct verify_batch *b = calloc(1, sizeof(*b));
  if (b == NULL) {
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  if (argc < 3 || !pack_array(env, argv[0], (size_t)-1, &b->spkis) || !pack_array(env, argv[1], b->spkis.n, &b->digests) ||
      !pack_array(env, argv[2], b->spkis.n, &b->sigs)) {
    verify_batch_free(b);
    napi_throw_type_error(env, NULL, "verifyMany(spkis, digests, sigs) takes three arrays of Uint8Arrays of one length");
    return NULL;
  }
  b->verdicts = calloc(b->spkis.n ? b->spkis.n : 1, 1);
  napi_value promise = b->verdicts ? queue(env, "signet:ecdsa-verify-many", verify_batch_execute, verify_batch_complete, b, &b->work, &b->deferred) : NULL;
  if (promise == NULL) {
    verify_batch_free(b);
    napi_throw_error(env, NULL, "cannot queue ECDSA verifications");
  }
  return promise;
}

/*
 * ---- certificates ----
 * A keyless log entry carries a certificate of its own, which the log must parse (Rekor parses it) and
 * index by its email and URI subject alternative names. node's X509Certificate does that on the event
 * loop (~40 µs under load, with the SAN text and the DER copied out); here a pool thread does it
 * (d2i_X509 ~16 µs), for a batch at once. An answer is given only when it is certain to be node's own:
 * the DER is one certificate and re-encodes to itself (so node's `raw` is these bytes), it has at most
 * one SAN extension, which decodes, and every name in it is an email, URI or DNS name in printable ASCII
 * without the characters node quotes (" \ , ') and not empty; anything else is answered "ask node".
 *
 * parseCertificates(ders: Uint8Array[]): Promise<Uint8Array>, per certificate in order: a status byte,
 *   0 (ask node) or 1, then for status 1 a u16 count of names and each name as a type byte (1 email,
 *   2 URI), a u16 length and its bytes.
 */
struct cert_batch {
  napi_async_work work;
  napi_deferred deferred;
  struct packed ders;
  unsigned char *out;
  size_t len, cap;
  int oom;
};

static void out_put(struct cert_batch *b, const unsigned char *bytes, size_t n) {
  if (b->oom) return;
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap * 2 : 256;
    while (cap < b->len + n) cap *= 2;
    unsigned char *p = realloc(b->out, cap);
    if (p == NULL) {
      b->oom = 1;
      return;
    }
    b->out = p;
    b->cap = cap;
  }
  memcpy(b->out + b->len, bytes, n);
  b->len += n;
}

static int safe_alt_name(const unsigned char *v, int n) {
  if (n <= 0 || n > 65535) return 0;
  for (int i = 0; i < n; i++) {
    unsigned char c = v[i];
    if (c <= 0x20 || c > 0x7e || c == '"' || c == '\\' || c == ',' || c == '\'') return 0;
  }
  return 1;
}

/* Appends certificate `der`'s answer (see above) to the batch's output. */
static void parse_certificate(struct cert_batch *b, const unsigned char *der, size_t der_len) {
  static const unsigned char ask_node = 0;
  const unsigned char *p = der;
  X509 *x = der_len <= 0x7fffffff ? d2i_X509(NULL, &p, (long)der_len) : NULL;
  GENERAL_NAMES *names = NULL;
  unsigned char *re = NULL;
  size_t mark = b->len;
  int ok = 0;
  if (x == NULL || p != der + der_len) goto done;
  int re_len = i2d_X509(x, &re);
  if (re_len < 0 || (size_t)re_len != der_len || memcmp(re, der, der_len) != 0) goto done;
  int crit = -1;
  names = X509_get_ext_d2i(x, NID_subject_alt_name, &crit, NULL);
  if (names == NULL && crit != -1) goto done; /* a SAN that does not decode, or more than one */
  int n = names ? sk_GENERAL_NAME_num(names) : 0;
  unsigned char head[3] = {1, 0, 0};
  out_put(b, head, 1);
  size_t count_at = b->len;
  out_put(b, head + 1, 2);
  unsigned count = 0;
  for (int i = 0; i < n; i++) {
    GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
    unsigned char type;
    if (g->type == GEN_EMAIL) type = 1;
    else if (g->type == GEN_URI) type = 2;
    else if (g->type == GEN_DNS) type = 0;
    else goto done;
    const unsigned char *v = ASN1_STRING_get0_data(g->d.ia5);
    int vl = ASN1_STRING_length(g->d.ia5);
    if (!safe_alt_name(v, vl)) goto done;
    if (type == 0) continue; /* DNS names are not indexed; they only had to print plainly */
    unsigned char th[3] = {type, (unsigned char)(vl >> 8), (unsigned char)vl};
    out_put(b, th, 3);
    out_put(b, v, (size_t)vl);
    count++;
  }
  if (b->oom) goto done;
  b->out[count_at] = (unsigned char)(count >> 8);
  b->out[count_at + 1] = (unsigned char)count;
  ok = 1;
done:
  if (!ok) {
    b->len = mark;
    out_put(b, &ask_node, 1);
  }
  GENERAL_NAMES_free(names);
  OPENSSL_free(re);
  X509_free(x);
  ERR_clear_error();
}

static void cert_batch_execute(napi_env env, void *data) {
  (void)env;
  struct cert_batch *b = data;
  lower_pool_thread_priority();
  for (size_t i = 0; i < b->ders.n; i++) {
    size_t len;
    const unsigned char *der = packed_at(&b->ders, i, &len);
    parse_certificate(b, der, len);
  }
}

static void cert_batch_free(struct cert_batch *b) {
  packed_free(&b->ders);
  free(b->out);
  free(b);
}

static void cert_batch_complete(napi_env env, napi_status status, void *data) {
  struct cert_batch *b = data;
  settle_with_bytes(env, b->oom ? napi_generic_failure : status, b->deferred, b->out, b->len, "certificate batch failed");
  napi_delete_async_work(env, b->work);
  cert_batch_free(b);
}

static napi_value parse_certificates(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  struct cert_batch *b = calloc(1, sizeof(*b));
  if (b == NULL) {
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  if (argc < 1 || !pack_array(env, argv[0], (size_t)-1, &b->ders)) {
    cert_batch_free(b);
    napi_throw_type_error(env, NULL, "parseCertificates(ders) takes an array of Uint8Arrays");
    return NULL;
  }
  napi_value promise = queue(env, "signet:parse-certificates", cert_batch_execute, cert_batch_complete, b, &b->work, &b->deferred);
  if (promise == NULL) {
    cert_batch_free(b);
    napi_throw_error(env, NULL, "cannot queue certificate parsing");
  }
  return promise;
}

static void key_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  EVP_PKEY_free(data);
}

static napi_value signing_key(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  const unsigned char *der;
  size_t len;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  if (argc < 1 || !bytes_of(env, argv[0], &der, &len)) {
    napi_throw_type_error(env, NULL, "signingKey(pkcs8Der) takes a Uint8Array");
    return NULL;
  }
  const unsigned char *p = der;
  EVP_PKEY *pkey = d2i_AutoPrivateKey(NULL, &p, (long)len);
  ERR_clear_error();
  if (pkey == NULL || p != der + len) {
    EVP_PKEY_free(pkey);
    napi_throw_error(env, NULL, "signingKey: not a DER private key");
    return NULL;
  }
  napi_value ext;
  if (napi_create_external(env, pkey, key_finalize, NULL, &ext) != napi_ok) {
    EVP_PKEY_free(pkey);
    return NULL;
  }
  return ext;
}

struct sign_batch {
  napi_async_work work;
  napi_deferred deferred;
  napi_ref key_ref; /* keeps the key object (and so the EVP_PKEY) alive while the job runs */
  EVP_PKEY *pkey;
  const EVP_MD *md;
  struct packed payloads;
  unsigned char *out;
  size_t out_len;
  int failed;
};

static void sign_batch_execute(napi_env env, void *data) {
  (void)env;
  struct sign_batch *b = data;
  lower_pool_thread_priority();
  size_t max = (size_t)EVP_PKEY_get_size(b->pkey);
  b->out = malloc((max + 2) * (b->payloads.n ? b->payloads.n : 1));
  if (b->out == NULL) {
    b->failed = 1;
    return;
  }
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  for (size_t i = 0; i < b->payloads.n && ctx != NULL; i++) {
    size_t len, siglen = max;
    const unsigned char *msg = packed_at(&b->payloads, i, &len);
    unsigned char *dst = b->out + b->out_len + 2;
    if (EVP_DigestSignInit(ctx, NULL, b->md, NULL, b->pkey) != 1 || EVP_DigestSign(ctx, dst, &siglen, msg, len) != 1 || siglen > 0xffff) {
      b->failed = 1;
      break;
    }
    b->out[b->out_len] = (unsigned char)(siglen >> 8);
    b->out[b->out_len + 1] = (unsigned char)(siglen & 0xff);
    b->out_len += siglen + 2;
  }
  if (ctx == NULL) b->failed = 1;
  EVP_MD_CTX_free(ctx);
  ERR_clear_error();
}

static void sign_batch_complete(napi_env env, napi_status status, void *data) {
  struct sign_batch *b = data;
  settle_with_bytes(env, b->failed ? napi_generic_failure : status, b->deferred, b->out, b->out_len, "signing batch failed");
  napi_delete_async_work(env, b->work);
  napi_delete_reference(env, b->key_ref);
  packed_free(&b->payloads);
  free(b->out);
  free(b);
}

static napi_value sign_many(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  void *pkey = NULL;
  char md_name[32];
  size_t md_len = 0;
  napi_valuetype t;
  if (argc < 3 || napi_typeof(env, argv[0], &t) != napi_ok || t != napi_external || napi_get_value_external(env, argv[0], &pkey) != napi_ok ||
      napi_get_value_string_utf8(env, argv[1], md_name, sizeof(md_name), &md_len) != napi_ok) {
    napi_throw_type_error(env, NULL, "signMany(key, md, payloads) takes a signingKey(), a digest name and an array of Uint8Arrays");
    return NULL;
  }
  const EVP_MD *md = NULL;
  if (md_len > 0 && (md = EVP_get_digestbyname(md_name)) == NULL) {
    napi_throw_error(env, NULL, "signMany: unknown digest");
    return NULL;
  }
  struct sign_batch *b = calloc(1, sizeof(*b));
  if (b == NULL) {
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  b->pkey = pkey;
  b->md = md;
  if (!pack_array(env, argv[2], (size_t)-1, &b->payloads)) {
    free(b);
    napi_throw_type_error(env, NULL, "signMany(key, md, payloads) takes an array of Uint8Arrays");
    return NULL;
  }
  napi_value promise = NULL;
  if (napi_create_reference(env, argv[0], 1, &b->key_ref) == napi_ok)
    promise = queue(env, "signet:sign-many", sign_batch_execute, sign_batch_complete, b, &b->work, &b->deferred);
  if (promise == NULL) {
    if (b->key_ref) napi_delete_reference(env, b->key_ref);
    packed_free(&b->payloads);
    free(b);
    napi_throw_error(env, NULL, "cannot queue signatures");
  }
  return promise;
}

/* ---- Merkle tile levels ---- */

static napi_value merkle_levels(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  const unsigned char *data;
  size_t len;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 || !bytes_of(env, argv[0], &data, &len) || len % 32 != 0) {
    napi_throw_type_error(env, NULL, "merkleLevels(hashes) takes a Uint8Array of 32-byte hashes");
    return NULL;
  }
  size_t total = 0;
  for (size_t m = len / 64; m >= 1; m /= 2) total += m;
  napi_value out;
  void *outp = NULL;
  if (napi_create_buffer(env, total * 32 > 0 ? total * 32 : 0, &outp, &out) != napi_ok) {
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  /* Each node is SHA-256(0x01 || left || right): 65 bytes, two compressions. Through EVP (whose init
   * looks up the provider's implementation every time) a full tile cost ~67 us here, most of a proof
   * read's CPU; through the low-level calls ~27 us, about the cost of the 510 compressions themselves. */
  static const unsigned char node_prefix = 0x01;
  const unsigned char *prev = data;
  unsigned char *cur = outp;
  int ok = 1;
  for (size_t m = len / 64; ok && m >= 1; m /= 2) {
    for (size_t i = 0; ok && i < m; i++) {
      SHA256_CTX c;
      ok = SHA256_Init(&c) == 1 && SHA256_Update(&c, &node_prefix, 1) == 1 && SHA256_Update(&c, prev + 64 * i, 64) == 1 &&
           SHA256_Final(cur + 32 * i, &c) == 1;
    }
    prev = cur;
    cur += 32 * m;
  }
  if (!ok) {
    ERR_clear_error();
    napi_throw_error(env, NULL, "SHA-256 failed");
    return NULL;
  }
  return out;
}

#ifndef _WIN32
/*
 * ---- small file reads ---- (POSIX only: elsewhere the addon has no readSmallFile and callers use node:fs)
 * The log server reads a full tile (8 KiB) from the page cache on most tile reads. Through node:fs that
 * is four calls (openSync, fstatSync, readSync, closeSync), each with its own argument checks and
 * context object, and a Buffer.allocUnsafeSlow; then crypto.hash sets up an EVP digest to compare the
 * file with its recorded SHA-256. Here it is one call: the system calls, one napi_create_buffer (an
 * ArrayBuffer of its own, never a slice of a shared pool: the log keys a tile's Merkle levels by its
 * memory), and the low-level SHA-256 (no provider look-up per call, as in merkleLevels).
 *
 * A failed system call throws an Error shaped like node:fs's: `code` ('ENOENT', ...), `errno` (negative),
 * `syscall`, `path`, message "ENOENT: no such file or directory, open '<path>'".
 */
struct errno_name {
  int err;
  const char *code;
};

static const struct errno_name errno_names[] = {
  {ENOENT, "ENOENT"}, {EACCES, "EACCES"}, {EPERM, "EPERM"}, {EISDIR, "EISDIR"}, {ENOTDIR, "ENOTDIR"},
  {EIO, "EIO"}, {EMFILE, "EMFILE"}, {ENFILE, "ENFILE"}, {ENOMEM, "ENOMEM"}, {ENAMETOOLONG, "ENAMETOOLONG"},
  {ELOOP, "ELOOP"}, {EINVAL, "EINVAL"}, {EBADF, "EBADF"}, {EOVERFLOW, "EOVERFLOW"}, {ENXIO, "ENXIO"},
  {EAGAIN, "EAGAIN"}, {ESTALE, "ESTALE"},
};

static void throw_errno(napi_env env, int err, const char *syscall_name, const char *path) {
  const char *code = "EIO";
  int known = 0;
  for (size_t i = 0; i < sizeof(errno_names) / sizeof(errno_names[0]); i++) {
    if (errno_names[i].err == err) {
      code = errno_names[i].code;
      known = 1;
      break;
    }
  }
  char codebuf[24];
  if (!known) {
    snprintf(codebuf, sizeof(codebuf), "E%d", err);
    code = codebuf;
  }
  size_t len = strlen(code) + strlen(strerror(err)) + strlen(syscall_name) + strlen(path) + 16;
  char *msg = malloc(len);
  napi_value m, c, error, v;
  if (msg == NULL) {
    napi_throw_error(env, code, "out of memory");
    return;
  }
  /* strerror's text is lower-cased at its start as libuv's is ("No such file" -> "no such file"). */
  snprintf(msg, len, "%s: %s, %s '%s'", code, strerror(err), syscall_name, path);
  char *text = msg + strlen(code) + 2;
  if (*text >= 'A' && *text <= 'Z') *text = (char)(*text - 'A' + 'a');
  if (napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &m) == napi_ok && napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &c) == napi_ok &&
      napi_create_error(env, c, m, &error) == napi_ok) {
    if (napi_create_int32(env, -err, &v) == napi_ok) napi_set_named_property(env, error, "errno", v);
    if (napi_create_string_utf8(env, syscall_name, NAPI_AUTO_LENGTH, &v) == napi_ok) napi_set_named_property(env, error, "syscall", v);
    if (napi_create_string_utf8(env, path, NAPI_AUTO_LENGTH, &v) == napi_ok) napi_set_named_property(env, error, "path", v);
    napi_throw(env, error);
  } else {
    napi_throw_error(env, code, msg);
  }
  free(msg);
}

/* Opens the file named by the JS string `v` for reading (its path left in `path`), or throws and returns -1. */
static int open_path(napi_env env, napi_value v, char path[PATH_MAX]) {
  size_t path_len = 0;
  if (napi_get_value_string_utf8(env, v, path, PATH_MAX, &path_len) != napi_ok) return -1;
  /* A longer path came back cut short; node:fs refuses a NUL inside a path as well. */
  if (path_len >= PATH_MAX - 1) {
    throw_errno(env, ENAMETOOLONG, "open", path);
    return -1;
  }
  if (strlen(path) != path_len) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", "the path holds a NUL byte");
    return -1;
  }
  int fd;
  do fd = open(path, O_RDONLY | O_CLOEXEC);
  while (fd < 0 && errno == EINTR);
  if (fd < 0) throw_errno(env, errno, "open", path);
  return fd;
}

static napi_value read_small_file(napi_env env, napi_callback_info info) {
  static const char *usage = "readSmallFile(path, max, digestOut?) takes a path, a byte count and an optional 32-byte Uint8Array";
  size_t argc = 3;
  napi_value argv[3];
  char path[PATH_MAX];
  double max_d;
  unsigned char *digest_out = NULL;
  napi_valuetype t;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  if (argc < 2 || napi_typeof(env, argv[0], &t) != napi_ok || t != napi_string || napi_get_value_double(env, argv[1], &max_d) != napi_ok ||
      !(max_d >= 0)) {
    napi_throw_type_error(env, NULL, usage);
    return NULL;
  }
  if (argc >= 3 && napi_typeof(env, argv[2], &t) == napi_ok && t != napi_undefined) {
    const unsigned char *d;
    size_t dl;
    if (!bytes_of(env, argv[2], &d, &dl) || dl != SHA256_DIGEST_LENGTH) {
      napi_throw_type_error(env, NULL, usage);
      return NULL;
    }
    digest_out = (unsigned char *)d;
  }
  int fd = open_path(env, argv[0], path);
  if (fd < 0) return NULL;
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int err = errno;
    close(fd);
    throw_errno(env, err, "fstat", path);
    return NULL;
  }
  napi_value result;
  if ((double)st.st_size > max_d) {
    close(fd);
    napi_get_null(env, &result);
    return result;
  }
  size_t size = (size_t)st.st_size;
  void *data = NULL;
  if (napi_create_buffer(env, size, &data, &result) != napi_ok) {
    close(fd);
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  size_t at = 0;
  while (at < size) {
    ssize_t n = pread(fd, (unsigned char *)data + at, size - at, (off_t)at);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      close(fd);
      throw_errno(env, err, "read", path);
      return NULL;
    }
    if (n == 0) break;
    at += (size_t)n;
  }
  close(fd);
  /* A file that shrank meanwhile is returned short (a copy, so that it still fills its own memory) and fails its check. */
  if (at < size && napi_create_buffer_copy(env, at, data, NULL, &result) != napi_ok) {
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  if (digest_out != NULL) {
    SHA256_CTX c;
    if (SHA256_Init(&c) != 1 || SHA256_Update(&c, data, at) != 1 || SHA256_Final(digest_out, &c) != 1) {
      ERR_clear_error();
      napi_throw_error(env, NULL, "SHA-256 failed");
      return NULL;
    }
  }
  return result;
}

/*
 * readBundleEntry(path, j, into, firstRead): reads a C2SP entry bundle (entries, each after its 2-byte
 * big-endian length) from its start into `into`, only as far as entry j ends: first `firstRead` bytes,
 * then at least 4 KiB more or as far as entry j's length says, doubling what was read after each read.
 * Returns the offset in `into` of entry j's length prefix (the entry follows it, wholly read); -1 when
 * entry j does not end within `into`; -2 - n when the file ends, at byte n, before entry j does.
 */
static napi_value read_bundle_entry(napi_env env, napi_callback_info info) {
  static const char *usage = "readBundleEntry(path, j, into, firstRead) takes a path, an entry index, a Uint8Array and a byte count";
  size_t argc = 4;
  napi_value argv[4];
  char path[PATH_MAX];
  napi_valuetype t;
  double j_d, first_d;
  const unsigned char *into_c;
  size_t cap;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  if (argc < 4 || napi_typeof(env, argv[0], &t) != napi_ok || t != napi_string || napi_get_value_double(env, argv[1], &j_d) != napi_ok ||
      !(j_d >= 0 && j_d <= 4294967295.0 && (double)(uint32_t)j_d == j_d) ||
      !bytes_of(env, argv[2], &into_c, &cap) || napi_get_value_double(env, argv[3], &first_d) != napi_ok || !(first_d >= 0)) {
    napi_throw_type_error(env, NULL, usage);
    return NULL;
  }
  unsigned char *into = (unsigned char *)into_c;
  uint32_t j = (uint32_t)j_d;
  int fd = open_path(env, argv[0], path);
  if (fd < 0) return NULL;
  size_t have = 0, pos = 0, want = first_d < (double)cap ? (size_t)first_d : cap;
  uint32_t n = 0;
  double found;
  for (;;) {
    int complete = 0;
    /* Walk the length prefixes as far as the bytes read so far go. */
    while (pos + 2 <= have) {
      size_t len = ((size_t)into[pos] << 8) | into[pos + 1];
      if (n == j) {
        if (pos + 2 + len <= have) complete = 1;
        else if (want < pos + 2 + len) want = pos + 2 + len;
        break;
      }
      pos += 2 + len;
      n++;
    }
    if (complete) {
      found = (double)pos;
      break;
    }
    if (have >= cap) {
      found = -1;
      break;
    }
    if (want < have + 4096) want = have + 4096;
    if (want > cap) want = cap;
    ssize_t got = pread(fd, into + have, want - have, (off_t)have);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      int err = errno;
      close(fd);
      throw_errno(env, err, "read", path);
      return NULL;
    }
    if (got == 0) {
      found = -2 - (double)have;
      break;
    }
    have += (size_t)got;
    /* Further reads double what was read: few system calls for an entry far in. */
    want = have * 2 < cap ? have * 2 : cap;
  }
  close(fd);
  napi_value result;
  napi_create_double(env, found, &result);
  return result;
}
#endif

NAPI_MODULE_INIT() {
  napi_value fn;
  if (napi_create_function(env, "verify", NAPI_AUTO_LENGTH, verify, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "verify", fn) != napi_ok) return NULL;
  if (napi_create_function(env, "verifyMany", NAPI_AUTO_LENGTH, verify_many, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "verifyMany", fn) != napi_ok) return NULL;
  if (napi_create_function(env, "signingKey", NAPI_AUTO_LENGTH, signing_key, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "signingKey", fn) != napi_ok) return NULL;
  if (napi_create_function(env, "signMany", NAPI_AUTO_LENGTH, sign_many, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "signMany", fn) != napi_ok) return NULL;
  if (napi_create_function(env, "merkleLevels", NAPI_AUTO_LENGTH, merkle_levels, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "merkleLevels", fn) != napi_ok) return NULL;
  if (napi_create_function(env, "parseCertificates", NAPI_AUTO_LENGTH, parse_certificates, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "parseCertificates", fn) != napi_ok) return NULL;
  if (napi_create_function(env, "setPoolNice", NAPI_AUTO_LENGTH, set_pool_nice, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "setPoolNice", fn) != napi_ok) return NULL;
#ifndef _WIN32
  if (napi_create_function(env, "readSmallFile", NAPI_AUTO_LENGTH, read_small_file, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "readSmallFile", fn) != napi_ok) return NULL;
  if (napi_create_function(env, "readBundleEntry", NAPI_AUTO_LENGTH, read_bundle_entry, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "readBundleEntry", fn) != napi_ok) return NULL;
#endif
  return exports;
}
