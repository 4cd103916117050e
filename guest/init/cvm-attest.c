/*
 * cvm-attest: the attestation step of CVMKit guests, run by cvm-init before the container starts.
 *
 * Flow (the relying party is `cvm attest serve`; the wire format is RelyingParty/Protocol.swift):
 *   1. POST /kbs/v0/auth                    -> a session cookie and a single-use nonce
 *   2. generate an X25519 key pair; REPORT_DATA = SHA-512(nonce || public key)
 *   3. evidence for that REPORT_DATA: configfs-tsm (/sys/kernel/config/tsm/report), whose provider
 *      sev_guest gives an SNP report (and the host's certificate table) and tdx_guest a TDX quote
 *      (through the host's Quote Generation Service), else /dev/sev-guest SNP_GET_EXT_REPORT; none = say why.
 *      The relying party tells a quote from a report by its header.
 *   4. POST /kbs/v0/attest with the public key and the report (or the reason there is none)
 *   5. for every resource the relying party lists: GET it, open it (X25519 with the relying party's
 *      key pinned in the measured initrd, HKDF-SHA256, AES-256-GCM) and write it 0600 to the secrets
 *      directory (default /run/secrets, a tmpfs)
 * Exit status: 0 released, 3 refused by the relying party, 4 relying party unreachable, 5 bad answer,
 * 6 a secret failed to open or store, 2 usage. cvm-init powers off with its own code when this fails,
 * so the container never starts without its secrets.
 *
 * The subcommands keygen, open, seal and report-data exist so the host's tests can check this side's
 * cryptography against the relying party's (swift-crypto), in both directions.
 *
 * Built by `cvm image build oci --attest` with: gcc -static -Os -s ... -lcrypto (Debian's libssl-dev).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/sev-guest.h>
#include <netinet/in.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define EXIT_USAGE 2
#define EXIT_REFUSED 3
#define EXIT_UNREACHABLE 4
#define EXIT_BAD_ANSWER 5
#define EXIT_SECRET 6

#define MAX_RESPONSE (1 << 20)
/* An SNP report is 1184 bytes; a TDX quote with its PCK chain about 5 KB. */
#define MAX_REPORT 16384
#define MAX_CERTS (64 * 1024)
#define MAX_RESOURCES 64

static const char INFO[] = "cvmkit-kbs-secret-v1";
static const char AAD_PREFIX[] = "cvmkit-secret:";

static void say(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("cvm-attest: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* ---- hex and base64 ---- */

static int hex_decode(const char *in, uint8_t *out, size_t n) {
    if (strlen(in) != 2 * n) return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        if (sscanf(in + 2 * i, "%2x", &v) != 1) return -1;
        if (!strchr("0123456789abcdefABCDEF", in[2 * i]) || !strchr("0123456789abcdefABCDEF", in[2 * i + 1])) return -1;
        out[i] = (uint8_t)v;
    }
    return 0;
}

static void hex_print(FILE *f, const uint8_t *in, size_t n) {
    for (size_t i = 0; i < n; i++) fprintf(f, "%02x", in[i]);
}

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char B64URL[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Writes NUL-terminated base64 of in[0..n) to out (room for 4*((n+2)/3)+1); url: URL alphabet, no padding. */
static void b64_encode(const uint8_t *in, size_t n, char *out, int url) {
    const char *alphabet = url ? B64URL : B64;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0) | (i + 2 < n ? in[i + 2] : 0);
        out[o++] = alphabet[v >> 18 & 63];
        out[o++] = alphabet[v >> 12 & 63];
        if (i + 1 < n) out[o++] = alphabet[v >> 6 & 63]; else if (!url) out[o++] = '=';
        if (i + 2 < n) out[o++] = alphabet[v & 63]; else if (!url) out[o++] = '=';
    }
    out[o] = 0;
}

static int b64_value(char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
}

