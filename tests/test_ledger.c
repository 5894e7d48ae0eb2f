/* test_ledger.c: the carbon ledger: hashes recomputed by hand, idempotent re-runs, supersession,
 * export row by row, triggers, tampering found by verify, a writer killed mid-run, CLI errors.
 * Every expected hash is built here from a canonical text written out by hand, not by the library.
 */
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "e2e_util.h"
#include "sinkmap/hash.h"
#include "sinkmap/ledger.h"
#include "sinkmap/table.h"

#define K34 "顺庆区/潆华街道/青山村/012/0034"
#define K35 "顺庆区/潆华街道/青山村/012/0035"
#define METHOD "volume-factor IPCC2006 eq2.5 stock-difference"
#define METHOD2 "InVEST pools lucode 21"
#define P1 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define P2 "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define I1 "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
#define ZEROS "0000000000000000000000000000000000000000000000000000000000000000"
#define T1 "2024-07-01T08:00:00Z"
#define T2 "2024-10-01T08:00:00Z"
#define PERIOD "2020-07-01/2023-07-01"

/* ---- Fixtures -------------------------------------------------------------------------------- */

/* The base batch: two pools of parcel 0034 and one of 0035, over 2020-07-01 to 2023-07-01. */
static void base_batch(sm_ledger_entry e[3])
{
    e[0] = (sm_ledger_entry){
        K34,  "2020-07-01", "2023-07-01", "stand", 12.5, 61.0 / 3.0, 28.722222222222218,
        25.5, 32.0,         METHOD,       P1,      I1};
    e[1] = (sm_ledger_entry){K34,  "2020-07-01", "2023-07-01", "soil",  40.0, 40.75,
                             2.75, NAN,          NAN,          METHOD2, P1,   I1};
    /* Unchanged stock: the sink is -0, which the ledger stores and hashes as 0. */
    e[2] = (sm_ledger_entry){K35,  "2020-07-01", "2023-07-01", "stand", 8.25, 8.25,
                             -0.0, -1.5,         1.5,          METHOD,  P1,   I1};
}

static char g_dir[256];

static const char *tmp_path(char *buf, size_t n, const char *name)
{
    snprintf(buf, n, "%s/%s", g_dir, name);
    return buf;
}

static int setup(void **state)
{
    (void)state;
    return e2e_tmpdir(g_dir, sizeof g_dir, "ledger") ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    e2e_sh("rm -rf '%s'", g_dir);
    return 0;
}

/* Appends a batch in one run; prints the message on failure. */
static sm_status run_batch(const char *path, const char *run_id, const char *time_utc,
                           const sm_ledger_entry *es, size_t n, size_t *added, size_t *superseded)
{
    sm_context *ctx = sm_context_create();
    sm_ledger *l = NULL;
    sm_status st = sm_ledger_open(&l, ctx, path, SM_LEDGER_CREATE);
    if (st == SM_OK)
        st = sm_ledger_begin_run(l, ctx, run_id, "0.1.0", time_utc);
    for (size_t i = 0; st == SM_OK && i < n; i++)
        st = sm_ledger_append(l, ctx, &es[i]);
    if (st == SM_OK)
        st = sm_ledger_commit_run(l, ctx, added, superseded);
    if (st != SM_OK)
        print_message("run_batch: %s\n", sm_context_message(ctx));
    sm_ledger_close(l);
    sm_context_destroy(ctx);
    return st;
}

/* Verifies through the library; returns the status and copies the message. */
static sm_status verify(const char *path, size_t *n, char *msg, size_t msgsize)
{
    sm_context *ctx = sm_context_create();
    sm_ledger *l = NULL;
    sm_status st = sm_ledger_open(&l, ctx, path, 0);
    if (st == SM_OK)
        st = sm_ledger_verify(l, ctx, n);
    if (msg)
        snprintf(msg, msgsize, "%s", sm_context_message(ctx));
    sm_ledger_close(l);
    sm_context_destroy(ctx);
    return st;
}

/* ---- Raw SQLite, as an auditor (or an attacker) would use it --------------------------------- */

static sqlite3 *raw_open(const char *path)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    return db;
}

