/* test_fuzz_regressions.c - the fuzzer's seeds and past findings, replayed
 * in the ordinary builds.
 *
 * Every file of tests/fuzz/corpus/ (the seeds make_corpus writes) and of
 * tests/fuzz/regressions/ (inputs that once broke the server, kept as they
 * were found) goes through the fuzz harness (tests/fuzz/fuzz_request.c),
 * that is through srv_handle_into / srv_handle_bytes with no sockets, and
 * every reply, direct or late, must decode as a Reply with a proper status.
 * Each file runs once on a fresh server state, then all of them in a row on
 * one state (the fuzzer keeps its state between inputs, so some findings
 * need what earlier inputs left). Under ASan the fresh-state runs also
 * prove srv_state_fini frees all a file made. No syncmgrd is started. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_request.h"
#include "smt.h"
#include "srv.h"

#ifndef SMT_FUZZ_DIR
#error "SMT_FUZZ_DIR (the tests/fuzz directory) must be defined"
#endif

#define FR_MAX_FILES 4096
#define FR_MAX_BYTES (1u << 20)

typedef struct fr_file {
    char path[1024];
    uint8_t *data;
    size_t len;
} fr_file;

static fr_file fr_files[FR_MAX_FILES];
static size_t fr_nfiles;

static int
fr_cmp(const void *a, const void *b)
{
    return strcmp(((const fr_file *)a)->path, ((const fr_file *)b)->path);
}

/* fr_load reads every regular file of dir (absent dir: none, unless must). */
static void
fr_load(const char *dir, bool must)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        if (must)
            fail_msg("%s: %s", dir, strerror(errno));
        return;
    }
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        assert_true(fr_nfiles < FR_MAX_FILES);
        fr_file *f = &fr_files[fr_nfiles];
        snprintf(f->path, sizeof(f->path), "%s/%s", dir, de->d_name);
        FILE *fp = fopen(f->path, "rb");
        assert_non_null(fp);
        f->data = malloc(FR_MAX_BYTES);
        assert_non_null(f->data);
        f->len = fread(f->data, 1, FR_MAX_BYTES, fp);
        fclose(fp);
        fr_nfiles++;
    }
    closedir(d);
}

static int
fr_setup(void **state)
{
    (void)state;
    fr_load(SMT_FUZZ_DIR "/corpus", true);
    fr_load(SMT_FUZZ_DIR "/regressions", false);
    qsort(fr_files, fr_nfiles, sizeof(fr_files[0]), fr_cmp);
    return fr_nfiles > 0 ? 0 : -1;
}

static int
fr_teardown(void **state)
{
    (void)state;
    for (size_t i = 0; i < fr_nfiles; i++)
        free(fr_files[i].data);
    fr_nfiles = 0;
    return 0;
}

static void
test_fuzz_each_file_on_a_fresh_state_gets_decodable_replies(void **state)
{
    (void)state;
    for (size_t i = 0; i < fr_nfiles; i++) {
        assert_int_equal(fz_start(false), 0);
        uint64_t before = fz_failures(), reqs = fz_requests();
        fz_run(fr_files[i].data, fr_files[i].len);
        fz_stop();
        if (fz_failures() != before)
            fail_msg("%s: %" PRIu64 " bad replies (printed above)", fr_files[i].path,
                     fz_failures() - before);
        printf("    %-60s %4" PRIu64 " requests\n", fr_files[i].path + strlen(SMT_FUZZ_DIR) + 1,
               fz_requests() - reqs);
    }
}

static void
test_fuzz_all_files_on_one_state_get_decodable_replies(void **state)
{
    (void)state;
    assert_int_equal(fz_start(false), 0);
    uint64_t before = fz_failures();
    for (int round = 0; round < 3; round++)
        for (size_t i = 0; i < fr_nfiles; i++)
            fz_run(fr_files[i].data, fr_files[i].len);
    fz_stop();
    assert_int_equal(fz_failures() - before, 0);
}

static void
test_fuzz_seeds_cover_every_operation(void **state)
{
    /* A seed set that lost an operation would leave the fuzzer to find it
     * alone: every op of the Request oneof must appear in some seed. */
    (void)state;
    const ProtobufCMessageDescriptor *d = &smwire__request__descriptor;
    bool seen[512] = {false};
    for (size_t i = 0; i < fr_nfiles; i++) {
        if (strstr(fr_files[i].path, "/corpus/") == NULL)
            continue;
        const uint8_t *p = fr_files[i].data;
        size_t left = fr_files[i].len;
        while (left >= FZ_HDR) {
            size_t len = (size_t)p[1] | (size_t)p[2] << 8;
            p += FZ_HDR;
            left -= FZ_HDR;
            if (len > left)
                len = left;
            Smwire__Request *r = smwire__request__unpack(NULL, len, p);
            if (r != NULL) {
                if ((unsigned)r->op_case < SM_NELEM(seen))
                    seen[r->op_case] = true;
                smwire__request__free_unpacked(r, NULL);
            }
            p += len;
            left -= len;
        }
    }
    unsigned missing = 0;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (!(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
            continue;
        if (f->id >= SM_NELEM(seen) || !seen[f->id]) {
            printf("    no seed sends %s (field %u)\n", f->name, f->id);
            missing++;
        }
    }
    assert_int_equal(missing, 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fuzz_each_file_on_a_fresh_state_gets_decodable_replies),
        cmocka_unit_test(test_fuzz_all_files_on_one_state_get_decodable_replies),
        cmocka_unit_test(test_fuzz_seeds_cover_every_operation),
    };
    return cmocka_run_group_tests_name("fuzz_regressions", tests, fr_setup, fr_teardown);
}