/* Decodes either alphabet, padding optional; -1 on a bad character or when out is too small. */
static long b64_decode(const char *in, uint8_t *out, size_t cap) {
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;
    for (const char *p = in; *p && *p != '='; p++) {
        int v = b64_value(*p);
        if (v < 0) return -1;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o >= cap) return -1;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    return (long)o;
}

/* ---- minimal JSON reading: the relying party's answers are flat objects ---- */

/* Copies the string value of "key" (first match as a key) into out; -1 when absent, not a string or too long. */
static long json_string(const char *body, const char *key, char *out, size_t cap) {
    size_t klen = strlen(key);
    for (const char *p = body; (p = strchr(p, '"')) != NULL; p++) {
        if (strncmp(p + 1, key, klen) != 0 || p[1 + klen] != '"') continue;
        const char *q = p + 2 + klen;
        while (*q == ' ' || *q == '\t' || *q == '\r' || *q == '\n') q++;
        if (*q != ':') continue;
        q++;
        while (*q == ' ' || *q == '\t' || *q == '\r' || *q == '\n') q++;
        if (*q != '"') return -1;
        q++;
        size_t o = 0;
        for (; *q && *q != '"'; q++) {
            char c = *q;
            if (c == '\\') {
                q++;
                if (*q == 'n') c = '\n';
                else if (*q == '"' || *q == '\\' || *q == '/') c = *q;
                else if (*q == 't') c = '\t';
                else return -1;
            }
            if (o + 1 >= cap) return -1;
            out[o++] = c;
        }
        if (*q != '"') return -1;
        out[o] = 0;
        return (long)o;
    }
    return -1;
}

/* The names in "resources":[...]; returns how many (at most max), -1 when the list is malformed. */
static int json_names(const char *body, const char *key, char names[][65], int max) {
    char pattern[64];
    snprintf(pattern, sizeof pattern, "\"%s\"", key);
    const char *p = strstr(body, pattern);
    if (!p) return -1;
    p += strlen(pattern);
    while (*p == ' ' || *p == ':') p++;
    if (*p != '[') return -1;
    p++;
    int count = 0;
    for (;;) {
        while (*p == ' ' || *p == ',' || *p == '\n') p++;
        if (*p == ']') return count;
        if (*p != '"' || count >= max) return -1;
        p++;
        size_t n = 0;
        while (p[n] && p[n] != '"' && n < 64) n++;
        if (p[n] != '"') return -1;
        memcpy(names[count], p, n);
        names[count][n] = 0;
        count++;
        p += n + 1;
    }
}

static int valid_name(const char *name) {
    size_t n = strlen(name);
    if (n == 0 || n > 64 || strcmp(name, ".") == 0 || strcmp(name, "..") == 0) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-')) return 0;
    }
    return 1;
}

/* ---- HTTP/1.1 over TCP to an IPv4 address (the guest has no DNS) ---- */

struct url {
    struct sockaddr_in address;
    char host[64];
    char prefix[256];
};

static int parse_url(const char *text, struct url *u) {
    memset(u, 0, sizeof *u);
    if (strncmp(text, "http://", 7) != 0) return -1;
    const char *hostStart = text + 7;
    const char *slash = strchr(hostStart, '/');
    size_t authority = slash ? (size_t)(slash - hostStart) : strlen(hostStart);
    if (authority == 0 || authority >= sizeof u->host) return -1;
    memcpy(u->host, hostStart, authority);
    u->host[authority] = 0;
    int port = 80;
    char *colon = strchr(u->host, ':');
    char address[64];
    snprintf(address, sizeof address, "%s", u->host);
    if (colon) {
        address[colon - u->host] = 0;
        char *end;
        long value = strtol(colon + 1, &end, 10);
        if (*end || value <= 0 || value > 65535) return -1;
        port = (int)value;
    }
    u->address.sin_family = AF_INET;
    u->address.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, address, &u->address.sin_addr) != 1) return -1;
    if (slash) {
        snprintf(u->prefix, sizeof u->prefix, "%s", slash);
        size_t n = strlen(u->prefix);
        while (n > 0 && u->prefix[n - 1] == '/') u->prefix[--n] = 0;
    }
    return 0;
}

