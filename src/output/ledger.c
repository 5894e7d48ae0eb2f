/* ledger.c: the carbon ledger in SQLite: schema, append-only runs, the SHA-256 chain, verify,
 * export. Entries are written by one IMMEDIATE transaction per run and never changed; verify
 * recomputes each hash from the stored values. Sized for seasonal runs of 1e5 entries: one index
 * seek per append. */
#include "sinkmap/ledger.h"

#include <errno.h>
#include <math.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/util.h"
#include "sinkmap/hash.h"
#include "sinkmap/table.h"

#define LEDGER_APPID 0x736d6c67 /* "smlg" */
#define LEDGER_FORMAT "sinkmap-ledger"
#define LEDGER_FORMAT_VERSION "1"
#define ZERO_HASH "0000000000000000000000000000000000000000000000000000000000000000"
#define SERIAL_MAGIC "sinkmap ledger entry v1\n"
#define BUSY_TIMEOUT_MS 10000

/* ---- Schema ------------------------------------------------------------------------------------
 * The exact text of every object: sm_ledger_verify() and sm_ledger_begin_run() compare the file's
 * sqlite_schema with it, so a dropped or rewritten trigger is reported. Never edit a statement of
 * a released format: add a format version instead. */
typedef struct schema_object {
    const char *type;
    const char *name;
    const char *sql;
} schema_object;

static const schema_object SCHEMA[] = {
    {"table", "ledger_meta",
     "CREATE TABLE ledger_meta (\n"
     "  key TEXT PRIMARY KEY NOT NULL,\n"
     "  value TEXT NOT NULL\n"
     ") STRICT"},
    {"table", "ledger_entries",
     "CREATE TABLE ledger_entries (\n"
     "  id INTEGER PRIMARY KEY,\n"
     "  parcel_key TEXT NOT NULL,\n"
     "  period_start TEXT NOT NULL,\n"
     "  period_end TEXT NOT NULL,\n"
     "  pool TEXT NOT NULL,\n"
     "  stock_start_tc REAL NOT NULL,\n"
     "  stock_end_tc REAL NOT NULL,\n"
     "  sink_tco2e REAL NOT NULL,\n"
     "  sink_lo95 REAL,\n"
     "  sink_hi95 REAL,\n"
     "  method TEXT NOT NULL,\n"
     "  params_sha256 TEXT NOT NULL,\n"
     "  inputs_sha256 TEXT NOT NULL,\n"
     "  run_id TEXT NOT NULL,\n"
     "  tool_version TEXT NOT NULL,\n"
     "  time_utc TEXT NOT NULL,\n"
     "  supersedes INTEGER REFERENCES ledger_entries (id),\n"
     "  prev_hash TEXT NOT NULL,\n"
     "  entry_hash TEXT NOT NULL\n"
     ") STRICT"},
    {"index", "ledger_entries_key",
     "CREATE INDEX ledger_entries_key ON ledger_entries (parcel_key, period_start, period_end, "
     "pool, id)"},
    {"index", "ledger_entries_run", "CREATE INDEX ledger_entries_run ON ledger_entries (run_id)"},
    {"trigger", "ledger_meta_no_update",
     "CREATE TRIGGER ledger_meta_no_update BEFORE UPDATE ON ledger_meta BEGIN "
     "SELECT RAISE(ABORT, 'sinkmap ledger: ledger_meta is append-only: UPDATE refused'); END"},
    {"trigger", "ledger_meta_no_delete",
     "CREATE TRIGGER ledger_meta_no_delete BEFORE DELETE ON ledger_meta BEGIN "
     "SELECT RAISE(ABORT, 'sinkmap ledger: ledger_meta is append-only: DELETE refused'); END"},
    {"trigger", "ledger_entries_no_update",
     "CREATE TRIGGER ledger_entries_no_update BEFORE UPDATE ON ledger_entries BEGIN "
     "SELECT RAISE(ABORT, 'sinkmap ledger: entries are append-only: UPDATE refused'); END"},
    {"trigger", "ledger_entries_no_delete",
     "CREATE TRIGGER ledger_entries_no_delete BEFORE DELETE ON ledger_entries BEGIN "
     "SELECT RAISE(ABORT, 'sinkmap ledger: entries are append-only: DELETE refused'); END"},
    {"trigger", "ledger_entries_chain",
     "CREATE TRIGGER ledger_entries_chain BEFORE INSERT ON ledger_entries "
     "WHEN NEW.id IS NOT (SELECT coalesce(max(id), 0) + 1 FROM ledger_entries) "
     "OR NEW.prev_hash IS NOT coalesce((SELECT entry_hash FROM ledger_entries "
     "ORDER BY id DESC LIMIT 1), '" ZERO_HASH "') BEGIN "
     "SELECT RAISE(ABORT, 'sinkmap ledger: an entry must extend the chain "
     "(id = last id + 1, prev_hash = last entry_hash)'); END"},
};
#define NSCHEMA (sizeof SCHEMA / sizeof SCHEMA[0])

/* The columns read back, in the order of the canonical serialization (then entry_hash). */
#define ENTRY_COLUMNS                                                                              \
    "e.id, e.parcel_key, e.period_start, e.period_end, e.pool, e.stock_start_tc, e.stock_end_tc, " \
    "e.sink_tco2e, e.sink_lo95, e.sink_hi95, e.method, e.params_sha256, e.inputs_sha256, "         \
    "e.run_id, e.tool_version, e.time_utc, e.supersedes, e.prev_hash, e.entry_hash"
enum {
    C_ID,
    C_PARCEL,
    C_START,
    C_END,
    C_POOL,
    C_STOCK0,
    C_STOCK1,
    C_SINK,
    C_LO,
    C_HI,
    C_METHOD,
    C_PARAMS,
    C_INPUTS,
    C_RUN,
    C_TOOL,
    C_TIME,
    C_SUPERSEDES,
    C_PREV,
    C_HASH,
    C_NCOLS
};
/* The current entry of a key: the highest id of its parcel × period × pool. */
#define IS_CURRENT                                                                                 \
    "e.id = (SELECT max(p.id) FROM ledger_entries p WHERE p.parcel_key = e.parcel_key AND "        \
    "p.period_start = e.period_start AND p.period_end = e.period_end AND p.pool = e.pool)"

struct sm_ledger {
    sqlite3 *db;
    char *path;
    /* The open run (in_run = 1 between begin_run and commit_run or rollback_run). */
    int in_run;
    sm_status run_status; /* the status of the first failed append; SM_OK while none failed */
    char *run_id, *tool_version;
    char time_utc[32];
    long long base_id;  /* the last id before the run */
    long long last_id;  /* the last id including this run's entries */
    char last_hash[65]; /* its entry_hash (ZERO_HASH when the ledger is empty) */
    size_t added, superseded;
    sqlite3_stmt *st_key, *st_current, *st_insert;
};

/* One entry with every hashed field; the text points into the caller's or SQLite's buffers. */
typedef struct entry_row {
    long long id;
    sm_ledger_entry e;
    const char *run_id, *tool_version, *time_utc;
    long long supersedes; /* 0: none */
    const char *prev_hash;
} entry_row;

/* ---- Small checks ---------------------------------------------------------------------------- */

static const char *or_q(const char *s) { return s ? s : "?"; }

