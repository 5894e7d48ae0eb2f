/* test_hash.c: SHA-256 against the FIPS 180-2 appendix B vectors and padding boundaries.
 * Streaming in odd chunk sizes must give the one-shot digest; a file's digest must equal its
 * bytes' digest; an unreadable file must fail with a message naming it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "sinkmap/hash.h"

static void hex_of(const void *data, size_t n, char hex[65])
{
    uint8_t d[32];
    sm_sha256(data, n, d);
    sm_hex(d, 32, hex);
}

/* FIPS 180-2 B.1: one block. */
static void test_abc(void **state)
{
    (void)state;
    char hex[65];
    hex_of("abc", 3, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

/* FIPS 180-2 B.2: the 448-bit message, which needs a second block for the padding. */
static void test_448_bits(void **state)
{
    (void)state;
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    char hex[65];
    assert_int_equal(strlen(m), 56);
    hex_of(m, strlen(m), hex);
    assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

/* FIPS 180-2 B.3: one million 'a', fed in 1000 updates of 1000 bytes. */
static void test_million_a(void **state)
{
    (void)state;
    char chunk[1000];
    uint8_t d[32];
    char hex[65];
    sm_sha256_state s;
    memset(chunk, 'a', sizeof chunk);
    sm_sha256_init(&s);
    for (int i = 0; i < 1000; i++)
        sm_sha256_update(&s, chunk, sizeof chunk);
    sm_sha256_final(&s, d);
    sm_hex(d, 32, hex);
    assert_string_equal(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

/* The empty message (a well-known digest) and the padding boundaries at 55/56/63/64/65 and
 * 119/120 bytes, whose digests were taken from an independent implementation (Python hashlib). */
static void test_boundaries(void **state)
{
    (void)state;
    static const struct {
        size_t n;
        const char *hex;
    } cases[] = {
        {0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {55, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"},
        {56, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"},
        {63, "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34"},
        {64, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"},
        {65, "635361c48bb9eab14198e76ea8ab7f1a41685d6ad62aa9146d301d4f17eb0ae0"},
        {119, "31eba51c313a5c08226adf18d4a359cfdfd8d2e816b13f4af952f7ea6584dcfb"},
        {120, "2f3d335432c70b580af0e8e1b3674a7c020d683aa5f73aaaedfdc55af904c21c"},
    };
    char buf[128], hex[65];
    memset(buf, 'a', sizeof buf);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        hex_of(buf, cases[i].n, hex);
        if (strcmp(hex, cases[i].hex) != 0)
            print_error("%zu bytes: expected %s got %s\n", cases[i].n, cases[i].hex, hex);
        assert_string_equal(hex, cases[i].hex);
    }
}

/* Streaming with chunk sizes 1..97 gives the one-shot digest of the same 1000 bytes. */
static void test_streaming_equals_one_shot(void **state)
{
    (void)state;
    uint8_t data[1000], one[32], streamed[32];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(i * 7 + 3);
    sm_sha256(data, sizeof data, one);
    for (size_t chunk = 1; chunk <= 97; chunk++) {
        sm_sha256_state s;
        sm_sha256_init(&s);
        for (size_t at = 0; at < sizeof data; at += chunk)
            sm_sha256_update(&s, data + at, at + chunk > sizeof data ? sizeof data - at : chunk);
        sm_sha256_final(&s, streamed);
        assert_memory_equal(one, streamed, 32);
    }
}

static void test_file(void **state)
{
    (void)state;
    char path[] = "/tmp/sm_test_hash_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "wb");
    assert_non_null(f);
    fputs("abc", f);
    fclose(f);

    sm_context *ctx = sm_context_create();
    char hex[65];
    assert_int_equal(sm_sha256_file(ctx, path, hex), SM_OK);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    unlink(path);

    /* The file is gone now: the error names it and hex is emptied. */
    assert_int_equal(sm_sha256_file(ctx, path, hex), SM_ERR_IO);
    assert_string_equal(hex, "");
    assert_non_null(strstr(sm_context_message(ctx), path));
    /* A folder opens but cannot be read. */
    assert_int_equal(sm_sha256_file(ctx, "/tmp", hex), SM_ERR_IO);
    assert_non_null(strstr(sm_context_message(ctx), "/tmp"));
    sm_context_destroy(ctx);
}

/* Files are hashed by libcrypto: against this file's own FIPS 180-4 code on sizes around the
 * 1 MiB read buffer and the 64-byte block, and the empty file against its known digest. */
static void test_file_sizes(void **state)
{
    (void)state;
    static const size_t sizes[] = {0, 1, 63, 64, 65, 1048575, 1048576, 1048577, 3 * 1048576 + 17};
    size_t max = 3 * 1048576 + 17;
    uint8_t *data = malloc(max);
    assert_non_null(data);
    uint64_t x = 88172645463325252ULL;
    for (size_t i = 0; i < max; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        data[i] = (uint8_t)(x >> 24);
    }
    sm_context *ctx = sm_context_create();
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        char path[] = "/tmp/sm_test_hash_XXXXXX";
        int fd = mkstemp(path);
        assert_true(fd >= 0);
        FILE *f = fdopen(fd, "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(data, 1, sizes[k], f), sizes[k]);
        fclose(f);
        uint8_t d[32];
        char want[65], got[65];
        sm_sha256(data, sizes[k], d);
        sm_hex(d, 32, want);
        assert_int_equal(sm_sha256_file(ctx, path, got), SM_OK);
        assert_string_equal(got, want);
        if (sizes[k] == 0)
            assert_string_equal(got, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        unlink(path);
    }
    sm_context_destroy(ctx);
    free(data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_abc),
        cmocka_unit_test(test_448_bits),
        cmocka_unit_test(test_million_a),
        cmocka_unit_test(test_boundaries),
        cmocka_unit_test(test_file_sizes),
        cmocka_unit_test(test_streaming_equals_one_shot),
        cmocka_unit_test(test_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
