/*
 * ECDSA verification over a precomputed digest, by the OpenSSL that Node itself links.
 *
 * A hashedrekord entry carries only the digest of its artifact, and node:crypto verifies ECDSA only
 * over messages it hashes itself. This addon hands the digest straight to EVP_PKEY_verify, which with
 * no message digest configured treats its input as the hash (ECDSA's bits2int truncation included).
 * It links against nothing: the OpenSSL symbols resolve to the ones the node binary exports, so the
 * verdict is exactly Node's own OpenSSL's.
 *
 * verify(spkiDer: Uint8Array, digest: Uint8Array, sigDer: Uint8Array): boolean
 *   true only for a valid signature by an EC public key; false for a bad signature, a key that is not
 *   EC, or DER that does not parse. Throws only on wrong argument types.
 * verifyAsync(spkiDer, digest, sigDer): Promise<boolean>
 *   the same check on the libuv thread pool, so the event loop pays only the hand-off (a few µs)
 *   instead of the ~90 µs of a P-256 verification. The inputs are copied before the call returns.
 */
#include <stdlib.h>
#include <string.h>
#include <node_api.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/err.h>

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

static int check(const unsigned char *spki, size_t spki_len, const unsigned char *digest, size_t digest_len,
                 const unsigned char *sig, size_t sig_len) {
  int ok = 0;
  const unsigned char *p = spki;
  EVP_PKEY *pkey = d2i_PUBKEY(NULL, &p, (long)spki_len);
  /* Trailing bytes after the SubjectPublicKeyInfo mean the input was not one key. */
  if (pkey != NULL && p == spki + spki_len && EVP_PKEY_get_base_id(pkey) == EVP_PKEY_EC) {
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(pkey, NULL);
    if (ctx != NULL && EVP_PKEY_verify_init(ctx) == 1) ok = EVP_PKEY_verify(ctx, sig, sig_len, digest, digest_len) == 1;
    EVP_PKEY_CTX_free(ctx);
  }
  EVP_PKEY_free(pkey);
  /* Failures leave entries on this thread's OpenSSL error queue; node:crypto must not inherit them. */
  ERR_clear_error();
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

/* One queued check: the three inputs copied into `buf`, the verdict, and the promise to settle. */
struct job {
  napi_async_work work;
  napi_deferred deferred;
  size_t spki_len, digest_len, sig_len;
  int ok;
  unsigned char buf[];
};

static void job_execute(napi_env env, void *data) {
  (void)env;
  struct job *j = data;
  const unsigned char *spki = j->buf, *digest = spki + j->spki_len, *sig = digest + j->digest_len;
  j->ok = check(spki, j->spki_len, digest, j->digest_len, sig, j->sig_len);
}

static void job_complete(napi_env env, napi_status status, void *data) {
  struct job *j = data;
  napi_value result;
  if (status == napi_ok) {
    napi_get_boolean(env, j->ok, &result);
    napi_resolve_deferred(env, j->deferred, result);
  } else {
    napi_value msg;
    napi_create_string_utf8(env, "ECDSA verification was cancelled", NAPI_AUTO_LENGTH, &msg);
    napi_create_error(env, NULL, msg, &result);
    napi_reject_deferred(env, j->deferred, result);
  }
  napi_delete_async_work(env, j->work);
  free(j);
}

static napi_value verify_async(napi_env env, napi_callback_info info) {
  struct args a;
  if (!get_args(env, info, "verifyAsync(spkiDer, digest, sigDer) takes three Uint8Arrays", &a)) return NULL;
  struct job *j = malloc(sizeof(struct job) + a.spki_len + a.digest_len + a.sig_len);
  if (j == NULL) {
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  j->spki_len = a.spki_len;
  j->digest_len = a.digest_len;
  j->sig_len = a.sig_len;
  j->ok = 0;
  memcpy(j->buf, a.spki, a.spki_len);
  memcpy(j->buf + a.spki_len, a.digest, a.digest_len);
  memcpy(j->buf + a.spki_len + a.digest_len, a.sig, a.sig_len);
  napi_value promise, name;
  napi_create_string_utf8(env, "signet:ecdsa-verify", NAPI_AUTO_LENGTH, &name);
  if (napi_create_promise(env, &j->deferred, &promise) != napi_ok ||
      napi_create_async_work(env, NULL, name, job_execute, job_complete, j, &j->work) != napi_ok) {
    free(j);
    napi_throw_error(env, NULL, "cannot queue an ECDSA verification");
    return NULL;
  }
  if (napi_queue_async_work(env, j->work) != napi_ok) {
    napi_delete_async_work(env, j->work);
    free(j);
    napi_throw_error(env, NULL, "cannot queue an ECDSA verification");
    return NULL;
  }
  return promise;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  if (napi_create_function(env, "verify", NAPI_AUTO_LENGTH, verify, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "verify", fn) != napi_ok) return NULL;
  if (napi_create_function(env, "verifyAsync", NAPI_AUTO_LENGTH, verify_async, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "verifyAsync", fn) != napi_ok) return NULL;
  return exports;
}
