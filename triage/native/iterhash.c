/* The iterated hash of MS-OFFCRYPTO agile encryption (section 2.3.4.11), in C.
 *
 * H(0) = hash(salt + password) is computed by the caller; this does H(n) = hash(le32(n - 1) + H(n - 1)) for the
 * document's spinCount (100,000 in every Office version): ~0.1 s in a Python loop, a few ms here. triage/native
 * loads it with ctypes; without it the Python loop runs. The caller bounds `rounds` and picks `digest_name` from a
 * fixed list; the checks below hold anyway, since the document that asks for them is an attacker's.
 */
#include <stdint.h>
#include <string.h>
#include <openssl/evp.h>

/* Returns 0 on success, -1 on a bad argument or an OpenSSL failure; `hash` (`length` bytes) is updated in place. */
int triage_iterate_hash(const char *digest_name, unsigned char *hash, size_t length, uint32_t rounds)
{
    unsigned char block[4 + EVP_MAX_MD_SIZE];
    unsigned int written = 0;
    EVP_MD *md;
    EVP_MD_CTX *ctx;
    int ok = 1;

    if (digest_name == NULL || hash == NULL || rounds > 10000000u)
        return -1;
    /* fetched once: initialising with a name looked up each time costs more than the hash itself (OpenSSL 3) */
    md = EVP_MD_fetch(NULL, digest_name, NULL);
    if (md == NULL)
        return -1;
    if (length == 0 || length != (size_t)EVP_MD_get_size(md) || length > EVP_MAX_MD_SIZE) {
        EVP_MD_free(md);
        return -1;
    }
    ctx = EVP_MD_CTX_new();
    if (ctx == NULL) {
        EVP_MD_free(md);
        return -1;
    }
    memcpy(block + 4, hash, length);
    for (uint32_t i = 0; ok && i < rounds; i++) {
        block[0] = (unsigned char)(i & 0xff);
        block[1] = (unsigned char)((i >> 8) & 0xff);
        block[2] = (unsigned char)((i >> 16) & 0xff);
        block[3] = (unsigned char)((i >> 24) & 0xff);
        ok = EVP_DigestInit_ex2(ctx, md, NULL) && EVP_DigestUpdate(ctx, block, 4 + length)
             && EVP_DigestFinal_ex(ctx, block + 4, &written) && written == length;
    }
    EVP_MD_CTX_free(ctx);
    EVP_MD_free(md);
    if (!ok)
        return -1;
    memcpy(hash, block + 4, length);
    return 0;
}