struct response {
    int status;
    char cookie[128];
    char *body;
};

static int http(const struct url *u, const char *method, const char *path, const char *cookie, const char *body,
                struct response *r) {
    static char buffer[MAX_RESPONSE + 1];
    memset(r, 0, sizeof *r);
    int fd = -1;
    for (int attempt = 0; attempt < 40; attempt++) {
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) return -1;
        struct timeval timeout = { .tv_sec = 60 };
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
        if (connect(fd, (struct sockaddr *)&u->address, sizeof u->address) == 0) break;
        close(fd);
        fd = -1;
        struct timespec pause = { .tv_nsec = 250 * 1000 * 1000 };
        nanosleep(&pause, NULL);
    }
    if (fd < 0) return -1;
    size_t bodyLength = body ? strlen(body) : 0;
    char head[1024];
    int n = snprintf(head, sizeof head,
                     "%s %s%s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\nAccept: application/json\r\n"
                     "Content-Type: application/json\r\nContent-Length: %zu\r\n%s%s%s\r\n",
                     method, u->prefix, path, u->host, bodyLength, cookie ? "Cookie: kbs-session-id=" : "",
                     cookie ? cookie : "", cookie ? "\r\n" : "");
    if (n <= 0 || (size_t)n >= sizeof head) { close(fd); return -1; }
    if (write(fd, head, (size_t)n) != n || (bodyLength && write(fd, body, bodyLength) != (ssize_t)bodyLength)) {
        close(fd);
        return -1;
    }
    size_t total = 0;
    for (;;) {
        if (total >= MAX_RESPONSE) { close(fd); return -2; }
        ssize_t got = read(fd, buffer + total, MAX_RESPONSE - total);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) { close(fd); return -1; }
        if (got == 0) break;
        total += (size_t)got;
    }
    close(fd);
    buffer[total] = 0;
    char *end = strstr(buffer, "\r\n\r\n");
    if (!end || strncmp(buffer, "HTTP/1.", 7) != 0) return -2;
    *end = 0;
    r->status = atoi(buffer + 9);
    r->body = end + 4;
    for (char *line = strstr(buffer, "\r\n"); line; line = strstr(line + 2, "\r\n")) {
        char *header = line + 2;
        if (strncasecmp(header, "set-cookie:", 11) != 0) continue;
        char *value = strstr(header, "kbs-session-id=");
        if (!value) continue;
        value += strlen("kbs-session-id=");
        size_t len = strcspn(value, ";\r\n");
        if (len == 0 || len >= sizeof r->cookie) return -2;
        memcpy(r->cookie, value, len);
        r->cookie[len] = 0;
    }
    char *lengthHeader = strcasestr(buffer, "\r\ncontent-length:");
    if (lengthHeader) {
        long declared = strtol(lengthHeader + 17, NULL, 10);
        if (declared < 0 || (size_t)declared > strlen(r->body)) return -2;
        r->body[declared] = 0;
    }
    return 0;
}

/* ---- cryptography (OpenSSL's libcrypto) ---- */

static EVP_PKEY *x25519_new(const uint8_t *privateKey, uint8_t pub[32]) {
    EVP_PKEY *key = NULL;
    if (privateKey) {
        key = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, privateKey, 32);
    } else {
        EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_X25519, NULL);
        if (ctx && EVP_PKEY_keygen_init(ctx) == 1) EVP_PKEY_keygen(ctx, &key);
        EVP_PKEY_CTX_free(ctx);
    }
    size_t len = 32;
    if (!key || EVP_PKEY_get_raw_public_key(key, pub, &len) != 1 || len != 32) {
        EVP_PKEY_free(key);
        return NULL;
    }
    return key;
}