/* 1 if s is valid UTF-8 (no overlong forms, surrogates or code points above U+10FFFF) without
 * C0 control characters or DEL. */
static int clean_utf8(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned c = *p;
        if (c < 0x80) {
            if (c < 0x20 || c == 0x7f)
                return 0;
            p++;
            continue;
        }
        int n;
        unsigned cp, min;
        if (c >= 0xc2 && c <= 0xdf) {
            n = 1, cp = c & 0x1f, min = 0x80;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2, cp = c & 0x0f, min = 0x800;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return 0;
        }
        for (int i = 1; i <= n; i++) {
            if ((p[i] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (p[i] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        p += n + 1;
    }
    return 1;
}

static int is_digits(const char *s, int n)
{
    for (int i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

static int num(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++)
        v = v * 10 + (s[i] - '0');
    return v;
}

/* 1 if s begins with a real calendar date YYYY-MM-DD (year 0001 to 9999). */
static int date_prefix(const char *s)
{
    static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (strlen(s) < 10 || !is_digits(s, 4) || s[4] != '-' || !is_digits(s + 5, 2) || s[7] != '-' ||
        !is_digits(s + 8, 2))
        return 0;
    int y = num(s, 4), m = num(s + 5, 2), d = num(s + 8, 2);
    if (y < 1 || m < 1 || m > 12 || d < 1)
        return 0;
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return d <= mdays[m - 1] + (m == 2 && leap);
}

static int is_date(const char *s) { return s && strlen(s) == 10 && date_prefix(s); }

/* YYYY-MM-DDTHH:MM:SSZ */
static int is_time_utc(const char *s)
{
    if (!s || strlen(s) != 20 || !date_prefix(s) || s[10] != 'T' || !is_digits(s + 11, 2) ||
        s[13] != ':' || !is_digits(s + 14, 2) || s[16] != ':' || !is_digits(s + 17, 2) ||
        s[19] != 'Z')
        return 0;
    return num(s + 11, 2) < 24 && num(s + 14, 2) < 60 && num(s + 17, 2) <= 60;
}

static int is_sha256_hex(const char *s)
{
    if (!s || strlen(s) != 64)
        return 0;
    for (const char *p = s; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return 0;
    return 1;
}

static int is_pool(const char *s)
{
    if (!s || !s[0] || strlen(s) > 64)
        return 0;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '-' ||
              *p == '.'))
            return 0;
    return 1;
}

/* Checks a text field: present, non-empty, clean UTF-8. */
static sm_status check_text(sm_context *ctx, const char *where, const char *field, const char *v)
{
    if (!v || !v[0])
        return sm_error(ctx, SM_ERR_INPUT, "%s: %s is missing", where, field);
    if (!clean_utf8(v))
        return sm_error(ctx, SM_ERR_INPUT,
                        "%s: %s is not valid UTF-8 text without control characters", where, field);
    return SM_OK;
}

/* Checks an entry's content; `where` names the ledger and the entry in messages. */
static sm_status check_entry(sm_context *ctx, const char *where, const sm_ledger_entry *e)
{
    sm_status st;
    char a[32], b[32], c[32];
    if ((st = check_text(ctx, where, "parcel_key", e->parcel_key)))
        return st;
    if (!is_date(e->period_start))
        return sm_error(ctx, SM_ERR_INPUT, "%s: period_start '%s' is not a date YYYY-MM-DD", where,
                        or_q(e->period_start));
    if (!is_date(e->period_end))
        return sm_error(ctx, SM_ERR_INPUT, "%s: period_end '%s' is not a date YYYY-MM-DD", where,
                        or_q(e->period_end));
    if (strcmp(e->period_start, e->period_end) >= 0)
        return sm_error(ctx, SM_ERR_INPUT, "%s: the period ends (%s) before it starts (%s)", where,
                        e->period_end, e->period_start);
    if (!is_pool(e->pool))
        return sm_error(ctx, SM_ERR_INPUT,
                        "%s: pool '%s' is not a pool name (lower-case ASCII letters, digits, '_', "
                        "'-', '.')",
                        where, or_q(e->pool));
    const double v[3] = {e->stock_start_tc, e->stock_end_tc, e->sink_tco2e};
    static const char *const names[3] = {"stock_start_tc", "stock_end_tc", "sink_tco2e"};
    for (int i = 0; i < 3; i++) {
        sm_format_double(v[i], a, sizeof a);
        if (!isfinite(v[i]))
            return sm_error(ctx, SM_ERR_INPUT, "%s: %s is %s (a finite number is required)", where,
                            names[i], a);
        if (i < 2 && v[i] < 0)
            return sm_error(ctx, SM_ERR_INPUT, "%s: %s is %s t C (a stock cannot be negative)",
                            where, names[i], a);
    }
    sm_format_double(e->sink_lo95, a, sizeof a);
    sm_format_double(e->sink_hi95, b, sizeof b);
    sm_format_double(e->sink_tco2e, c, sizeof c);
    if (isnan(e->sink_lo95) != isnan(e->sink_hi95) || isinf(e->sink_lo95) || isinf(e->sink_hi95))
        return sm_error(ctx, SM_ERR_INPUT,
                        "%s: the 95%% interval [%s, %s] must be two finite numbers, or both NaN "
                        "when unknown",
                        where, a, b);
    if (!isnan(e->sink_lo95) && e->sink_lo95 > e->sink_hi95)
        return sm_error(ctx, SM_ERR_INPUT, "%s: the 95%% interval [%s, %s] has lo > hi", where, a,
                        b);
    if ((st = check_text(ctx, where, "method", e->method)))
        return st;
    if (!is_sha256_hex(e->params_sha256))
        return sm_error(ctx, SM_ERR_INPUT, "%s: params_sha256 '%s' is not 64 lower-case hex digits",
                        where, or_q(e->params_sha256));
    if (!is_sha256_hex(e->inputs_sha256))
        return sm_error(ctx, SM_ERR_INPUT, "%s: inputs_sha256 '%s' is not 64 lower-case hex digits",
                        where, or_q(e->inputs_sha256));
    return SM_OK;
}

static sm_status check_run_fields(sm_context *ctx, const char *where, const char *run_id,
                                  const char *tool_version, const char *time_utc)
{
    sm_status st;
    if ((st = check_text(ctx, where, "run_id", run_id)))
        return st;
    if ((st = check_text(ctx, where, "tool_version", tool_version)))
        return st;
    if (!is_time_utc(time_utc))
        return sm_error(ctx, SM_ERR_INPUT,
                        "%s: time_utc '%s' is not a UTC time YYYY-MM-DDTHH:MM:SSZ", where,
                        or_q(time_utc));
    return SM_OK;
}

/* "-0" and "0" are one stored value: SQLite keeps integral reals as integers. */
static double canon_zero(double v) { return v == 0 ? 0.0 : v; }

/* ---- The canonical serialization and its hash ------------------------------------------------ */

static void put_field(sm_sha256_state *s, const char *name, const char *value)
{
    char len[32];
    size_t n = value ? strlen(value) : 0;
    int k = snprintf(len, sizeof len, "=%zu:", n);
    sm_sha256_update(s, name, strlen(name));
    sm_sha256_update(s, len, (size_t)k);
    sm_sha256_update(s, value, n);
    sm_sha256_update(s, "\n", 1);
}

static void put_number(sm_sha256_state *s, const char *name, double v)
{
    char buf[40] = "";
    if (!isnan(v))
        sm_format_double(canon_zero(v), buf, sizeof buf);
    put_field(s, name, buf);
}

static void put_id(sm_sha256_state *s, const char *name, long long id)
{
    char buf[32] = "";
    if (id > 0)
        snprintf(buf, sizeof buf, "%lld", id);
    put_field(s, name, buf);
}

/* The entry_hash of r as 64 lower-case hex digits (see ledger.h for the byte layout). */
static void row_hash(const entry_row *r, char hex[65])
{
    sm_sha256_state s;
    uint8_t digest[32];
    sm_sha256_init(&s);
    sm_sha256_update(&s, SERIAL_MAGIC, strlen(SERIAL_MAGIC));
    put_id(&s, "id", r->id);
    put_field(&s, "parcel_key", r->e.parcel_key);
    put_field(&s, "period_start", r->e.period_start);
    put_field(&s, "period_end", r->e.period_end);
    put_field(&s, "pool", r->e.pool);
    put_number(&s, "stock_start_tc", r->e.stock_start_tc);
    put_number(&s, "stock_end_tc", r->e.stock_end_tc);
    put_number(&s, "sink_tco2e", r->e.sink_tco2e);
    put_number(&s, "sink_lo95", r->e.sink_lo95);
    put_number(&s, "sink_hi95", r->e.sink_hi95);
    put_field(&s, "method", r->e.method);
    put_field(&s, "params_sha256", r->e.params_sha256);
    put_field(&s, "inputs_sha256", r->e.inputs_sha256);
    put_field(&s, "run_id", r->run_id);
    put_field(&s, "tool_version", r->tool_version);
    put_field(&s, "time_utc", r->time_utc);
    put_id(&s, "supersedes", r->supersedes);
    put_field(&s, "prev_hash", r->prev_hash);
    sm_sha256_final(&s, digest);
    sm_hex(digest, sizeof digest, hex);
}

/* ---- SQLite helpers -------------------------------------------------------------------------- */

static sm_status status_of(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_NOMEM:
        return SM_ERR_NOMEM;
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT:
        return SM_ERR_INPUT;
    case SQLITE_ERROR:
    case SQLITE_MISUSE:
    case SQLITE_RANGE:
    case SQLITE_CONSTRAINT:
    case SQLITE_INTERNAL:
        return SM_ERR_INTERNAL;
    default: /* I/O, full disk, busy, locked, read-only, permissions */
        return SM_ERR_IO;
    }
}

/* Records the connection's last SQLite error: "PATH: WHAT: SQLITE MESSAGE". */
static sm_status db_fail(sm_ledger *l, sm_context *ctx, int rc, const char *what)
{
    const char *msg = l->db ? sqlite3_errmsg(l->db) : sqlite3_errstr(rc);
    if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED)
        return sm_error(ctx, SM_ERR_IO, "%s: %s: the ledger is locked by another process (%s)",
                        l->path, what, msg);
    return sm_error(ctx, status_of(rc), "%s: %s: %s", l->path, what, msg);
}

static int exec(sqlite3 *db, const char *sql) { return sqlite3_exec(db, sql, NULL, NULL, NULL); }

/* Runs a query whose first row's first column is an integer (0 when there is no row). */
static int query_int(sqlite3 *db, const char *sql, long long *out)
{
    sqlite3_stmt *st = NULL;
    *out = 0;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            *out = sqlite3_column_int64(st, 0);
            rc = SQLITE_OK;
        } else if (rc == SQLITE_DONE) {
            rc = SQLITE_OK;
        }
    }
    sqlite3_finalize(st);
    return rc;
}