static long long raw_int(const char *path, const char *sql)
{
    sqlite3 *db = raw_open(path);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    long long v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

/* The first column of the first row as text (NULL -> ""), into buf. */
static const char *raw_text(const char *path, const char *sql, char *buf, size_t n)
{
    sqlite3 *db = raw_open(path);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    const unsigned char *t = sqlite3_column_text(st, 0);
    snprintf(buf, n, "%s", t ? (const char *)t : "");
    sqlite3_finalize(st);
    sqlite3_close(db);
    return buf;
}

/* Runs SQL; returns the SQLite result code and copies the error message. */
static int raw_exec(const char *path, const char *sql, char *err, size_t n)
{
    sqlite3 *db = raw_open(path);
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (err)
        snprintf(err, n, "%s", msg ? msg : "");
    sqlite3_free(msg);
    sqlite3_close(db);
    return rc;
}

static long long count_entries(const char *path)
{
    return raw_int(path, "SELECT count(*) FROM ledger_entries");
}

static const char *stored_hash(const char *path, long long id, char out[65])
{
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT entry_hash FROM ledger_entries WHERE id = %lld", id);
    return raw_text(path, sql, out, 65);
}

static void sha256_hex(const char *text, char out[65])
{
    uint8_t d[32];
    sm_sha256(text, strlen(text), d);
    sm_hex(d, 32, out);
}

/* The test's own serializer (ledger.h's layout), from the values' text; used where writing the
 * whole text out by hand would only repeat test_hash_by_hand. v holds the 18 values in order. */
static void canonical(const char *const v[18], char *buf, size_t n)
{
    static const char *const names[18] = {"id",
                                          "parcel_key",
                                          "period_start",
                                          "period_end",
                                          "pool",
                                          "stock_start_tc",
                                          "stock_end_tc",
                                          "sink_tco2e",
                                          "sink_lo95",
                                          "sink_hi95",
                                          "method",
                                          "params_sha256",
                                          "inputs_sha256",
                                          "run_id",
                                          "tool_version",
                                          "time_utc",
                                          "supersedes",
                                          "prev_hash"};
    size_t used = (size_t)snprintf(buf, n, "sinkmap ledger entry v1\n");
    for (int i = 0; i < 18; i++)
        used += (size_t)snprintf(buf + used, n - used, "%s=%zu:%s\n", names[i], strlen(v[i]), v[i]);
    assert_true(used < n);
}

static long long e2e_file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

/* ---- Tests ----------------------------------------------------------------------------------- */

/* The stored hashes of a fresh batch equal SHA-256 of canonical texts written out by hand. */
static void test_hash_by_hand(void **state)
{
    (void)state;
    char db[512], h1[65], h2[65], h3[65], want[65], text[4096];
    sm_ledger_entry e[3];
    base_batch(e);
    tmp_path(db, sizeof db, "hash.db");
    size_t added = 99, sup = 99;
    assert_int_equal(run_batch(db, "2024S2-0001", T1, e, 3, &added, &sup), SM_OK);
    assert_int_equal(added, 3);
    assert_int_equal(sup, 0);

    /* Entry 1, every byte by hand: lengths counted in UTF-8 bytes (the key is 5 × 3-byte
     * characters... 顺庆区 9, 潆华街道 12, 青山村 9, plus "/012/0034" and two '/' = 41). 61/3 needs
     * 17 significant digits; 32 is written without a decimal point. */
    const char *entry1 = "sinkmap ledger entry v1\n"
                         "id=1:1\n"
                         "parcel_key=41:顺庆区/潆华街道/青山村/012/0034\n"
                         "period_start=10:2020-07-01\n"
                         "period_end=10:2023-07-01\n"
                         "pool=5:stand\n"
                         "stock_start_tc=4:12.5\n"
                         "stock_end_tc=18:20.333333333333332\n"
                         "sink_tco2e=18:28.722222222222218\n"
                         "sink_lo95=4:25.5\n"
                         "sink_hi95=2:32\n"
                         "method=45:volume-factor IPCC2006 eq2.5 stock-difference\n"
                         "params_sha256=64:" P1 "\n"
                         "inputs_sha256=64:" I1 "\n"
                         "run_id=11:2024S2-0001\n"
                         "tool_version=5:0.1.0\n"
                         "time_utc=20:2024-07-01T08:00:00Z\n"
                         "supersedes=0:\n"
                         "prev_hash=64:" ZEROS "\n";
    sha256_hex(entry1, want);
    assert_string_equal(stored_hash(db, 1, h1), want);
    /* The test's serializer agrees with the text written by hand. */
    const char *v1[18] = {"1",
                          K34,
                          "2020-07-01",
                          "2023-07-01",
                          "stand",
                          "12.5",
                          "20.333333333333332",
                          "28.722222222222218",
                          "25.5",
                          "32",
                          METHOD,
                          P1,
                          I1,
                          "2024S2-0001",
                          "0.1.0",
                          T1,
                          "",
                          ZEROS};
    canonical(v1, text, sizeof text);
    assert_string_equal(text, entry1);

    /* Entry 2: an unknown interval is two empty values; 40 is "40". */
    snprintf(text, sizeof text,
             "sinkmap ledger entry v1\nid=1:2\nparcel_key=41:" K34 "\nperiod_start=10:2020-07-01\n"
             "period_end=10:2023-07-01\npool=4:soil\nstock_start_tc=2:40\nstock_end_tc=5:40.75\n"
             "sink_tco2e=4:2.75\nsink_lo95=0:\nsink_hi95=0:\nmethod=22:" METHOD2 "\n"
             "params_sha256=64:" P1 "\ninputs_sha256=64:" I1 "\nrun_id=11:2024S2-0001\n"
             "tool_version=5:0.1.0\ntime_utc=20:" T1 "\nsupersedes=0:\nprev_hash=64:%s\n",
             h1);
    sha256_hex(text, want);
    assert_string_equal(stored_hash(db, 2, h2), want);

    /* Entry 3: -0 is hashed as "0". */
    snprintf(text, sizeof text,
             "sinkmap ledger entry v1\nid=1:3\nparcel_key=41:" K35 "\nperiod_start=10:2020-07-01\n"
             "period_end=10:2023-07-01\npool=5:stand\nstock_start_tc=4:8.25\nstock_end_tc=4:8.25\n"
             "sink_tco2e=1:0\nsink_lo95=4:-1.5\nsink_hi95=3:1.5\nmethod=45:" METHOD "\n"
             "params_sha256=64:" P1 "\ninputs_sha256=64:" I1 "\nrun_id=11:2024S2-0001\n"
             "tool_version=5:0.1.0\ntime_utc=20:" T1 "\nsupersedes=0:\nprev_hash=64:%s\n",
             h2);
    sha256_hex(text, want);
    assert_string_equal(stored_hash(db, 3, h3), want);

    /* The links as stored, and the stored numbers bit-exact. */
    char buf[128];
    assert_string_equal(
        raw_text(db, "SELECT prev_hash FROM ledger_entries WHERE id = 1", buf, sizeof buf), ZEROS);
    assert_string_equal(
        raw_text(db, "SELECT prev_hash FROM ledger_entries WHERE id = 3", buf, sizeof buf), h2);
    assert_int_equal(
        raw_int(db, "SELECT stock_end_tc = 61.0 / 3.0 FROM ledger_entries WHERE id = 1"), 1);
    assert_int_equal(
        raw_int(db,
                "SELECT sink_lo95 IS NULL AND sink_hi95 IS NULL FROM ledger_entries WHERE id = 2"),
        1);

    size_t n = 0;
    assert_int_equal(verify(db, &n, NULL, 0), SM_OK);
    assert_int_equal(n, 3);

    /* sm_ledger_head gives the last entry. */
    sm_context *ctx = sm_context_create();
    sm_ledger *l = NULL;
    long long id = 0;
    char head[65];
    assert_int_equal(sm_ledger_open(&l, ctx, db, 0), SM_OK);
    assert_int_equal(sm_ledger_head(l, ctx, &id, head), SM_OK);
    assert_int_equal(id, 3);
    assert_string_equal(head, h3);
    assert_string_equal(sm_ledger_path(l), db);
    sm_ledger_close(l);
    sm_ledger_close(NULL);
    sm_context_destroy(ctx);
}

/* The same batch twice: the second run adds nothing and changes nothing. */
static void test_idempotent(void **state)
{
    (void)state;
    char db[512], before[65], after[65];
    sm_ledger_entry e[3];
    base_batch(e);
    tmp_path(db, sizeof db, "idem.db");
    size_t added = 0, sup = 0;
    assert_int_equal(run_batch(db, "run-1", T1, e, 3, &added, &sup), SM_OK);
    assert_int_equal(added, 3);
    stored_hash(db, 3, before);
    assert_int_equal(run_batch(db, "run-2", T2, e, 3, &added, &sup), SM_OK);
    assert_int_equal(added, 0);
    assert_int_equal(sup, 0);
    /* Re-using the first run's id is fine when nothing is added. */
    assert_int_equal(run_batch(db, "run-1", T2, e, 3, &added, &sup), SM_OK);
    assert_int_equal(added, 0);
    /* -0 given again matches the stored 0; NaN intervals match NULL. */
    e[2].sink_tco2e = 0.0;
    assert_int_equal(run_batch(db, "run-3", T2, e, 3, &added, &sup), SM_OK);
    assert_int_equal(added, 0);
    assert_int_equal(count_entries(db), 3);
    assert_string_equal(stored_hash(db, 3, after), before);
    assert_int_equal(raw_int(db, "SELECT count(*) FROM ledger_entries WHERE run_id != 'run-1'"), 0);
}

/* A changed value supersedes; the old entry stays; export shows only the current ones, row by row.
 */
static void test_supersede_and_export(void **state)
{
    (void)state;
    char db[512], csv[512], h[4][65], err[1024];
    sm_ledger_entry e[3];
    base_batch(e);
    tmp_path(db, sizeof db, "sup.db");
    tmp_path(csv, sizeof csv, "sup.csv");
    size_t added = 0, sup = 0;
    assert_int_equal(run_batch(db, "run-1", T1, e, 3, &added, &sup), SM_OK);
    /* Parcel 0035 re-measured: 8.25 -> 9 t C, sink (9 - 8.25) × 44/12 = 2.75 t CO2e. */
    e[2].stock_end_tc = 9.0;
    e[2].sink_tco2e = 2.75;
    e[2].sink_lo95 = 2.0;
    e[2].sink_hi95 = 3.5;
    assert_int_equal(run_batch(db, "run-2", T2, e, 3, &added, &sup), SM_OK);
    assert_int_equal(added, 1);
    assert_int_equal(sup, 1);
    assert_int_equal(count_entries(db), 4);
    assert_int_equal(raw_int(db, "SELECT supersedes FROM ledger_entries WHERE id = 4"), 3);
    assert_int_equal(raw_int(db, "SELECT stock_end_tc = 8.25 FROM ledger_entries WHERE id = 3"), 1);
    for (int i = 0; i < 4; i++)
        stored_hash(db, i + 1, h[i]);

    sm_context *ctx = sm_context_create();
    sm_ledger *l = NULL;
    size_t rows = 0;
    assert_int_equal(sm_ledger_open(&l, ctx, db, 0), SM_OK);
    assert_int_equal(sm_ledger_export(l, ctx, NULL, csv, &rows), SM_OK);
    assert_int_equal(rows, 3);

    /* Rows in parcel key, period, pool order: 0034 soil (2), 0034 stand (1), 0035 stand (4). */
    const char *want[3][18] = {
        {"2", K34, "2020-07-01", "2023-07-01", "soil", "40", "40.75", "2.75", "", "", METHOD2, P1,
         I1, "run-1", "0.1.0", T1, "", h[1]},
        {"1", K34, "2020-07-01", "2023-07-01", "stand", "12.5", "20.333333333333332",
         "28.722222222222218", "25.5", "32", METHOD, P1, I1, "run-1", "0.1.0", T1, "", h[0]},
        {"4", K35, "2020-07-01", "2023-07-01", "stand", "8.25", "9", "2.75", "2", "3.5", METHOD, P1,
         I1, "run-2", "0.1.0", T2, "3", h[3]},
    };
    static const char *const header[18] = {"id",
                                           "parcel_key",
                                           "period_start",
                                           "period_end",
                                           "pool",
                                           "stock_start_tc",
                                           "stock_end_tc",
                                           "sink_tco2e",
                                           "sink_lo95",
                                           "sink_hi95",
                                           "method",
                                           "params_sha256",
                                           "inputs_sha256",
                                           "run_id",
                                           "tool_version",
                                           "time_utc",
                                           "supersedes",
                                           "entry_hash"};
    sm_table *t = NULL;
    assert_int_equal(sm_table_read(&t, ctx, csv), SM_OK);
    assert_int_equal(sm_table_cols(t), 18);
    assert_int_equal(sm_table_rows(t), 3);
    for (size_t c = 0; c < 18; c++)
        assert_string_equal(sm_table_col_name(t, c), header[c]);
    for (size_t r = 0; r < 3; r++)
        for (size_t c = 0; c < 18; c++) {
            if (strcmp(sm_table_cell(t, r, c), want[r][c]) != 0)
                print_error("row %zu column %s: expected '%s', got '%s'\n", r, header[c],
                            want[r][c], sm_table_cell(t, r, c));
            assert_string_equal(sm_table_cell(t, r, c), want[r][c]);
        }
    sm_table_destroy(t);
    /* The file starts with a UTF-8 BOM, for Excel. */
    FILE *f = fopen(csv, "rb");
    unsigned char bom[3] = {0};
    assert_non_null(f);
    assert_int_equal(fread(bom, 1, 3, f), 3);
    fclose(f);
    assert_true(bom[0] == 0xef && bom[1] == 0xbb && bom[2] == 0xbf);
    sm_ledger_close(l);

    /* A second period: --period picks it alone; an unknown period lists the known ones. */
    sm_ledger_entry e2 = {
        K34, "2023-07-01", "2024-07-01", "stand", 61.0 / 3.0, 21.0, 2.4444444444444446,
        NAN, NAN,          METHOD,       P2,      I1};
    assert_int_equal(run_batch(db, "run-3", T2, &e2, 1, &added, &sup), SM_OK);
    assert_int_equal(added, 1);
    assert_int_equal(sup, 0);
    assert_int_equal(sm_ledger_open(&l, ctx, db, 0), SM_OK);
    assert_int_equal(sm_ledger_export(l, ctx, "2023-07-01/2024-07-01", csv, &rows), SM_OK);
    assert_int_equal(rows, 1);
    assert_int_equal(sm_table_read(&t, ctx, csv), SM_OK);
    assert_int_equal(sm_table_rows(t), 1);
    assert_string_equal(sm_table_cell(t, 0, 0), "5");
    assert_string_equal(sm_table_cell(t, 0, 6), "21");
    assert_string_equal(sm_table_cell(t, 0, 7), "2.4444444444444446");
    assert_string_equal(sm_table_cell(t, 0, 11), P2);
    sm_table_destroy(t);
    assert_int_equal(sm_ledger_export(l, ctx, PERIOD, csv, &rows), SM_OK);
    assert_int_equal(rows, 3);
    assert_int_equal(sm_ledger_export(l, ctx, NULL, csv, &rows), SM_OK);
    assert_int_equal(rows, 4);
    assert_int_equal(sm_ledger_export(l, ctx, "2021-01-01/2022-01-01", csv, &rows), SM_ERR_INPUT);
    assert_non_null(strstr(sm_context_message(ctx),
                           "no entries for period 2021-01-01/2022-01-01 (periods: "
                           "2020-07-01/2023-07-01, 2023-07-01/2024-07-01)"));
    assert_int_equal(sm_ledger_export(l, ctx, "2021", csv, &rows), SM_ERR_INPUT);
    assert_non_null(strstr(sm_context_message(ctx), "expected START/END"));
    sm_ledger_close(l);

    /* The CLI writes the same file. */
    char csv2[512];
    tmp_path(csv2, sizeof csv2, "sup-cli.csv");
    assert_int_equal(
        e2e_run(err, sizeof err, "ledger export '%s' --period %s -o '%s'", db, PERIOD, csv2), 0);
    assert_int_equal(e2e_sh("cmp -s '%s' '%s'", csv, csv2), 1); /* csv holds all 4 now */
    assert_int_equal(e2e_run(err, sizeof err, "ledger export '%s' -o '%s'", db, csv2), 0);
    assert_int_equal(e2e_sh("cmp -s '%s' '%s'", csv, csv2), 0);
    /* No temporary file is left behind. */
    assert_int_equal(e2e_sh("ls '%s' | grep -q '\\.tmp'", g_dir), 1);

    /* A changed parameter table supersedes every entry of the period. */
    base_batch(e);
    for (int i = 0; i < 3; i++)
        e[i].params_sha256 = P2;
    assert_int_equal(run_batch(db, "run-4", T2, e, 3, &added, &sup), SM_OK);
    assert_int_equal(added, 3);
    assert_int_equal(sup, 3);
    assert_int_equal(count_entries(db), 8);
    char buf[64];
    assert_string_equal(raw_text(db,
                                 "SELECT group_concat(supersedes, ',') FROM (SELECT supersedes "
                                 "FROM ledger_entries WHERE id > 5 ORDER BY id)",
                                 buf, sizeof buf),
                        "1,2,4");
    assert_int_equal(verify(db, NULL, NULL, 0), SM_OK);
    sm_context_destroy(ctx);
}

/* UPDATE and DELETE through SQL are refused by the triggers; so is a row that breaks the chain. */
static void test_triggers(void **state)
{
    (void)state;
    char db[512], err[512];
    sm_ledger_entry e[3];
    base_batch(e);
    tmp_path(db, sizeof db, "trig.db");
    assert_int_equal(run_batch(db, "run-1", T1, e, 3, NULL, NULL), SM_OK);

    assert_int_equal(
        raw_exec(db, "UPDATE ledger_entries SET stock_end_tc = 99 WHERE id = 2", err, sizeof err),
        SQLITE_CONSTRAINT);
    assert_string_equal(err, "sinkmap ledger: entries are append-only: UPDATE refused");
    assert_int_equal(raw_exec(db, "DELETE FROM ledger_entries WHERE id = 3", err, sizeof err),
                     SQLITE_CONSTRAINT);
    assert_string_equal(err, "sinkmap ledger: entries are append-only: DELETE refused");
    assert_int_equal(raw_exec(db, "DELETE FROM ledger_entries", err, sizeof err),
                     SQLITE_CONSTRAINT);
    assert_int_equal(raw_exec(db, "UPDATE ledger_meta SET value = '2' WHERE key = 'format_version'",
                              err, sizeof err),
                     SQLITE_CONSTRAINT);
    assert_int_equal(raw_exec(db, "DELETE FROM ledger_meta", err, sizeof err), SQLITE_CONSTRAINT);
    /* An upsert is an UPDATE; REPLACE of an existing id must first pass the chain trigger. */
    assert_int_equal(raw_exec(db,
                              "INSERT INTO ledger_entries SELECT * FROM ledger_entries WHERE id = "
                              "1 ON CONFLICT(id) DO UPDATE SET sink_tco2e = 0",
                              err, sizeof err),
                     SQLITE_CONSTRAINT);
    assert_int_equal(
        raw_exec(db,
                 "INSERT OR REPLACE INTO ledger_entries SELECT * FROM ledger_entries WHERE id = 1",
                 err, sizeof err),
        SQLITE_CONSTRAINT);
    assert_non_null(strstr(err, "must extend the chain"));
    /* A forged row with the next id but the wrong prev_hash. */
    assert_int_equal(
        raw_exec(db,
                 "INSERT INTO ledger_entries (id, parcel_key, period_start, period_end, pool, "
                 "stock_start_tc, stock_end_tc, sink_tco2e, method, params_sha256, inputs_sha256, "
                 "run_id, tool_version, time_utc, prev_hash, entry_hash) SELECT 4, parcel_key, "
                 "period_start, period_end, pool, 1, 2, 3, method, params_sha256, inputs_sha256, "
                 "'x', 'y', time_utc, '" ZEROS "', entry_hash FROM ledger_entries WHERE id = 3",
                 err, sizeof err),
        SQLITE_CONSTRAINT);
    assert_int_equal(count_entries(db), 3);
    assert_int_equal(raw_int(db, "SELECT stock_end_tc = 40.75 FROM ledger_entries WHERE id = 2"),
                     1);
    assert_int_equal(verify(db, NULL, NULL, 0), SM_OK);
}

/* 20 entries of one run, to tamper with entry 17. */
static void make_twenty(const char *db)
{
    static char keys[20][64];
    sm_ledger_entry e[20];
    for (int i = 0; i < 20; i++) {
        snprintf(keys[i], sizeof keys[i], "顺庆区/潆华街道/青山村/013/%04d", i + 1);
        e[i] = (sm_ledger_entry){
            keys[i],           "2020-07-01", "2023-07-01", "stand", 10.0 + i, 12.0 + i,
            2.0 * 44.0 / 12.0, 6.0,          8.5,          METHOD,  P1,       I1};
    }
    assert_int_equal(run_batch(db, "run-1", T1, e, 20, NULL, NULL), SM_OK);
}

/* The exact CREATE TRIGGER text as stored, so that the attacker can put it back. */
static void trigger_sql(const char *db, const char *name, char *buf, size_t n)
{
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT sql FROM sqlite_schema WHERE name = '%s'", name);
    raw_text(db, sql, buf, n);
    assert_true(strncmp(buf, "CREATE TRIGGER", 14) == 0);
}

/* Tampering past the triggers is found by verify, which names the entry; the CLI exits 2. */
static void test_tamper(void **state)
{
    (void)state;
    char db[512], msg[2048], err[2048], trig[1024], sql[2048];
    size_t n = 0;
    tmp_path(db, sizeof db, "tamper.db");
    make_twenty(db);
    assert_int_equal(verify(db, &n, NULL, 0), SM_OK);
    assert_int_equal(n, 20);

    /* The CLI on the intact ledger. */
    char out[512], text[1024] = "", h20[65];
    tmp_path(out, sizeof out, "verify.out");
    assert_int_equal(e2e_sh("'%s' ledger verify '%s' > '%s'", SM_CLI, db, out), 0);
    FILE *f = fopen(out, "r");
    assert_non_null(f);
    text[fread(text, 1, sizeof text - 1, f)] = '\0';
    fclose(f);
    char want[4096];
    snprintf(want, sizeof want, "%s: 20 entries, chain intact\n%s: last entry 20, entry_hash %s\n",
             db, db, stored_hash(db, 20, h20));
    assert_string_equal(text, want);

    /* The attacker drops the trigger, edits entry 17's stock, and puts the trigger back. */
    trigger_sql(db, "ledger_entries_no_update", trig, sizeof trig);
    snprintf(sql, sizeof sql,
             "DROP TRIGGER ledger_entries_no_update; "
             "UPDATE ledger_entries SET stock_end_tc = 29.5 WHERE id = 17; %s;",
             trig);
    assert_int_equal(raw_exec(db, sql, NULL, 0), SQLITE_OK);
    assert_int_equal(raw_int(db, "SELECT stock_end_tc = 29.5 FROM ledger_entries WHERE id = 17"),
                     1);
    assert_int_equal(verify(db, NULL, msg, sizeof msg), SM_ERR_INPUT);
    char prefix[2048];
    snprintf(prefix, sizeof prefix,
             "%s: entry 17 (parcel 顺庆区/潆华街道/青山村/013/0017, period 2020-07-01/2023-07-01, "
             "pool stand): hash mismatch: stored ",
             db);
    if (strncmp(msg, prefix, strlen(prefix)) != 0)
        print_error("got '%s'\n", msg);
    assert_true(strncmp(msg, prefix, strlen(prefix)) == 0);
    assert_int_equal(e2e_run(err, sizeof err, "ledger verify '%s'", db), 2);
    assert_true(strncmp(err, "sinkmap: error: ", 16) == 0);
    assert_true(strncmp(err + 16, prefix, strlen(prefix)) == 0);
    assert_int_equal(e2e_lines(err), 1);
    /* Nothing more may be written to it, and nothing exported from it. */
    sm_context *ctx = sm_context_create();
    sm_ledger *l = NULL;
    sm_ledger_entry e[3];
    base_batch(e);
    assert_int_equal(sm_ledger_open(&l, ctx, db, 0), SM_OK);
    assert_int_equal(sm_ledger_begin_run(l, ctx, "run-2", NULL, NULL), SM_ERR_INPUT);
    assert_non_null(strstr(sm_context_message(ctx), "entry 17 ("));
    assert_int_equal(sm_ledger_append(l, ctx, &e[0]), SM_ERR_INTERNAL);
    char csv[512];
    tmp_path(csv, sizeof csv, "tamper.csv");
    assert_int_equal(sm_ledger_export(l, ctx, NULL, csv, NULL), SM_ERR_INPUT);
    assert_false(e2e_exists(csv));
    sm_ledger_close(l);
    sm_context_destroy(ctx);
    assert_int_equal(count_entries(db), 20);
}

/* An attacker who also rewrites entry 17's hash correctly breaks the link from entry 18. */
static void test_tamper_rehashed(void **state)
{
    (void)state;
    char db[512], msg[2048], h16[65], forged[65], text[4096], sql[2048], trig[1024];
    tmp_path(db, sizeof db, "rehash.db");
    make_twenty(db);
    stored_hash(db, 16, h16);
    /* Entry 17 with stock_end 29.5 instead of 28, hashed by the rules of ledger.h. 2×44/12 =
     * 7.333333333333333 (16 digits suffice). */
    const char *v[18] = {"17",         "顺庆区/潆华街道/青山村/013/0017",
                         "2020-07-01", "2023-07-01",
                         "stand",      "26",
                         "29.5",       "7.333333333333333",
                         "6",          "8.5",
                         METHOD,       P1,
                         I1,           "run-1",
                         "0.1.0",      T1,
                         "",           h16};
    canonical(v, text, sizeof text);
    sha256_hex(text, forged);
    /* First confirm that with stock_end 28 the same rules give the stored hash. */
    v[6] = "28";
    char orig[65], stored[65];
    canonical(v, text, sizeof text);
    sha256_hex(text, orig);
    assert_string_equal(stored_hash(db, 17, stored), orig);

    trigger_sql(db, "ledger_entries_no_update", trig, sizeof trig);
    snprintf(sql, sizeof sql,
             "DROP TRIGGER ledger_entries_no_update; UPDATE ledger_entries SET stock_end_tc = "
             "29.5, entry_hash = '%s' WHERE id = 17; %s;",
             forged, trig);
    assert_int_equal(raw_exec(db, sql, NULL, 0), SQLITE_OK);
    assert_int_equal(verify(db, NULL, msg, sizeof msg), SM_ERR_INPUT);
    char want[4096];
    snprintf(want, sizeof want,
             "%s: entry 18 (parcel 顺庆区/潆华街道/青山村/013/0018, period 2020-07-01/2023-07-01, "
             "pool stand): prev_hash mismatch: it links to %s but entry 17 has hash %s",
             db, orig, forged);
    assert_string_equal(msg, want);
}

/* A deleted entry in the middle, and a dropped trigger with the data left alone. */
static void test_tamper_delete_and_schema(void **state)
{
    (void)state;
    char db[512], msg[2048], err[2048];
    tmp_path(db, sizeof db, "del.db");
    make_twenty(db);
    assert_int_equal(
        raw_exec(db,
                 "DROP TRIGGER ledger_entries_no_delete; DELETE FROM ledger_entries WHERE id = 5;",
                 NULL, 0),
        SQLITE_OK);
    assert_int_equal(verify(db, NULL, msg, sizeof msg), SM_ERR_INPUT);
    assert_non_null(strstr(msg, ": entry 6 (parcel 顺庆区/潆华街道/青山村/013/0006, "));
    assert_non_null(strstr(msg, "id sequence broken: the entry before it is 4"));

    tmp_path(db, sizeof db, "schema.db");
    make_twenty(db);
    assert_int_equal(raw_exec(db, "DROP TRIGGER ledger_entries_no_update", NULL, 0), SQLITE_OK);
    assert_int_equal(verify(db, NULL, msg, sizeof msg), SM_ERR_INPUT);
    assert_non_null(strstr(
        msg,
        "the chain of 20 entries is intact, but trigger 'ledger_entries_no_update' is missing"));
    assert_int_equal(e2e_run(err, sizeof err, "ledger verify '%s'", db), 2);
    assert_non_null(strstr(err, "ledger_entries_no_update"));
    /* A writer refuses to extend it. */
    sm_ledger_entry e[3];
    base_batch(e);
    sm_context *ctx = sm_context_create();
    sm_ledger *l = NULL;
    assert_int_equal(sm_ledger_open(&l, ctx, db, 0), SM_OK);
    assert_int_equal(sm_ledger_begin_run(l, ctx, "run-2", NULL, NULL), SM_ERR_INPUT);
    assert_non_null(strstr(sm_context_message(ctx), "refusing to write"));
    sm_ledger_close(l);
    sm_context_destroy(ctx);
}

/* A writer SIGKILLed after appending (not committing) many entries leaves the ledger as it was. */
static void test_kill_during_write(void **state)
{
    (void)state;
    char db[512], journal[600], before[65], after[65];
    sm_ledger_entry e[3];
    base_batch(e);
    tmp_path(db, sizeof db, "kill.db");
    assert_int_equal(run_batch(db, "run-1", T1, e, 3, NULL, NULL), SM_OK);
    stored_hash(db, 3, before);
    long long size_before = e2e_file_size(db);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    enum { N = 20000 }; /* ~10 MB of rows: more than SQLite's page cache, so pages reach the file */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        sm_context *ctx = sm_context_create();
        sm_ledger *l = NULL;
        char ok = 'E';
        if (sm_ledger_open(&l, ctx, db, 0) == SM_OK &&
            sm_ledger_begin_run(l, ctx, "run-killed", NULL, NULL) == SM_OK) {
            static char key[128];
            sm_ledger_entry x = e[0];
            x.parcel_key = key;
            int failed = 0;
            for (int i = 0; i < N && !failed; i++) {
                snprintf(key, sizeof key, "顺庆区/潆华街道/青山村/%03d/%04d", i / 1000, i % 1000);
                x.stock_end_tc = 13.0 + i * 1e-3;
                failed = sm_ledger_append(l, ctx, &x) != SM_OK;
            }
            if (!failed)
                ok = 'K';
        }
        if (write(fds[1], &ok, 1) != 1)
            _exit(3);
        for (;;)
            pause(); /* killed here, in the middle of the run */
    }
    close(fds[1]);
    char got = 0;
    assert_int_equal(read(fds[0], &got, 1), 1);
    close(fds[0]);
    assert_int_equal(kill(pid, SIGKILL), 0);
    int wst = 0;
    assert_int_equal(waitpid(pid, &wst, 0), pid);
    assert_true(WIFSIGNALED(wst) && WTERMSIG(wst) == SIGKILL);
    assert_int_equal(got, 'K');
    /* The uncommitted run did reach the disk: a hot journal is left to roll back. */
    snprintf(journal, sizeof journal, "%s-journal", db);
    assert_true(e2e_exists(journal));
    long long size_killed = e2e_file_size(db);
    print_message("ledger file: %lld bytes before the run, %lld when killed\n", size_before,
                  size_killed);
    assert_true(size_killed > size_before);

    size_t n = 0;
    char msg[1024];
    assert_int_equal(verify(db, &n, msg, sizeof msg), SM_OK);
    assert_int_equal(n, 3);
    assert_int_equal(count_entries(db), 3);
    assert_string_equal(stored_hash(db, 3, after), before);
    assert_int_equal(raw_int(db, "SELECT count(*) FROM ledger_entries WHERE run_id = 'run-killed'"),
                     0);
    /* The next run extends the chain from entry 3. */
    e[0].stock_end_tc = 20.5;
    size_t added = 0, sup = 0;
    assert_int_equal(run_batch(db, "run-2", T2, e, 3, &added, &sup), SM_OK);
    assert_int_equal(added, 1);
    assert_int_equal(sup, 1);
    char prev[65];
    assert_string_equal(
        raw_text(db, "SELECT prev_hash FROM ledger_entries WHERE id = 4", prev, sizeof prev),
        before);
    assert_int_equal(verify(db, &n, NULL, 0), SM_OK);
    assert_int_equal(n, 4);
}