/* key = HKDF-SHA256(X25519(own, peer), salt = nonce, info = INFO || tee_pub || rp_pub). */
static int derive(EVP_PKEY *own, const uint8_t peer[32], const uint8_t *nonce, size_t nonceLength,
                  const uint8_t teePub[32], const uint8_t rpPub[32], uint8_t key[32]) {
    EVP_PKEY *peerKey = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, peer, 32);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(own, NULL);
    uint8_t shared[32];
    size_t sharedLength = sizeof shared;
    int ok = peerKey && ctx && EVP_PKEY_derive_init(ctx) == 1 && EVP_PKEY_derive_set_peer(ctx, peerKey) == 1 &&
             EVP_PKEY_derive(ctx, shared, &sharedLength) == 1 && sharedLength == 32;
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(peerKey);
    if (!ok) return -1;
    uint8_t info[sizeof INFO - 1 + 64];
    memcpy(info, INFO, sizeof INFO - 1);
    memcpy(info + sizeof INFO - 1, teePub, 32);
    memcpy(info + sizeof INFO - 1 + 32, rpPub, 32);
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    EVP_KDF_CTX *kctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, "SHA256", 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, shared, sizeof shared),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)nonce, nonceLength),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, sizeof info),
        OSSL_PARAM_construct_end(),
    };
    ok = kctx && EVP_KDF_derive(kctx, key, 32, params) == 1;
    EVP_KDF_CTX_free(kctx);
    EVP_KDF_free(kdf);
    OPENSSL_cleanse(shared, sizeof shared);
    return ok ? 0 : -1;
}

static int gcm(int encrypt, const uint8_t key[32], const uint8_t iv[12], const uint8_t *aad, size_t aadLength,
               const uint8_t *in, size_t length, uint8_t *out, uint8_t tag[16]) {
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int n = 0, ok = ctx && EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, iv, encrypt) == 1 &&
                    EVP_CipherUpdate(ctx, NULL, &n, aad, (int)aadLength) == 1 &&
                    EVP_CipherUpdate(ctx, out, &n, in, (int)length) == 1;
    if (ok && !encrypt) ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, 16, tag) == 1;
    if (ok) ok = EVP_CipherFinal_ex(ctx, out + n, &n) == 1;
    if (ok && encrypt) ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, tag) == 1;
    EVP_CIPHER_CTX_free(ctx);
    return ok ? 0 : -1;
}

static void report_data(const uint8_t *nonce, size_t nonceLength, const uint8_t pub[32], uint8_t out[64]) {
    uint8_t input[512 + 32];
    memcpy(input, nonce, nonceLength);
    memcpy(input + nonceLength, pub, 32);
    unsigned int len = 64;
    EVP_Digest(input, nonceLength + 32, out, &len, EVP_sha512(), NULL);
}

/* Opens a sealed resource (the relying party's JSON) into out; returns the plaintext length or -1. */
static long open_sealed(const char *json, const char *name, EVP_PKEY *tee, const uint8_t teePub[32],
                        const uint8_t rpPub[32], const uint8_t *nonce, size_t nonceLength, uint8_t *out, size_t cap) {
    static char field[4 * MAX_CERTS];
    uint8_t iv[12], tag[16], key[32];
    static uint8_t ciphertext[MAX_CERTS];
    if (json_string(json, "iv", field, sizeof field) < 0 || b64_decode(field, iv, sizeof iv) != 12) return -1;
    if (json_string(json, "tag", field, sizeof field) < 0 || b64_decode(field, tag, sizeof tag) != 16) return -1;
    if (json_string(json, "ciphertext", field, sizeof field) < 0) return -1;
    long length = b64_decode(field, ciphertext, sizeof ciphertext);
    if (length < 0 || (size_t)length > cap) return -1;
    char aad[sizeof AAD_PREFIX + 64];
    snprintf(aad, sizeof aad, "%s%s", AAD_PREFIX, name);
    if (derive(tee, rpPub, nonce, nonceLength, teePub, rpPub, key) != 0) return -1;
    int rc = gcm(0, key, iv, (uint8_t *)aad, strlen(aad), ciphertext, (size_t)length, out, tag);
    OPENSSL_cleanse(key, sizeof key);
    return rc == 0 ? length : -1;
}