static const char *col_text(sqlite3_stmt *st, int col)
{
    return (const char *)sqlite3_column_text(st, col);
}

static void utc_now(char buf[32])
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ---- Opening --------------------------------------------------------------------------------- */

/* Compares the file's schema with SCHEMA. Sets *issue to NULL when they agree, else to a
 * malloc'd description of the first difference. */
static sm_status check_schema(sm_ledger *l, sm_context *ctx, char **issue)
{
    sqlite3_stmt *st = NULL;
    int found[NSCHEMA] = {0};
    sm_status status = SM_OK;
    *issue = NULL;
    int rc = sqlite3_prepare_v2(l->db, "SELECT type, name, sql FROM sqlite_schema ORDER BY rowid",
                                -1, &st, NULL);
    if (rc != SQLITE_OK) {
        status = db_fail(l, ctx, rc, "reading the schema");
        goto end;
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *type = col_text(st, 0), *name = col_text(st, 1), *sql = col_text(st, 2);
        if (!type || !name)
            continue;
        /* Objects SQLite makes itself: the index of a TEXT PRIMARY KEY, ANALYZE statistics. */
        if (strncmp(name, "sqlite_autoindex_", 17) == 0 || strncmp(name, "sqlite_stat", 11) == 0)
            continue;
        size_t i = 0;
        while (i < NSCHEMA && strcmp(SCHEMA[i].name, name) != 0)
            i++;
        if (i == NSCHEMA)
            *issue = sm__asprintf(ctx, "the schema holds an unexpected %s '%s'", type, name);
        else if (strcmp(SCHEMA[i].type, type) != 0 || !sql || strcmp(SCHEMA[i].sql, sql) != 0)
            *issue =
                sm__asprintf(ctx, "%s '%s' is not the one sinkmap writes (altered)", type, name);
        else
            found[i] = 1;
        if (*issue)
            goto end;
    }
    if (rc != SQLITE_DONE) {
        status = db_fail(l, ctx, rc, "reading the schema");
        goto end;
    }
    for (size_t i = 0; i < NSCHEMA; i++)
        if (!found[i]) {
            *issue = sm__asprintf(ctx, "%s '%s' is missing from the schema (removed)",
                                  SCHEMA[i].type, SCHEMA[i].name);
            goto end;
        }
end:
    sqlite3_finalize(st);
    if (status == SM_OK && *issue == NULL && sm_context_status(ctx) == SM_ERR_NOMEM)
        status = SM_ERR_NOMEM;
    return status;
}

static sm_status identify(sm_ledger *l, sm_context *ctx, unsigned flags);

/* The first read of a file that is not a database fails here. */
static sm_status open_fail(sm_ledger *l, sm_context *ctx, int rc)
{
    if ((rc & 0xff) == SQLITE_NOTADB || (rc & 0xff) == SQLITE_CORRUPT)
        return sm_error(ctx, SM_ERR_INPUT, "%s: not a sinkmap ledger: not an SQLite database (%s)",
                        l->path, sqlite3_errmsg(l->db));
    return db_fail(l, ctx, rc, "opening the ledger");
}