/* Bad entries are refused naming the field; after one, the run cannot be committed. */
static void test_validation(void **state)
{
    (void)state;
    char db[512];
    tmp_path(db, sizeof db, "valid.db");
    sm_ledger_entry base[3];
    base_batch(base);
    sm_context *ctx = sm_context_create();
    sm_ledger *l = NULL;
    assert_int_equal(sm_ledger_open(&l, ctx, db, SM_LEDGER_CREATE), SM_OK);
    struct {
        sm_ledger_entry e;
        const char *msg;
    } bad[] = {
        {{K34, "2020-07-01", "2023-07-01", "stand", -1.0, 2.0, 11.0, NAN, NAN, METHOD, P1, I1},
         "stock_start_tc is -1 t C (a stock cannot be negative)"},
        {{K34, "2020-07-01", "2023-07-01", "stand", 1.0, NAN, 1.0, NAN, NAN, METHOD, P1, I1},
         "stock_end_tc is nan (a finite number is required)"},
        {{K34, "2020-07-01", "2023-07-01", "stand", 1.0, 2.0, INFINITY, NAN, NAN, METHOD, P1, I1},
         "sink_tco2e is inf (a finite number is required)"},
        {{K34, "2023-02-29", "2023-07-01", "stand", 1.0, 2.0, 1.0, NAN, NAN, METHOD, P1, I1},
         "period_start '2023-02-29' is not a date YYYY-MM-DD"},
        {{K34, "2023-07-01", "2020-07-01", "stand", 1.0, 2.0, 1.0, NAN, NAN, METHOD, P1, I1},
         "the period ends (2020-07-01) before it starts (2023-07-01)"},
        {{K34, "2020-07-01", "2023-07-01", "Stand", 1.0, 2.0, 1.0, NAN, NAN, METHOD, P1, I1},
         "pool 'Stand' is not a pool name"},
        {{K34, "2020-07-01", "2023-07-01", "stand", 1.0, 2.0, 1.0, 0.5, NAN, METHOD, P1, I1},
         "the 95% interval [0.5, nan] must be two finite numbers"},
        {{K34, "2020-07-01", "2023-07-01", "stand", 1.0, 2.0, 1.0, 2.0, 0.5, METHOD, P1, I1},
         "the 95% interval [2, 0.5] has lo > hi"},
        {{K34, "2020-07-01", "2023-07-01", "stand", 1.0, 2.0, 1.0, NAN, NAN, METHOD, "ABC", I1},
         "params_sha256 'ABC' is not 64 lower-case hex digits"},
        {{"", "2020-07-01", "2023-07-01", "stand", 1.0, 2.0, 1.0, NAN, NAN, METHOD, P1, I1},
         "parcel_key is missing"},
        {{K34, "2020-07-01", "2023-07-01", "stand", 1.0, 2.0, 1.0, NAN, NAN, "a\tb", P1, I1},
         "method is not valid UTF-8 text without control characters"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(sm_ledger_begin_run(l, ctx, "run-v", NULL, "2024-07-01T08:00:00Z"), SM_OK);
        assert_int_equal(sm_ledger_append(l, ctx, &base[0]), SM_OK);
        assert_int_equal(sm_ledger_append(l, ctx, &bad[i].e), SM_ERR_INPUT);
        const char *msg = sm_context_message(ctx);
        if (!strstr(msg, bad[i].msg) || !strstr(msg, db))
            print_error("case %zu: expected '%s' in '%s'\n", i, bad[i].msg, msg);
        assert_non_null(strstr(msg, bad[i].msg));
        /* The good entry appended before it is not committed either. */
        size_t added = 9;
        assert_int_equal(sm_ledger_commit_run(l, ctx, &added, NULL), SM_ERR_INPUT);
        assert_int_equal(added, 0);
        assert_non_null(strstr(sm_context_message(ctx), "not committed"));
    }
    assert_int_equal(count_entries(db), 0);

    /* The same parcel × period × pool twice in one run. */
    assert_int_equal(sm_ledger_begin_run(l, ctx, "run-d", NULL, NULL), SM_OK);
    assert_int_equal(sm_ledger_append(l, ctx, &base[0]), SM_OK);
    assert_int_equal(sm_ledger_append(l, ctx, &base[0]), SM_ERR_INPUT);
    assert_non_null(strstr(sm_context_message(ctx), "given twice in run 'run-d'"));
    sm_ledger_rollback_run(l);
    /* Run fields. */
    assert_int_equal(sm_ledger_begin_run(l, ctx, "", NULL, NULL), SM_ERR_INPUT);
    assert_int_equal(sm_ledger_begin_run(l, ctx, "r", NULL, "2024-07-01 08:00:00"), SM_ERR_INPUT);
    assert_non_null(
        strstr(sm_context_message(ctx), "time_utc '2024-07-01 08:00:00' is not a UTC time"));
    /* Misuse. */
    assert_int_equal(sm_ledger_append(l, ctx, &base[0]), SM_ERR_INTERNAL);
    assert_int_equal(sm_ledger_commit_run(l, ctx, NULL, NULL), SM_ERR_INTERNAL);
    sm_ledger_rollback_run(l); /* no run: a no-op */
    /* A run id already used by an earlier run that added entries. */
    assert_int_equal(sm_ledger_begin_run(l, ctx, "run-1", NULL, NULL), SM_OK);
    assert_int_equal(sm_ledger_append(l, ctx, &base[0]), SM_OK);
    assert_int_equal(sm_ledger_commit_run(l, ctx, NULL, NULL), SM_OK);
    assert_int_equal(sm_ledger_begin_run(l, ctx, "run-1", NULL, NULL), SM_OK);
    assert_int_equal(sm_ledger_append(l, ctx, &base[1]), SM_ERR_INPUT);
    assert_non_null(strstr(sm_context_message(ctx), "run id 'run-1' is already used by entry 1"));
    sm_ledger_rollback_run(l);
    /* A run left open is rolled back by close. */
    assert_int_equal(sm_ledger_begin_run(l, ctx, "run-open", NULL, NULL), SM_OK);
    assert_int_equal(sm_ledger_append(l, ctx, &base[1]), SM_OK);
    sm_ledger_close(l);
    assert_int_equal(count_entries(db), 1);

    /* Parcel keys. */
    const char *parts[5] = {"顺庆区", "潆华街道", "青山村", "012", "0034"};
    char *key = NULL;
    assert_int_equal(sm_ledger_parcel_key(ctx, parts, &key), SM_OK);
    assert_string_equal(key, K34);
    free(key);
    parts[3] = "01/2";
    assert_int_equal(sm_ledger_parcel_key(ctx, parts, &key), SM_ERR_INPUT);
    assert_null(key);
    assert_non_null(strstr(sm_context_message(ctx), "LIN_BAN '01/2'"));
    parts[3] = "";
    assert_int_equal(sm_ledger_parcel_key(ctx, parts, &key), SM_ERR_INPUT);
    assert_string_equal(sm_context_message(ctx), "parcel key: LIN_BAN is empty");
    sm_context_destroy(ctx);
}

/* Files that are not ledgers: a missing file, a text file, an empty file, another SQLite database,
 * a ledger of a newer format. Never created or changed; exit 2 naming the path. */
static void test_not_a_ledger(void **state)
{
    (void)state;
    char db[512], err[2048], want[1024];
    sm_context *ctx = sm_context_create();
    sm_ledger *l = NULL;

    tmp_path(db, sizeof db, "missing.db");
    assert_int_equal(sm_ledger_open(&l, ctx, db, 0), SM_ERR_INPUT);
    assert_null(l);
    snprintf(want, sizeof want, "%s: cannot open the ledger: No such file or directory", db);
    assert_string_equal(sm_context_message(ctx), want);
    assert_int_equal(e2e_run(err, sizeof err, "ledger verify '%s'", db), 2);
    assert_non_null(strstr(err, want));
    assert_int_equal(e2e_run(err, sizeof err, "ledger export '%s' -o '%s/x.csv'", db, g_dir), 2);
    assert_non_null(strstr(err, want));
    assert_false(e2e_exists(db));

    tmp_path(db, sizeof db, "notes.txt");
    assert_int_equal(e2e_sh("printf 'parcel,stock\\n1,2\\n' > '%s'", db), 0);
    assert_int_equal(e2e_run(err, sizeof err, "ledger verify '%s'", db), 2);
    snprintf(want, sizeof want, "sinkmap: error: %s: not a sinkmap ledger: not an SQLite database",
             db);
    assert_true(strncmp(err, want, strlen(want)) == 0);
    assert_int_equal(e2e_sh("test \"$(cat '%s')\" = \"$(printf 'parcel,stock\\n1,2')\"", db), 0);
    /* Even with SM_LEDGER_CREATE, an existing non-database is not overwritten. */
    assert_int_equal(sm_ledger_open(&l, ctx, db, SM_LEDGER_CREATE), SM_ERR_INPUT);

    tmp_path(db, sizeof db, "empty.db");
    assert_int_equal(e2e_sh(": > '%s'", db), 0);
    assert_int_equal(e2e_run(err, sizeof err, "ledger export '%s' -o '%s/y.csv'", db, g_dir), 2);
    assert_non_null(strstr(err, "empty.db: not a sinkmap ledger: an empty file"));
    assert_int_equal(e2e_sh("test ! -s '%s'", db), 0);

    tmp_path(db, sizeof db, "other.sqlite");
    sqlite3 *raw = NULL;
    assert_int_equal(sqlite3_open(db, &raw), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(raw, "CREATE TABLE parcels (id INTEGER, stock REAL)", NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(raw);
    assert_int_equal(e2e_run(err, sizeof err, "ledger verify '%s'", db), 2);
    snprintf(want, sizeof want,
             "sinkmap: error: %s: not a sinkmap ledger: an SQLite database of another application "
             "(application_id 0, 1 schema objects)\n",
             db);
    assert_string_equal(err, want);
    assert_int_equal(sm_ledger_open(&l, ctx, db, SM_LEDGER_CREATE), SM_ERR_INPUT);

    /* A ledger written by a newer sinkmap. */
    tmp_path(db, sizeof db, "newer.db");
    sm_ledger_entry e[3];
    base_batch(e);
    assert_int_equal(run_batch(db, "run-1", T1, e, 1, NULL, NULL), SM_OK);
    assert_int_equal(raw_exec(db,
                              "DROP TRIGGER ledger_meta_no_update; UPDATE ledger_meta SET value = "
                              "'2' WHERE key = 'format_version'",
                              NULL, 0),
                     SQLITE_OK);
    assert_int_equal(sm_ledger_open(&l, ctx, db, 0), SM_ERR_INPUT);
    assert_non_null(
        strstr(sm_context_message(ctx), "newer.db: ledger format version '2' is not one sinkmap"));

    /* A folder. */
    assert_int_equal(e2e_run(err, sizeof err, "ledger verify '%s'", g_dir), 2);
    assert_non_null(strstr(err, "not a regular file"));

    /* Usage. */
    assert_int_equal(e2e_run(err, sizeof err, "ledger --help"), 0);
    assert_int_equal(e2e_run(err, sizeof err, "ledger"), 2);
    assert_int_equal(e2e_run(err, sizeof err, "ledger frob '%s'", db), 2);
    assert_non_null(strstr(err, "unknown action 'frob'"));
    assert_int_equal(e2e_run(err, sizeof err, "ledger export '%s'", db), 2);
    assert_non_null(strstr(err, "needs -o"));
    assert_int_equal(e2e_run(err, sizeof err, "ledger verify '%s' --bogus", db), 2);
    sm_context_destroy(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash_by_hand),
        cmocka_unit_test(test_idempotent),
        cmocka_unit_test(test_supersede_and_export),
        cmocka_unit_test(test_triggers),
        cmocka_unit_test(test_tamper),
        cmocka_unit_test(test_tamper_rehashed),
        cmocka_unit_test(test_tamper_delete_and_schema),
        cmocka_unit_test(test_kill_during_write),
        cmocka_unit_test(test_validation),
        cmocka_unit_test(test_not_a_ledger),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