/* ---- the SNP report ---- */

static long read_all(const char *path, uint8_t *out, size_t cap) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    size_t total = 0;
    for (;;) {
        if (total >= cap) { close(fd); return -1; }
        ssize_t got = read(fd, out + total, cap - total);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) break;
        total += (size_t)got;
    }
    close(fd);
    return (long)total;
}

static int tsm_report(const uint8_t rd[64], uint8_t *report, long *reportLength, uint8_t *certs, long *certsLength,
                      char *why, size_t whyLength) {
    const char *base = "/sys/kernel/config/tsm/report";
    struct stat st;
    if (stat(base, &st) != 0) {
        snprintf(why, whyLength, "no %s", base);
        return -1;
    }
    char dir[128], path[192];
    snprintf(dir, sizeof dir, "%s/cvm-attest-%d", base, (int)getpid());
    if (mkdir(dir, 0700) != 0) {
        if (errno == ENXIO) snprintf(why, whyLength, "configfs-tsm has no report provider (sev-guest found no SNP device)");
        else snprintf(why, whyLength, "mkdir %s: %s", dir, strerror(errno));
        return -1;
    }
    int rc = -1;
    snprintf(path, sizeof path, "%s/provider", dir);
    char provider[32] = "";
    long n = read_all(path, (uint8_t *)provider, sizeof provider - 1);
    provider[n > 0 ? n : 0] = 0;
    provider[strcspn(provider, "\n")] = 0;
    snprintf(path, sizeof path, "%s/inblob", dir);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, rd, 64) != 64) {
        snprintf(why, whyLength, "write %s: %s", path, strerror(errno));
    } else if (strcmp(provider, "sev_guest") != 0 && strcmp(provider, "tdx_guest") != 0) {
        snprintf(why, whyLength, "configfs-tsm provider is '%s', neither sev_guest nor tdx_guest", provider);
    } else {
        snprintf(path, sizeof path, "%s/outblob", dir);
        *reportLength = read_all(path, report, MAX_REPORT);
        snprintf(path, sizeof path, "%s/auxblob", dir);
        *certsLength = read_all(path, certs, MAX_CERTS);
        if (*certsLength < 0) *certsLength = 0;
        if (*reportLength <= 0) snprintf(why, whyLength, "read %s/outblob: %s", dir, strerror(errno));
        else rc = 0;
    }
    if (fd >= 0) close(fd);
    rmdir(dir);
    return rc;
}

static int sev_guest_report(const uint8_t rd[64], uint8_t *report, long *reportLength, uint8_t *certs, long *certsLength,
                            char *why, size_t whyLength) {
    int fd = open("/dev/sev-guest", O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        snprintf(why, whyLength, "no /dev/sev-guest (%s)", strerror(errno));
        return -1;
    }
    struct snp_ext_report_req request;
    struct snp_report_resp response;
    struct snp_guest_request_ioctl ioctlRequest;
    static uint8_t table[MAX_CERTS] __attribute__((aligned(4096)));
    memset(&request, 0, sizeof request);
    memcpy(request.data.user_data, rd, 64);
    request.certs_address = (uint64_t)(uintptr_t)table;
    request.certs_len = sizeof table;
    memset(&response, 0, sizeof response);
    memset(&ioctlRequest, 0, sizeof ioctlRequest);
    ioctlRequest.msg_version = 1;
    ioctlRequest.req_data = (uint64_t)(uintptr_t)&request;
    ioctlRequest.resp_data = (uint64_t)(uintptr_t)&response;
    int rc = ioctl(fd, SNP_GET_EXT_REPORT, &ioctlRequest);
    int err = errno;
    close(fd);
    if (rc != 0) {
        snprintf(why, whyLength, "SNP_GET_EXT_REPORT: %s (firmware error 0x%llx)", strerror(err),
                 (unsigned long long)ioctlRequest.exitinfo2);
        return -1;
    }
    /* MSG_REPORT_RSP: status (4), report size (4), reserved (24), report. */
    uint32_t status, size;
    memcpy(&status, response.data, 4);
    memcpy(&size, response.data + 4, 4);
    if (status != 0 || size == 0 || size > sizeof response.data - 32 || size > MAX_REPORT) {
        snprintf(why, whyLength, "MSG_REPORT_RSP status 0x%x size %u", status, size);
        return -1;
    }
    memcpy(report, response.data + 32, size);
    *reportLength = size;
    *certsLength = request.certs_len <= sizeof table ? (long)request.certs_len : 0;
    memcpy(certs, table, (size_t)*certsLength);
    return 0;
}