/* Writes the schema into an empty database, under the write lock. */
static sm_status create_schema(sm_ledger *l, sm_context *ctx)
{
    sm_status st = SM_OK;
    sqlite3_stmt *ins = NULL;
    long long appid = 0, nobj = 0;
    char now[32];
    int rc = exec(l->db, "BEGIN IMMEDIATE");
    if (rc != SQLITE_OK)
        return db_fail(l, ctx, rc, "creating the ledger");
    if ((rc = query_int(l->db, "PRAGMA application_id", &appid)) != SQLITE_OK ||
        (rc = query_int(l->db, "SELECT count(*) FROM sqlite_schema", &nobj)) != SQLITE_OK) {
        st = db_fail(l, ctx, rc, "creating the ledger");
        goto end;
    }
    if (appid != 0 || nobj != 0) {
        /* Another process created it while we waited for the lock. */
        exec(l->db, "ROLLBACK");
        return identify(l, ctx, 0);
    }
    for (size_t i = 0; i < NSCHEMA; i++)
        if ((rc = exec(l->db, SCHEMA[i].sql)) != SQLITE_OK) {
            st = db_fail(l, ctx, rc, "creating the ledger's schema");
            goto end;
        }
    char pragma[96];
    snprintf(pragma, sizeof pragma, "PRAGMA application_id = %d", LEDGER_APPID);
    if ((rc = exec(l->db, pragma)) != SQLITE_OK ||
        (rc = exec(l->db, "PRAGMA user_version = " LEDGER_FORMAT_VERSION)) != SQLITE_OK ||
        (rc = sqlite3_prepare_v2(l->db, "INSERT INTO ledger_meta (key, value) VALUES (?1, ?2)", -1,
                                 &ins, NULL)) != SQLITE_OK) {
        st = db_fail(l, ctx, rc, "creating the ledger");
        goto end;
    }
    utc_now(now);
    const char *meta[4][2] = {{"format", LEDGER_FORMAT},
                              {"format_version", LEDGER_FORMAT_VERSION},
                              {"created_utc", now},
                              {"created_by", "sinkmap " SINKMAP_VERSION}};
    for (int i = 0; i < 4; i++) {
        sqlite3_bind_text(ins, 1, meta[i][0], -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 2, meta[i][1], -1, SQLITE_STATIC);
        if ((rc = sqlite3_step(ins)) != SQLITE_DONE) {
            st = db_fail(l, ctx, rc, "creating the ledger");
            goto end;
        }
        sqlite3_reset(ins);
    }
    sqlite3_finalize(ins);
    ins = NULL;
    if ((rc = exec(l->db, "COMMIT")) != SQLITE_OK)
        st = db_fail(l, ctx, rc, "creating the ledger");
end:
    sqlite3_finalize(ins);
    if (st != SM_OK)
        exec(l->db, "ROLLBACK");
    return st;
}

/* Decides whether the open file is a ledger (or an empty database to make one of). */
static sm_status identify(sm_ledger *l, sm_context *ctx, unsigned flags)
{
    long long appid = 0, nobj = 0;
    sqlite3_stmt *st = NULL;
    sm_status status = SM_OK;
    char format[64] = "", version[64] = "";
    int rc = query_int(l->db, "PRAGMA application_id", &appid);
    if (rc == SQLITE_OK)
        rc = query_int(l->db, "SELECT count(*) FROM sqlite_schema", &nobj);
    if (rc != SQLITE_OK)
        return open_fail(l, ctx, rc);
    if (appid == 0 && nobj == 0) {
        if (flags & SM_LEDGER_CREATE)
            return create_schema(l, ctx);
        return sm_error(ctx, SM_ERR_INPUT,
                        "%s: not a sinkmap ledger: an empty file (ledgers are created by sinkmap "
                        "run, not by reading them)",
                        l->path);
    }
    if (appid != LEDGER_APPID)
        return sm_error(ctx, SM_ERR_INPUT,
                        "%s: not a sinkmap ledger: an SQLite database of another application "
                        "(application_id %lld, %lld schema objects)",
                        l->path, appid, nobj);
    rc = sqlite3_prepare_v2(l->db, "SELECT key, value FROM ledger_meta", -1, &st, NULL);
    if (rc != SQLITE_OK) {
        status = sm_error(ctx, SM_ERR_INPUT, "%s: not a sinkmap ledger: %s", l->path,
                          sqlite3_errmsg(l->db));
        goto end;
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *k = col_text(st, 0), *v = col_text(st, 1);
        if (k && v && strcmp(k, "format") == 0)
            snprintf(format, sizeof format, "%s", v);
        else if (k && v && strcmp(k, "format_version") == 0)
            snprintf(version, sizeof version, "%s", v);
    }
    if (rc != SQLITE_DONE) {
        status = db_fail(l, ctx, rc, "reading ledger_meta");
        goto end;
    }
    if (strcmp(format, LEDGER_FORMAT) != 0)
        status = sm_error(
            ctx, SM_ERR_INPUT,
            "%s: not a sinkmap ledger: ledger_meta format is '%s', not '" LEDGER_FORMAT "'",
            l->path, format);
    else if (strcmp(version, LEDGER_FORMAT_VERSION) != 0)
        status = sm_error(ctx, SM_ERR_INPUT,
                          "%s: ledger format version '%s' is not one sinkmap %s reads (it reads "
                          "version " LEDGER_FORMAT_VERSION ")",
                          l->path, version, SINKMAP_VERSION);
end:
    sqlite3_finalize(st);
    return status;
}

sm_status sm_ledger_open(sm_ledger **out, sm_context *ctx, const char *path, unsigned flags)
{
    sm_status st = SM_OK;
    sm_ledger *l = NULL;
    struct stat sb;
    *out = NULL;
    if (!path || !path[0])
        return sm_error(ctx, SM_ERR_INPUT, "ledger: no file given");
    if (stat(path, &sb) != 0) {
        int err = errno;
        if (err != ENOENT || !(flags & SM_LEDGER_CREATE))
            return sm_error(ctx, SM_ERR_INPUT, "%s: cannot open the ledger: %s", path,
                            strerror(err));
    } else if (!S_ISREG(sb.st_mode)) {
        return sm_error(ctx, SM_ERR_INPUT, "%s: not a sinkmap ledger: not a regular file", path);
    }
    l = sm_calloc(ctx, 1, sizeof *l);
    if (!l)
        return SM_ERR_NOMEM;
    if (!(l->path = sm__strdup(ctx, path))) {
        st = SM_ERR_NOMEM;
        goto end;
    }
    int oflags = SQLITE_OPEN_READWRITE | ((flags & SM_LEDGER_CREATE) ? SQLITE_OPEN_CREATE : 0);
    int rc = sqlite3_open_v2(path, &l->db, oflags, NULL);
    if (rc != SQLITE_OK) {
        st = sm_error(ctx, SM_ERR_INPUT, "%s: cannot open the ledger: %s", path,
                      l->db ? sqlite3_errmsg(l->db) : sqlite3_errstr(rc));
        goto end;
    }
    sqlite3_extended_result_codes(l->db, 1);
    sqlite3_busy_timeout(l->db, BUSY_TIMEOUT_MS);
    /* No writable_schema and no other schema-corrupting tricks through this connection. */
    sqlite3_db_config(l->db, SQLITE_DBCONFIG_DEFENSIVE, 1, (int *)NULL);
    if ((rc = exec(l->db, "PRAGMA synchronous = FULL")) != SQLITE_OK ||
        (rc = exec(l->db, "PRAGMA foreign_keys = ON")) != SQLITE_OK) {
        st = open_fail(l, ctx, rc);
        goto end;
    }
    if ((st = identify(l, ctx, flags)) != SM_OK)
        goto end;
    /* This connection's own record of the keys appended in the open run (never in the file). */
    rc = exec(l->db, "CREATE TEMP TABLE run_keys (parcel_key TEXT NOT NULL, period_start TEXT NOT "
                     "NULL, period_end TEXT NOT NULL, pool TEXT NOT NULL, PRIMARY KEY (parcel_key, "
                     "period_start, period_end, pool))");
    if (rc != SQLITE_OK)
        st = db_fail(l, ctx, rc, "opening the ledger");
end:
    if (st != SM_OK) {
        sm_ledger_close(l);
        l = NULL;
    }
    *out = l;
    return st;
}

