/* sinkmap/ledger.h: the carbon ledger: an append-only SQLite file of per-parcel stocks and sinks.
 * Each entry is chained to the one before it by SHA-256, so that an auditor can prove that no
 * figure was rewritten; one run is one transaction, so that a killed run leaves nothing behind. */
#ifndef SINKMAP_LEDGER_H
#define SINKMAP_LEDGER_H

#include <stddef.h>

#include "sinkmap/context.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- What the ledger holds -------------------------------------------------------------------
 * One entry per parcel × period × pool and per change: the parcel key, the period's first and
 * last dates, the pool's carbon stock at both dates (t C), the sink over the period (t CO2e) with
 * its 95 % interval, the method, the hash of the parameter tables, the hash of the inputs, the run
 * that wrote it (run id, tool version, UTC time), the entry it supersedes, the hash of the entry
 * before it (prev_hash) and its own hash (entry_hash).
 *
 * Units and sign. sink_tco2e is the REMOVAL OVER THE WHOLE PERIOD [period_start, period_end], in
 * t CO2e, positive for a sink and negative for a net emission; it is not a rate per year (divide by
 * the period's length in years for that: the ledger records no day-count convention). For the
 * stock-difference method (IPCC 2006 eq. 2.5) it equals (stock_end_tc − stock_start_tc) × 44/12;
 * the ledger stores what it is given and does not recompute it.
 *
 * Append-only. An entry is never updated or deleted: triggers in the file refuse UPDATE and DELETE
 * of both tables with RAISE(ABORT), and a BEFORE INSERT trigger refuses a row that does not extend
 * the chain (id = last id + 1, prev_hash = the last entry's hash). A run that appends an entry
 * identical in content (parcel key, period, pool, the five numbers, method, params_sha256,
 * inputs_sha256) to the CURRENT entry of its parcel × period × pool adds nothing; a different one
 * is added with `supersedes` = the id of the entry it replaces. The current entry of a parcel ×
 * period × pool is its entry with the highest id; export shows current entries only.
 *
 * Files. A ledger is an SQLite 3 database (application_id 0x736d6c67, "smlg"; user_version 1;
 * table ledger_meta holds format = sinkmap-ledger, format_version = 1) written with the rollback
 * journal and synchronous = FULL; the tables are STRICT (SQLite 3.37 or later).
 *
 * ---- The canonical serialization (format version 1) ---------------------------------------------
 * entry_hash is the SHA-256, as 64 lower-case hex digits, of these bytes:
 *
 *   the 24 ASCII bytes "sinkmap ledger entry v1\n", then for each of the 18 fields below, in this
 *   order: the field's name, "=", the byte length of its value in decimal ASCII (no sign, no
 *   leading zeros, "0" for an empty value), ":", the value's bytes, "\n".
 *
 *   id             the entry's id (1, 2, 3, ...), decimal
 *   parcel_key     UTF-8 bytes as stored
 *   period_start   YYYY-MM-DD
 *   period_end     YYYY-MM-DD
 *   pool           as stored
 *   stock_start_tc number (below)
 *   stock_end_tc   number
 *   sink_tco2e     number
 *   sink_lo95      number, or empty when the interval is unknown
 *   sink_hi95      number, or empty when the interval is unknown
 *   method         as stored
 *   params_sha256  64 lower-case hex digits
 *   inputs_sha256  64 lower-case hex digits
 *   run_id         as stored
 *   tool_version   as stored
 *   time_utc       YYYY-MM-DDTHH:MM:SSZ
 *   supersedes     the id of the superseded entry, decimal, or empty when none
 *   prev_hash      the previous entry's entry_hash; 64 '0' digits for entry 1
 *
 * A number is written as sm_format_double() writes it (sinkmap/table.h): the shortest of C's
 * %.15g, %.16g and %.17g that parses back to exactly the same double, with '.' as the decimal
 * point ("12.5", "0.30000000000000004", "1e+20"); -0 is stored and hashed as 0. Because of the
 * length prefixes no choice of field values can make two different entries serialize alike. For
 * example, entry 1 begins with these three lines (41 is the key's length in UTF-8 bytes):
 *   sinkmap ledger entry v1
 *   id=1:1
 *   parcel_key=41:顺庆区/潆华街道/青山村/012/0034
 *
 * What verify proves and what it cannot. sm_ledger_verify() recomputes every entry_hash and checks
 * every prev_hash link, the id sequence and every supersedes pointer, so a changed, removed or
 * inserted entry is found, and names the first entry where the chain breaks. Removing entries at
 * the END of the chain, or rewriting the whole chain from some entry on, leaves a consistent chain:
 * to detect that, record the head (sm_ledger_head(); `sinkmap ledger verify` prints it) outside the
 * ledger, e.g. in the run report, and compare later. */

typedef struct sm_ledger sm_ledger;

/* A ledger entry as the caller gives it. Text is UTF-8 without control characters. */
typedef struct sm_ledger_entry {
    const char *parcel_key;    /* XIAN/XIANG/CUN/LIN_BAN/XIAO_BAN (see sm_ledger_parcel_key()),
                                * e.g. "顺庆区/潆华街道/青山村/012/0034" */
    const char *period_start;  /* YYYY-MM-DD, a real calendar date */
    const char *period_end;    /* YYYY-MM-DD, after period_start */
    const char *pool;          /* "stand" (above + below ground from volume), "above", "below",
                                * "soil", "dead", ...: lower-case ASCII letters, digits, '_', '-',
                                * '.' (one spelling per pool, so that keys cannot differ by case) */
    double stock_start_tc;     /* the pool's carbon stock at period_start, t C, finite and >= 0 */
    double stock_end_tc;       /* the pool's carbon stock at period_end, t C, finite and >= 0 */
    double sink_tco2e;         /* removal over the whole period, t CO2e (positive = sink), finite */
    double sink_lo95;          /* 95 % interval of sink_tco2e, t CO2e: both finite with lo <= hi, */
    double sink_hi95;          /* or both NAN when unknown */
    const char *method;        /* e.g. "volume-factor IPCC2006 eq2.5 stock-difference" */
    const char *params_sha256; /* hash of the parameter tables, 64 lower-case hex digits */
    const char *inputs_sha256; /* hash over the input files' hashes, 64 lower-case hex digits */
} sm_ledger_entry;

enum {
    SM_LEDGER_CREATE = 1 << 0 /* create the file and its schema when it does not exist (or is an
                               * empty file); without it a missing file is SM_ERR_INPUT */
};

/* Opens the ledger at path. With SM_LEDGER_CREATE a missing or empty file becomes a new, empty
 * ledger; without it the file must exist and is never created or written by opening. A file that
 * is not a sinkmap ledger (a text file, another application's SQLite database, a newer ledger
 * format) is refused with SM_ERR_INPUT naming the path and what was found. A ledger whose schema
 * was altered (a trigger dropped, say) still opens, so that sm_ledger_verify() can report on it,
 * but sm_ledger_begin_run() refuses to write to it. Caller closes *out with sm_ledger_close(). */
sm_status sm_ledger_open(sm_ledger **out, sm_context *ctx, const char *path, unsigned flags);
/* Closes the ledger, rolling back a run that was begun and not committed; NULL is a no-op. */
void sm_ledger_close(sm_ledger *l);
/* The path given to sm_ledger_open(). Owned by the ledger. */
const char *sm_ledger_path(const sm_ledger *l);

/* Joins the five parts of an inventory parcel's identity (县 XIAN, 乡 XIANG, 村 CUN, 林班 LIN_BAN,
 * 小班 XIAO_BAN) with '/'. Each part must be non-empty UTF-8 without '/' or control characters, so
 * that the key splits back into the same parts; SM_ERR_INPUT names the part otherwise. Caller
 * frees *out with free(). */
sm_status sm_ledger_parcel_key(sm_context *ctx, const char *const parts[5], char **out);

/* ---- Writing: one run, one transaction ------------------------------------------------------
 * begin_run takes the file's write lock (BEGIN IMMEDIATE; waits up to 10 s for another writer),
 * verifies the chain and the schema as sm_ledger_verify() does (a broken ledger is never extended:
 * SM_ERR_INPUT naming the problem; this reads every entry once), and fixes the run's identity:
 * run_id (non-empty, unique to this run: a run id already used by entries of an earlier run is
 * refused, SM_ERR_INPUT, by the first append that would add an entry), tool_version (NULL:
 * sm_version()) and time_utc ("YYYY-MM-DDTHH:MM:SSZ"; NULL: now). append checks and adds one
 * entry (or skips it, see above); a parcel × period × pool given twice in one run is SM_ERR_INPUT.
 * commit_run makes the run durable and reports the entries added and, of those, how many
 * superseded an earlier entry (either pointer may be NULL). After an append fails, commit_run
 * refuses and rolls the whole run back: a run is all or nothing. rollback_run discards the run
 * (no-op when none is open). */
sm_status sm_ledger_begin_run(sm_ledger *l, sm_context *ctx, const char *run_id,
                              const char *tool_version, const char *time_utc);
sm_status sm_ledger_append(sm_ledger *l, sm_context *ctx, const sm_ledger_entry *e);
sm_status sm_ledger_commit_run(sm_ledger *l, sm_context *ctx, size_t *added, size_t *superseded);
void sm_ledger_rollback_run(sm_ledger *l);

/* ---- Reading --------------------------------------------------------------------------------- */

/* Walks every entry in id order, in one read transaction, recomputing its hash and checking its
 * content, its id (the previous id + 1), its prev_hash link and its supersedes pointer (the
 * previous entry of the same parcel × period × pool, or none); then checks that the schema, its
 * triggers included, is exactly the one sinkmap writes. On success *nentries (may be NULL) is the
 * number of entries. The first problem is SM_ERR_INPUT with a message "PATH: entry ID (parcel KEY,
 * period START/END, pool POOL): WHAT" naming the check that failed and both hashes where one did
 * not match. Reports progress through the context's callback. */
sm_status sm_ledger_verify(sm_ledger *l, sm_context *ctx, size_t *nentries);

/* The last entry: its id (0 when the ledger is empty) and entry_hash ("" when empty). Record it
 * outside the ledger to detect a later truncation. */
sm_status sm_ledger_head(sm_ledger *l, sm_context *ctx, long long *id, char hash[65]);

/* Writes the current entries (superseded ones left out) to csv_path as UTF-8 CSV with a BOM and a
 * header: id, parcel_key, period_start, period_end, pool, stock_start_tc, stock_end_tc,
 * sink_tco2e, sink_lo95, sink_hi95, method, params_sha256, inputs_sha256, run_id, tool_version,
 * time_utc, supersedes, entry_hash; numbers at full precision, an unknown interval or no
 * supersedes as an empty field; rows ordered by parcel_key, period_start, period_end, pool (byte
 * order). period NULL exports every period; otherwise "START/END" (YYYY-MM-DD/YYYY-MM-DD) exports
 * that period only, and SM_ERR_INPUT lists the ledger's periods when it has no such period. The
 * chain is verified first (as sm_ledger_verify(), in the same read transaction) and nothing is
 * written when it is broken. The file is written under a temporary name and renamed into place,
 * so a failed export leaves no half-written file. *nrows (may be NULL) is the rows written. */
sm_status sm_ledger_export(sm_ledger *l, sm_context *ctx, const char *period, const char *csv_path,
                           size_t *nrows);

#ifdef __cplusplus
}
#endif
#endif