/* ---- the flow ---- */

static int run(const char *urlText, const char *rpKeyHex, const char *secretsDir, const char *reportFile, const char *certsFile) {
    struct url u;
    uint8_t rpPub[32];
    if (parse_url(urlText, &u) != 0) { say("bad relying-party URL '%s' (http://A.B.C.D:PORT)", urlText); return EXIT_USAGE; }
    if (hex_decode(rpKeyHex, rpPub, 32) != 0) { say("bad relying-party key (64 hex digits)"); return EXIT_USAGE; }

    struct response r;
    if (http(&u, "POST", "/kbs/v0/auth", NULL, "{\"version\":\"0.1.0\",\"tee\":\"snp\"}", &r) != 0) {
        say("relying party %s unreachable (POST /kbs/v0/auth)", urlText);
        return EXIT_UNREACHABLE;
    }
    static char field[4 * MAX_CERTS];
    uint8_t nonce[512];
    long nonceLength;
    if (r.status != 200 || !r.cookie[0] || json_string(r.body, "nonce", field, sizeof field) < 0 ||
        (nonceLength = b64_decode(field, nonce, sizeof nonce)) <= 0) {
        say("the relying party's challenge is unusable (status %d)", r.status);
        return EXIT_BAD_ANSWER;
    }
    char cookie[128];
    snprintf(cookie, sizeof cookie, "%s", r.cookie);
    say("challenge received (session %s, %ld-byte nonce)", cookie, nonceLength);

    uint8_t pub[32], rd[64];
    EVP_PKEY *tee = x25519_new(NULL, pub);
    if (!tee) { say("cannot generate an X25519 key"); return EXIT_SECRET; }
    report_data(nonce, (size_t)nonceLength, pub, rd);

    static uint8_t report[MAX_REPORT], certs[MAX_CERTS];
    long reportLength = -1, certsLength = 0;
    char why[512] = "", whyTSM[256] = "", whyDevice[256] = "";
    if (reportFile) {
        reportLength = read_all(reportFile, report, sizeof report);
        if (certsFile) certsLength = read_all(certsFile, certs, sizeof certs);
        if (reportLength <= 0 || certsLength < 0) { say("cannot read %s", reportFile); return EXIT_USAGE; }
    } else if (tsm_report(rd, report, &reportLength, certs, &certsLength, whyTSM, sizeof whyTSM) != 0 &&
               sev_guest_report(rd, report, &reportLength, certs, &certsLength, whyDevice, sizeof whyDevice) != 0) {
        reportLength = -1;
        snprintf(why, sizeof why, "not a confidential guest: %.200s; %.200s", whyTSM, whyDevice);
        say("no attestation report: %s", why);
    }

    static char body[4 * (MAX_REPORT + MAX_CERTS) + 1024];
    char pubText[64];
    b64_encode(pub, 32, pubText, 1);
    int n;
    if (reportLength > 0) {
        static char reportText[4 * MAX_REPORT / 3 + 8], certsText[4 * MAX_CERTS / 3 + 8];
        b64_encode(report, (size_t)reportLength, reportText, 0);
        b64_encode(certs, (size_t)certsLength, certsText, 0);
        n = snprintf(body, sizeof body,
                     "{\"tee-pubkey\":{\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":\"%s\"},\"tee-evidence\":{\"report\":\"%s\",\"certs\":\"%s\"}}",
                     pubText, reportText, certsText);
        say("report obtained (%ld bytes, certificate table %ld bytes)", reportLength, certsLength);
    } else {
        for (char *c = why; *c; c++) if (*c == '"' || *c == '\\' || (unsigned char)*c < 0x20) *c = ' ';
        n = snprintf(body, sizeof body,
                     "{\"tee-pubkey\":{\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":\"%s\"},\"tee-evidence\":{\"error\":\"%s\"}}",
                     pubText, why);
    }
    if (n <= 0 || (size_t)n >= sizeof body) { say("evidence too large"); return EXIT_BAD_ANSWER; }
    if (http(&u, "POST", "/kbs/v0/attest", cookie, body, &r) != 0) {
        say("relying party unreachable (POST /kbs/v0/attest)");
        return EXIT_UNREACHABLE;
    }
    if (r.status != 200) {
        char detail[1024] = "no reason given";
        json_string(r.body, "detail", detail, sizeof detail);
        say("refused by the relying party: %d %s", r.status, detail);
        return EXIT_REFUSED;
    }
    char names[MAX_RESOURCES][65];
    int count = json_names(r.body, "resources", names, MAX_RESOURCES);
    if (count < 0) { say("the attestation answer lists no resources"); return EXIT_BAD_ANSWER; }
    say("attested; %d secret(s) to fetch", count);

    if (mkdir(secretsDir, 0700) != 0 && errno != EEXIST) { say("mkdir %s: %s", secretsDir, strerror(errno)); return EXIT_SECRET; }
    static uint8_t secret[MAX_CERTS];
    for (int i = 0; i < count; i++) {
        if (!valid_name(names[i])) { say("refusing secret name '%s'", names[i]); return EXIT_BAD_ANSWER; }
        char path[256];
        snprintf(path, sizeof path, "/kbs/v0/resource/default/secret/%.64s", names[i]);
        if (http(&u, "GET", path, cookie, NULL, &r) != 0 || r.status != 200) {
            say("secret %s not released (status %d)", names[i], r.status);
            return r.status ? EXIT_REFUSED : EXIT_UNREACHABLE;
        }
        long length = open_sealed(r.body, names[i], tee, pub, rpPub, nonce, (size_t)nonceLength, secret, sizeof secret);
        if (length < 0) { say("secret %s does not open (not sealed by the pinned relying party)", names[i]); return EXIT_SECRET; }
        char file[512];
        snprintf(file, sizeof file, "%.400s/%.64s", secretsDir, names[i]);
        int fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0 || write(fd, secret, (size_t)length) != length || close(fd) != 0) {
            say("cannot write %s: %s", file, strerror(errno));
            return EXIT_SECRET;
        }
        OPENSSL_cleanse(secret, (size_t)length);
        say("secret %s released (%ld bytes) -> %s", names[i], length, file);
    }
    EVP_PKEY_free(tee);
    return 0;
}