static void end_run(sm_ledger *l)
{
    sqlite3_finalize(l->st_key);
    sqlite3_finalize(l->st_current);
    sqlite3_finalize(l->st_insert);
    l->st_key = l->st_current = l->st_insert = NULL;
    free(l->run_id);
    free(l->tool_version);
    l->run_id = l->tool_version = NULL;
    l->in_run = 0;
    l->run_status = SM_OK;
}

void sm_ledger_rollback_run(sm_ledger *l)
{
    if (!l || !l->in_run)
        return;
    end_run(l);
    exec(l->db, "ROLLBACK");
}

void sm_ledger_close(sm_ledger *l)
{
    if (!l)
        return;
    sm_ledger_rollback_run(l);
    sqlite3_close(l->db);
    free(l->path);
    free(l);
}

const char *sm_ledger_path(const sm_ledger *l) { return l ? l->path : ""; }

sm_status sm_ledger_parcel_key(sm_context *ctx, const char *const parts[5], char **out)
{
    static const char *const names[5] = {"XIAN", "XIANG", "CUN", "LIN_BAN", "XIAO_BAN"};
    size_t n = 0;
    *out = NULL;
    for (int i = 0; i < 5; i++) {
        if (!parts[i] || !parts[i][0])
            return sm_error(ctx, SM_ERR_INPUT, "parcel key: %s is empty", names[i]);
        if (!clean_utf8(parts[i]) || strchr(parts[i], '/'))
            return sm_error(ctx, SM_ERR_INPUT,
                            "parcel key: %s '%s' holds a '/' or is not clean UTF-8 text", names[i],
                            parts[i]);
        n += strlen(parts[i]) + 1;
    }
    char *key = sm_malloc(ctx, n);
    if (!key)
        return SM_ERR_NOMEM;
    snprintf(key, n, "%s/%s/%s/%s/%s", parts[0], parts[1], parts[2], parts[3], parts[4]);
    *out = key;
    return SM_OK;
}

/* ---- Verifying ------------------------------------------------------------------------------- */

/* Reads a row of ENTRY_COLUMNS into r (text pointing into st). Returns NULL when the stored types
 * are right, else the name of the first column whose type is wrong. */
static const char *read_row(sqlite3_stmt *st, entry_row *r)
{
    static const char *const names[C_NCOLS] = {"id",
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
                                               "prev_hash",
                                               "entry_hash"};
    for (int c = 0; c < C_NCOLS; c++) {
        int t = sqlite3_column_type(st, c), ok;
        switch (c) {
        case C_ID:
            ok = t == SQLITE_INTEGER;
            break;
        case C_SUPERSEDES:
            ok = t == SQLITE_INTEGER || t == SQLITE_NULL;
            break;
        case C_STOCK0:
        case C_STOCK1:
        case C_SINK:
            ok = t == SQLITE_FLOAT || t == SQLITE_INTEGER;
            break;
        case C_LO:
        case C_HI:
            ok = t == SQLITE_FLOAT || t == SQLITE_INTEGER || t == SQLITE_NULL;
            break;
        default:
            ok = t == SQLITE_TEXT;
        }
        if (!ok)
            return names[c];
    }
    memset(r, 0, sizeof *r);
    r->id = sqlite3_column_int64(st, C_ID);
    r->e.parcel_key = col_text(st, C_PARCEL);
    r->e.period_start = col_text(st, C_START);
    r->e.period_end = col_text(st, C_END);
    r->e.pool = col_text(st, C_POOL);
    r->e.stock_start_tc = sqlite3_column_double(st, C_STOCK0);
    r->e.stock_end_tc = sqlite3_column_double(st, C_STOCK1);
    r->e.sink_tco2e = sqlite3_column_double(st, C_SINK);
    r->e.sink_lo95 =
        sqlite3_column_type(st, C_LO) == SQLITE_NULL ? NAN : sqlite3_column_double(st, C_LO);
    r->e.sink_hi95 =
        sqlite3_column_type(st, C_HI) == SQLITE_NULL ? NAN : sqlite3_column_double(st, C_HI);
    r->e.method = col_text(st, C_METHOD);
    r->e.params_sha256 = col_text(st, C_PARAMS);
    r->e.inputs_sha256 = col_text(st, C_INPUTS);
    r->run_id = col_text(st, C_RUN);
    r->tool_version = col_text(st, C_TOOL);
    r->time_utc = col_text(st, C_TIME);
    r->supersedes = sqlite3_column_type(st, C_SUPERSEDES) == SQLITE_NULL
                        ? 0
                        : sqlite3_column_int64(st, C_SUPERSEDES);
    r->prev_hash = col_text(st, C_PREV);
    return NULL;
}

/* Walks the chain inside the caller's transaction. */
static sm_status verify_chain(sm_ledger *l, sm_context *ctx, size_t *nentries, long long *head_id,
                              char head_hash[65])
{
    sqlite3_stmt *st = NULL;
    sm_status status = SM_OK;
    char prev[65] = ZERO_HASH, hash[65], where[1024];
    long long prev_id = 0, total = 0;
    size_t n = 0;
    char *issue = NULL;
    int rc = query_int(l->db, "SELECT count(*) FROM ledger_entries", &total);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(l->db,
                                "SELECT " ENTRY_COLUMNS ", (SELECT max(p.id) FROM ledger_entries p "
                                "WHERE p.parcel_key = e.parcel_key AND p.period_start = "
                                "e.period_start AND p.period_end = e.period_end AND p.pool = "
                                "e.pool AND p.id < e.id) FROM ledger_entries e ORDER BY e.id",
                                -1, &st, NULL);
    if (rc != SQLITE_OK) {
        /* The entries table is not the one sinkmap writes: say how the schema differs. */
        char *msg = sm__strdup(ctx, sqlite3_errmsg(l->db));
        if ((status = check_schema(l, ctx, &issue)) == SM_OK)
            status = issue ? sm_error(ctx, SM_ERR_INPUT, "%s: cannot read the entries: %s (%s)",
                                      l->path, issue, or_q(msg))
                           : sm_error(ctx, status_of(rc), "%s: reading the entries: %s", l->path,
                                      or_q(msg));
        free(msg);
        goto end;
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        entry_row r;
        const char *badcol = read_row(st, &r);
        long long id = sqlite3_column_int64(st, C_ID);
        snprintf(where, sizeof where, "%s: entry %lld (parcel %s, period %s/%s, pool %s)", l->path,
                 id, or_q(col_text(st, C_PARCEL)), or_q(col_text(st, C_START)),
                 or_q(col_text(st, C_END)), or_q(col_text(st, C_POOL)));
        if (badcol) {
            status = sm_error(ctx, SM_ERR_INPUT, "%s: column %s holds a value of the wrong type",
                              where, badcol);
            goto end;
        }
        const char *stored = col_text(st, C_HASH);
        if (id != prev_id + 1) {
            status = sm_error(ctx, SM_ERR_INPUT,
                              "%s: id sequence broken: the entry before it is %lld (entries "
                              "removed or inserted)",
                              where, prev_id);
            goto end;
        }
        if (strcmp(r.prev_hash, prev) != 0) {
            status = sm_error(ctx, SM_ERR_INPUT,
                              "%s: prev_hash mismatch: it links to %s but entry %lld has hash %s",
                              where, r.prev_hash, prev_id, prev);
            goto end;
        }
        row_hash(&r, hash);
        if (strcmp(hash, stored) != 0) {
            status = sm_error(ctx, SM_ERR_INPUT,
                              "%s: hash mismatch: stored %s, recomputed from its fields %s (the "
                              "entry was altered)",
                              where, stored, hash);
            goto end;
        }
        long long expect =
            sqlite3_column_type(st, C_NCOLS) == SQLITE_NULL ? 0 : sqlite3_column_int64(st, C_NCOLS);
        if (r.supersedes != expect) {
            status = sm_error(ctx, SM_ERR_INPUT,
                              "%s: supersedes %lld, but the previous entry of this parcel, period "
                              "and pool is %lld (0: none)",
                              where, r.supersedes, expect);
            goto end;
        }
        if ((status = check_entry(ctx, where, &r.e)) != SM_OK ||
            (status = check_run_fields(ctx, where, r.run_id, r.tool_version, r.time_utc)) != SM_OK)
            goto end;
        memcpy(prev, stored, 65);
        prev_id = id;
        n++;
        if (n % 4096 == 0 && total > 0 &&
            (status = sm_progress(ctx, (double)n / (double)total, "verifying the ledger")))
            goto end;
    }
    if (rc != SQLITE_DONE) {
        status = db_fail(l, ctx, rc, "reading the entries");
        goto end;
    }
    if ((status = check_schema(l, ctx, &issue)) != SM_OK)
        goto end;
    if (issue) {
        status = sm_error(ctx, SM_ERR_INPUT,
                          "%s: the chain of %zu entries is intact, but %s: the append-only guard "
                          "was tampered with",
                          l->path, n, issue);
        goto end;
    }
    if (nentries)
        *nentries = n;
    if (head_id)
        *head_id = prev_id;
    if (head_hash)
        memcpy(head_hash, prev_id ? prev : "", prev_id ? 65 : 1);
    if (total > 0)
        status = sm_progress(ctx, 1.0, "verifying the ledger");
end:
    sqlite3_finalize(st);
    free(issue);
    return status;
}

/* Begins a read transaction unless a run holds the write one; returns 1 when one was begun. */
static sm_status begin_read(sm_ledger *l, sm_context *ctx, int *began)
{
    *began = 0;
    if (l->in_run)
        return SM_OK;
    int rc = exec(l->db, "BEGIN");
    if (rc != SQLITE_OK)
        return db_fail(l, ctx, rc, "reading the ledger");
    *began = 1;
    return SM_OK;
}

sm_status sm_ledger_verify(sm_ledger *l, sm_context *ctx, size_t *nentries)
{
    int began;
    sm_status st = begin_read(l, ctx, &began);
    if (st == SM_OK)
        st = verify_chain(l, ctx, nentries, NULL, NULL);
    if (began)
        exec(l->db, "ROLLBACK");
    return st;
}

sm_status sm_ledger_head(sm_ledger *l, sm_context *ctx, long long *id, char hash[65])
{
    sqlite3_stmt *st = NULL;
    sm_status status = SM_OK;
    *id = 0;
    hash[0] = '\0';
    int rc = sqlite3_prepare_v2(
        l->db, "SELECT id, entry_hash FROM ledger_entries ORDER BY id DESC LIMIT 1", -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const char *h = col_text(st, 1);
        *id = sqlite3_column_int64(st, 0);
        snprintf(hash, 65, "%s", h ? h : "");
    } else if (rc != SQLITE_DONE) {
        status = db_fail(l, ctx, rc, "reading the last entry");
    }
    sqlite3_finalize(st);
    return status;
}

/* ---- Writing --------------------------------------------------------------------------------- */

sm_status sm_ledger_begin_run(sm_ledger *l, sm_context *ctx, const char *run_id,
                              const char *tool_version, const char *time_utc)
{
    sm_status st = SM_OK;
    char *issue = NULL, where[512];
    if (l->in_run)
        return sm_error(ctx, SM_ERR_INTERNAL, "%s: a run is already open", l->path);
    if (!tool_version)
        tool_version = sm_version();
    if (time_utc)
        snprintf(l->time_utc, sizeof l->time_utc, "%s", time_utc);
    else
        utc_now(l->time_utc);
    snprintf(where, sizeof where, "%s: run '%s'", l->path, or_q(run_id));
    if ((st =
             check_run_fields(ctx, where, run_id, tool_version, time_utc ? time_utc : l->time_utc)))
        return st;
    int rc = exec(l->db, "BEGIN IMMEDIATE");
    if (rc != SQLITE_OK)
        return db_fail(l, ctx, rc, "starting the run");
    l->in_run = 1;
    l->added = l->superseded = 0;
    if (!(l->run_id = sm__strdup(ctx, run_id)) ||
        !(l->tool_version = sm__strdup(ctx, tool_version))) {
        st = SM_ERR_NOMEM;
        goto end;
    }
    /* Refuse to extend a ledger whose guard or chain is broken: that needs an auditor first. */
    if ((st = check_schema(l, ctx, &issue)) != SM_OK)
        goto end;
    if (issue) {
        st = sm_error(ctx, SM_ERR_INPUT, "%s: refusing to write: %s (see sinkmap ledger verify)",
                      l->path, issue);
        goto end;
    }
    if ((st = verify_chain(l, ctx, NULL, &l->last_id, l->last_hash)) != SM_OK)
        goto end;
    if (l->last_id == 0)
        memcpy(l->last_hash, ZERO_HASH, 65);
    l->base_id = l->last_id;
    if ((rc = exec(l->db, "DELETE FROM temp.run_keys")) != SQLITE_OK ||
        (rc = sqlite3_prepare_v2(l->db,
                                 "INSERT INTO temp.run_keys (parcel_key, period_start, period_end, "
                                 "pool) VALUES (?1, ?2, ?3, ?4)",
                                 -1, &l->st_key, NULL)) != SQLITE_OK ||
        (rc = sqlite3_prepare_v2(l->db,
                                 "SELECT " ENTRY_COLUMNS " FROM ledger_entries e WHERE "
                                 "e.parcel_key = ?1 AND e.period_start = ?2 AND e.period_end = ?3 "
                                 "AND e.pool = ?4 ORDER BY e.id DESC LIMIT 1",
                                 -1, &l->st_current, NULL)) != SQLITE_OK ||
        (rc = sqlite3_prepare_v2(l->db,
                                 "INSERT INTO ledger_entries (id, parcel_key, period_start, "
                                 "period_end, pool, stock_start_tc, stock_end_tc, sink_tco2e, "
                                 "sink_lo95, sink_hi95, method, params_sha256, inputs_sha256, "
                                 "run_id, tool_version, time_utc, supersedes, prev_hash, "
                                 "entry_hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, "
                                 "?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)",
                                 -1, &l->st_insert, NULL)) != SQLITE_OK) {
        st = db_fail(l, ctx, rc, "starting the run");
        goto end;
    }
end:
    free(issue);
    if (st != SM_OK)
        sm_ledger_rollback_run(l);
    return st;
}