static const char *option(int argc, char **argv, const char *name) {
    for (int i = 2; i + 1 < argc; i++) if (strcmp(argv[i], name) == 0) return argv[i + 1];
    return NULL;
}

static long read_stdin(char *out, size_t cap) {
    size_t total = 0;
    for (;;) {
        if (total + 1 >= cap) return -1;
        ssize_t got = read(0, out + total, cap - 1 - total);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) break;
        total += (size_t)got;
    }
    out[total] = 0;
    return (long)total;
}

/* open/seal/report-data: --key TEE_PRIVATE_HEX --rp-key RP_PUBLIC_HEX --nonce BASE64 --name NAME */
static int tool(int argc, char **argv) {
    const char *command = argv[1];
    uint8_t privateKey[32], pub[32], rpPub[32], nonce[512];
    const char *keyHex = option(argc, argv, "--key"), *rpHex = option(argc, argv, "--rp-key");
    const char *nonceText = option(argc, argv, "--nonce"), *name = option(argc, argv, "--name");
    if (strcmp(command, "keygen") == 0) {
        if (RAND_bytes(privateKey, 32) != 1 || !x25519_new(privateKey, pub)) return EXIT_SECRET;
        printf("private="); hex_print(stdout, privateKey, 32);
        printf(" public="); hex_print(stdout, pub, 32);
        printf("\n");
        return 0;
    }
    long nonceLength = nonceText ? b64_decode(nonceText, nonce, sizeof nonce) : -1;
    if (!keyHex || hex_decode(keyHex, privateKey, 32) != 0 || nonceLength < 0) return EXIT_USAGE;
    EVP_PKEY *tee = x25519_new(privateKey, pub);
    if (!tee) return EXIT_SECRET;
    if (strcmp(command, "report-data") == 0) {
        uint8_t rd[64];
        report_data(nonce, (size_t)nonceLength, pub, rd);
        hex_print(stdout, rd, 64);
        printf("\n");
        return 0;
    }
    if (!rpHex || hex_decode(rpHex, rpPub, 32) != 0 || !name || !valid_name(name)) return EXIT_USAGE;
    static char input[4 * MAX_CERTS];
    static uint8_t output[MAX_CERTS];
    long length = read_stdin(input, sizeof input);
    if (length < 0) return EXIT_USAGE;
    if (strcmp(command, "open") == 0) {
        long n = open_sealed(input, name, tee, pub, rpPub, nonce, (size_t)nonceLength, output, sizeof output);
        if (n < 0) { say("does not open"); return EXIT_SECRET; }
        fwrite(output, 1, (size_t)n, stdout);
        return 0;
    }
    if (strcmp(command, "seal") == 0) {
        if ((size_t)length > sizeof output) return EXIT_USAGE;
        uint8_t key[32], iv[12], tag[16];
        char aad[sizeof AAD_PREFIX + 64];
        snprintf(aad, sizeof aad, "%s%s", AAD_PREFIX, name);
        if (RAND_bytes(iv, sizeof iv) != 1 || derive(tee, rpPub, nonce, (size_t)nonceLength, pub, rpPub, key) != 0 ||
            gcm(1, key, iv, (uint8_t *)aad, strlen(aad), (uint8_t *)input, (size_t)length, output, tag) != 0) return EXIT_SECRET;
        static char ct[4 * MAX_CERTS / 3 + 8];
        char ivText[32], tagText[32];
        b64_encode(iv, 12, ivText, 1);
        b64_encode(tag, 16, tagText, 1);
        b64_encode(output, (size_t)length, ct, 1);
        printf("{\"iv\":\"%s\",\"ciphertext\":\"%s\",\"tag\":\"%s\"}\n", ivText, ct, tagText);
        return 0;
    }
    return EXIT_USAGE;
}

int main(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "run") == 0) {
        const char *url = option(argc, argv, "--url"), *key = option(argc, argv, "--rp-key");
        const char *dir = option(argc, argv, "--secrets");
        if (!url || !key) { say("usage: cvm-attest run --url URL --rp-key HEX [--secrets DIR]"); return EXIT_USAGE; }
        return run(url, key, dir ? dir : "/run/secrets", option(argc, argv, "--report-file"), option(argc, argv, "--certs-file"));
    }
    if (argc >= 2 && (strcmp(argv[1], "keygen") == 0 || strcmp(argv[1], "open") == 0 || strcmp(argv[1], "seal") == 0 ||
                      strcmp(argv[1], "report-data") == 0)) {
        return tool(argc, argv);
    }
    say("usage: cvm-attest run|keygen|open|seal|report-data ...");
    return EXIT_USAGE;
}