/* Binds the parcel key, period and pool to parameters first .. first + 3. */
static void bind_key(sqlite3_stmt *st, int first, const sm_ledger_entry *e)
{
    sqlite3_bind_text(st, first, e->parcel_key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, first + 1, e->period_start, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, first + 2, e->period_end, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, first + 3, e->pool, -1, SQLITE_STATIC);
}

static int same_number(double a, double b)
{
    return (isnan(a) && isnan(b)) || canon_zero(a) == canon_zero(b);
}

/* 1 if the current entry in st (a row of ENTRY_COLUMNS) holds the same content as e. */
static int same_content(sqlite3_stmt *st, const sm_ledger_entry *e)
{
    entry_row cur;
    if (read_row(st, &cur))
        return 0;
    return same_number(cur.e.stock_start_tc, e->stock_start_tc) &&
           same_number(cur.e.stock_end_tc, e->stock_end_tc) &&
           same_number(cur.e.sink_tco2e, e->sink_tco2e) &&
           same_number(cur.e.sink_lo95, e->sink_lo95) &&
           same_number(cur.e.sink_hi95, e->sink_hi95) && strcmp(cur.e.method, e->method) == 0 &&
           strcmp(cur.e.params_sha256, e->params_sha256) == 0 &&
           strcmp(cur.e.inputs_sha256, e->inputs_sha256) == 0;
}

static void bind_number(sqlite3_stmt *st, int i, double v)
{
    if (isnan(v))
        sqlite3_bind_null(st, i);
    else
        sqlite3_bind_double(st, i, canon_zero(v));
}

sm_status sm_ledger_append(sm_ledger *l, sm_context *ctx, const sm_ledger_entry *e)
{
    sm_status st = SM_OK;
    char where[1024], hash[65];
    sqlite3_stmt *q = NULL;
    if (!l->in_run)
        return sm_error(ctx, SM_ERR_INTERNAL, "%s: append outside a run (call begin_run first)",
                        l->path);
    if (l->run_status != SM_OK)
        return sm_error(ctx, l->run_status,
                        "%s: run '%s': an earlier append failed; roll the run back", l->path,
                        l->run_id);
    snprintf(where, sizeof where, "%s: entry for parcel %s, period %s/%s, pool %s", l->path,
             or_q(e->parcel_key), or_q(e->period_start), or_q(e->period_end), or_q(e->pool));
    if ((st = check_entry(ctx, where, e)) != SM_OK)
        goto end;
    /* The same parcel × period × pool twice in one run: duplicate parcel keys, or a caller bug. */
    q = l->st_key;
    bind_key(q, 1, e);
    int rc = sqlite3_step(q);
    if ((rc & 0xff) == SQLITE_CONSTRAINT) {
        st = sm_error(ctx, SM_ERR_INPUT,
                      "%s: given twice in run '%s' (two parcels with the same key?)", where,
                      l->run_id);
        goto end;
    } else if (rc != SQLITE_DONE) {
        st = db_fail(l, ctx, rc, "appending");
        goto end;
    }
    sqlite3_reset(q);
    q = l->st_current;
    bind_key(q, 1, e);
    long long supersedes = 0;
    rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        if (same_content(q, e))
            goto end; /* already in the ledger: a re-run adds nothing */
        supersedes = sqlite3_column_int64(q, C_ID);
    } else if (rc != SQLITE_DONE) {
        st = db_fail(l, ctx, rc, "looking up the current entry");
        goto end;
    }
    sqlite3_reset(q);
    if (l->added == 0) {
        /* The first entry this run adds: its run id must not belong to an earlier run. */
        long long used = 0;
        sqlite3_stmt *u = NULL;
        rc = sqlite3_prepare_v2(l->db, "SELECT min(id) FROM ledger_entries WHERE run_id = ?1", -1,
                                &u, NULL);
        if (rc == SQLITE_OK) {
            sqlite3_bind_text(u, 1, l->run_id, -1, SQLITE_STATIC);
            rc = sqlite3_step(u);
            if (rc == SQLITE_ROW) {
                used = sqlite3_column_int64(u, 0);
                rc = SQLITE_OK;
            }
        }
        sqlite3_finalize(u);
        if (rc != SQLITE_OK) {
            st = db_fail(l, ctx, rc, "checking the run id");
            goto end;
        }
        if (used > 0) {
            st = sm_error(ctx, SM_ERR_INPUT,
                          "%s: run id '%s' is already used by entry %lld of an earlier run; give "
                          "each run its own id",
                          l->path, l->run_id, used);
            goto end;
        }
    }
    entry_row r = {.id = l->last_id + 1,
                   .e = *e,
                   .run_id = l->run_id,
                   .tool_version = l->tool_version,
                   .time_utc = l->time_utc,
                   .supersedes = supersedes,
                   .prev_hash = l->last_hash};
    row_hash(&r, hash);
    q = l->st_insert;
    sqlite3_bind_int64(q, 1, r.id);
    bind_key(q, 2, e);
    bind_number(q, 6, e->stock_start_tc);
    bind_number(q, 7, e->stock_end_tc);
    bind_number(q, 8, e->sink_tco2e);
    bind_number(q, 9, e->sink_lo95);
    bind_number(q, 10, e->sink_hi95);
    sqlite3_bind_text(q, 11, e->method, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 12, e->params_sha256, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 13, e->inputs_sha256, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 14, l->run_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 15, l->tool_version, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 16, l->time_utc, -1, SQLITE_STATIC);
    if (supersedes)
        sqlite3_bind_int64(q, 17, supersedes);
    else
        sqlite3_bind_null(q, 17);
    sqlite3_bind_text(q, 18, l->last_hash, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 19, hash, -1, SQLITE_STATIC);
    if ((rc = sqlite3_step(q)) != SQLITE_DONE) {
        st = db_fail(l, ctx, rc, "appending");
        goto end;
    }
    l->last_id = r.id;
    memcpy(l->last_hash, hash, 65);
    l->added++;
    if (supersedes)
        l->superseded++;
end:
    if (q) {
        sqlite3_reset(q);
        sqlite3_clear_bindings(q);
    }
    if (st != SM_OK)
        l->run_status = st;
    return st;
}

sm_status sm_ledger_commit_run(sm_ledger *l, sm_context *ctx, size_t *added, size_t *superseded)
{
    sm_status st = SM_OK;
    if (added)
        *added = 0;
    if (superseded)
        *superseded = 0;
    if (!l->in_run)
        return sm_error(ctx, SM_ERR_INTERNAL, "%s: commit without an open run", l->path);
    if (l->run_status != SM_OK) {
        st = sm_error(ctx, l->run_status,
                      "%s: run '%s' not committed: an append failed, so the whole run was rolled "
                      "back",
                      l->path, l->run_id);
        sm_ledger_rollback_run(l);
        return st;
    }
    size_t n = l->added, ns = l->superseded;
    /* Statements must be finished before COMMIT can release the lock. */
    sqlite3_finalize(l->st_key);
    sqlite3_finalize(l->st_current);
    sqlite3_finalize(l->st_insert);
    l->st_key = l->st_current = l->st_insert = NULL;
    int rc = exec(l->db, "COMMIT");
    if (rc != SQLITE_OK) {
        st = db_fail(l, ctx, rc, "committing the run (nothing was added)");
        sm_ledger_rollback_run(l);
        return st;
    }
    end_run(l);
    if (added)
        *added = n;
    if (superseded)
        *superseded = ns;
    return SM_OK;
}

/* ---- Export ---------------------------------------------------------------------------------- */

/* Lists up to ten periods of the ledger for a message. */
static void list_periods(sm_ledger *l, char *buf, size_t size)
{
    sqlite3_stmt *st = NULL;
    size_t used = 0;
    int n = 0;
    buf[0] = '\0';
    if (sqlite3_prepare_v2(l->db,
                           "SELECT DISTINCT period_start || '/' || period_end FROM ledger_entries "
                           "ORDER BY 1",
                           -1, &st, NULL) != SQLITE_OK)
        return;
    while (sqlite3_step(st) == SQLITE_ROW && used < size) {
        const char *p = col_text(st, 0);
        int k = n == 10 ? snprintf(buf + used, size - used, ", ...")
                        : snprintf(buf + used, size - used, "%s%s", n ? ", " : "", or_q(p));
        if (k < 0)
            break;
        used += (size_t)k;
        if (++n > 10)
            break;
    }
    sqlite3_finalize(st);
    if (n == 0)
        snprintf(buf, size, "none: the ledger is empty");
}

static sm_status write_rows(sm_ledger *l, sm_context *ctx, sqlite3_stmt *st, sm_csv_writer *w,
                            size_t *nrows)
{
    static const char *const header[] = {"id",
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
    sm_status s = SM_OK;
    int rc;
    for (size_t i = 0; i < sizeof header / sizeof header[0]; i++)
        if ((s = sm_csv_writer_text(w, header[i])))
            return s;
    if ((s = sm_csv_writer_end_row(w)))
        return s;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        entry_row r;
        if (read_row(st, &r))
            return sm_error(ctx, SM_ERR_INPUT, "%s: entry %lld holds a value of the wrong type",
                            l->path, (long long)sqlite3_column_int64(st, C_ID));
        const char *texts1[4] = {r.e.parcel_key, r.e.period_start, r.e.period_end, r.e.pool};
        const double nums[5] = {r.e.stock_start_tc, r.e.stock_end_tc, r.e.sink_tco2e, r.e.sink_lo95,
                                r.e.sink_hi95};
        const char *texts2[6] = {r.e.method, r.e.params_sha256, r.e.inputs_sha256,
                                 r.run_id,   r.tool_version,    r.time_utc};
        if ((s = sm_csv_writer_long(w, r.id)))
            return s;
        for (int i = 0; i < 4; i++)
            if ((s = sm_csv_writer_text(w, texts1[i])))
                return s;
        for (int i = 0; i < 5; i++)
            if ((s = sm_csv_writer_double(w, canon_zero(nums[i]))))
                return s;
        for (int i = 0; i < 6; i++)
            if ((s = sm_csv_writer_text(w, texts2[i])))
                return s;
        s = r.supersedes ? sm_csv_writer_long(w, r.supersedes) : sm_csv_writer_text(w, "");
        if (s || (s = sm_csv_writer_text(w, col_text(st, C_HASH))) ||
            (s = sm_csv_writer_end_row(w)))
            return s;
        (*nrows)++;
    }
    if (rc != SQLITE_DONE)
        return db_fail(l, ctx, rc, "reading the entries");
    return SM_OK;
}

sm_status sm_ledger_export(sm_ledger *l, sm_context *ctx, const char *period, const char *csv_path,
                           size_t *nrows)
{
    sm_status status = SM_OK;
    sqlite3_stmt *st = NULL;
    sm_csv_writer *w = NULL;
    char *tmp = NULL, start[11] = "", end_date[11] = "", periods[512];
    size_t n = 0;
    int began = 0, rc;
    if (nrows)
        *nrows = 0;
    if (period) {
        if (strlen(period) != 21 || period[10] != '/' || !date_prefix(period) ||
            !date_prefix(period + 11))
            return sm_error(ctx, SM_ERR_INPUT,
                            "period '%s': expected START/END as YYYY-MM-DD/YYYY-MM-DD", period);
        memcpy(start, period, 10);
        memcpy(end_date, period + 11, 10);
    }
    if (l->in_run)
        return sm_error(ctx, SM_ERR_INTERNAL, "%s: export while a run is open", l->path);
    if ((status = begin_read(l, ctx, &began)) != SM_OK)
        goto end;
    /* Figures leave the ledger only from an intact chain. */
    if ((status = verify_chain(l, ctx, NULL, NULL, NULL)) != SM_OK)
        goto end;
    if (period) {
        long long count = 0;
        rc = sqlite3_prepare_v2(l->db,
                                "SELECT count(*) FROM ledger_entries WHERE period_start = ?1 AND "
                                "period_end = ?2",
                                -1, &st, NULL);
        if (rc == SQLITE_OK) {
            sqlite3_bind_text(st, 1, start, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 2, end_date, -1, SQLITE_STATIC);
            if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                count = sqlite3_column_int64(st, 0);
                rc = SQLITE_OK;
            }
        }
        sqlite3_finalize(st);
        st = NULL;
        if (rc != SQLITE_OK) {
            status = db_fail(l, ctx, rc, "reading the entries");
            goto end;
        }
        if (count == 0) {
            list_periods(l, periods, sizeof periods);
            status = sm_error(ctx, SM_ERR_INPUT, "%s: no entries for period %s (periods: %s)",
                              l->path, period, periods);
            goto end;
        }
    }
    rc = sqlite3_prepare_v2(l->db,
                            "SELECT " ENTRY_COLUMNS " FROM ledger_entries e WHERE (?1 IS NULL OR "
                            "(e.period_start = ?1 AND e.period_end = ?2)) AND " IS_CURRENT
                            " ORDER BY e.parcel_key, e.period_start, e.period_end, e.pool",
                            -1, &st, NULL);
    if (rc != SQLITE_OK) {
        status = db_fail(l, ctx, rc, "reading the entries");
        goto end;
    }
    if (period) {
        sqlite3_bind_text(st, 1, start, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, end_date, -1, SQLITE_STATIC);
    }
    if (!(tmp = sm__asprintf(ctx, "%s.tmp%ld", csv_path, (long)getpid()))) {
        status = SM_ERR_NOMEM;
        goto end;
    }
    if ((status = sm_csv_writer_open(&w, ctx, tmp, SM_CSV_BOM)) != SM_OK)
        goto end;
    if ((status = write_rows(l, ctx, st, w, &n)) != SM_OK)
        goto end;
    status = sm_csv_writer_close(w);
    w = NULL;
    if (status != SM_OK)
        goto end;
    if (rename(tmp, csv_path) != 0) {
        status = sm_error(ctx, SM_ERR_IO, "%s: cannot write: %s", csv_path, strerror(errno));
        goto end;
    }
    if (nrows)
        *nrows = n;
end:
    sm_csv_writer_destroy(w);
    if (status != SM_OK && tmp)
        remove(tmp);
    free(tmp);
    sqlite3_finalize(st);
    if (began)
        exec(l->db, "ROLLBACK");
    return status;
}
