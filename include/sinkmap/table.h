/* sinkmap/table.h: small CSV tables: the parameter tables sinkmap reads and the tables it writes.
 * RFC 4180 quoting, UTF-8 with or without a BOM, CRLF or LF, one header row, column names
 * matched without regard to ASCII case; typed getters whose errors name file, line and column. */
#ifndef SINKMAP_TABLE_H
#define SINKMAP_TABLE_H

#include <stddef.h>
#include <stdio.h>

#include "sinkmap/context.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Reading ---------------------------------------------------------------------------
 * The whole file is read and checked at once: it must be valid UTF-8 (a GBK or UTF-16 file is
 * refused with a hint), every record must have as many fields as the header, header names must
 * be non-empty and unique (ignoring case). Unquoted fields are trimmed of spaces and tabs;
 * quoted fields are kept exactly ("" stands for one quote; commas and line breaks allowed).
 * Empty lines, and lines whose fields are all empty and unquoted (",,,," from spreadsheets),
 * are skipped. Line numbers count physical lines from 1 (the header is line 1). */
typedef struct sm_table sm_table;

/* Reads and parses the CSV file at path (the path is kept, as given, for messages). Caller
 * frees *out with sm_table_destroy(). On failure *out is NULL and the message names the path
 * and, for content errors, the line. */
sm_status sm_table_read(sm_table **out, sm_context *ctx, const char *path);
/* Parses CSV bytes held in memory; `name` stands for the path in messages. Caller frees *out
 * with sm_table_destroy(). */
sm_status sm_table_parse(sm_table **out, sm_context *ctx, const char *name, const void *data,
                         size_t size);
/* Frees the table; NULL is a no-op. */
void sm_table_destroy(sm_table *table);

/* The path (or name) given when the table was read. Owned by the table. */
const char *sm_table_name(const sm_table *table);
/* SHA-256 of the exact bytes parsed (BOM included), 64 lower-case hex digits. Owned by the table. */
const char *sm_table_sha256(const sm_table *table);
/* Number of data rows (the header excluded) and of columns. */
size_t sm_table_rows(const sm_table *table);
size_t sm_table_cols(const sm_table *table);
/* The header name of a column, trimmed. Owned by the table. */
const char *sm_table_col_name(const sm_table *table, size_t col);
/* The physical line on which a data row starts (row 0 is usually line 2). */
long sm_table_line(const sm_table *table, size_t row);

/* Finds a column by name, ignoring ASCII case and surrounding spaces. Returns 1 and sets *col
 * when found, 0 otherwise (optional columns). */
int sm_table_find_col(const sm_table *table, const char *name, size_t *col);
/* As sm_table_find_col for a required column: SM_ERR_INPUT naming the file, the column and the
 * columns that exist when it is missing. */
sm_status sm_table_col(const sm_table *table, sm_context *ctx, const char *name, size_t *col);

/* The text of a cell (never NULL; "" when empty). Owned by the table. */
const char *sm_table_cell(const sm_table *table, size_t row, size_t col);

/* Typed getters. On bad content they return SM_ERR_INPUT with a message in the form
 * "data/species_groups.csv:7: column 'bef': 'abc' is not a number". An empty cell is an error. */
sm_status sm_table_get_double(const sm_table *table, sm_context *ctx, size_t row, size_t col,
                              double *out);
sm_status sm_table_get_long(const sm_table *table, sm_context *ctx, size_t row, size_t col,
                            long *out);
/* A non-empty text cell; *out is owned by the table. */
sm_status sm_table_get_text(const sm_table *table, sm_context *ctx, size_t row, size_t col,
                            const char **out);
/* yes/no (also true/false, 1/0, ignoring ASCII case) to 1/0. */
sm_status sm_table_get_yesno(const sm_table *table, sm_context *ctx, size_t row, size_t col,
                             int *out);

/* ---- Numbers in text, independent of the C locale ------------------------------------- */

/* Parses a whole decimal number: optional sign, digits with an optional '.', optional exponent;
 * surrounding spaces allowed. No hex, inf or nan; the decimal point is always '.'. Returns 0 and
 * sets *out, or -1 (and leaves *out alone) when text is not such a number or overflows. */
int sm_parse_double(const char *text, double *out);
/* Parses a whole decimal integer (optional sign, digits; surrounding spaces allowed). 0 or -1. */
int sm_parse_long(const char *text, long *out);
/* Formats a finite v in the shortest of %.15g, %.16g and %.17g that parses back to exactly v,
 * always with '.' as the decimal point. buf needs at least 32 bytes. Non-finite values give
 * "nan", "inf" or "-inf". Returns the length written, or -1 if size is too small. */
int sm_format_double(double v, char *buf, size_t size);

/* ---- Writing --------------------------------------------------------------------------- */

enum {
    SM_CSV_BOM = 1 << 0, /* start with a UTF-8 BOM, so that Excel shows Chinese text correctly */
    SM_CSV_CRLF = 1 << 1 /* end records with CRLF (RFC 4180) instead of LF */
};

typedef struct sm_csv_writer sm_csv_writer;

/* Creates (truncates) the file at path for writing. Errors are recorded in ctx, which the writer
 * keeps and uses for every later call (one thread at a time). Caller finishes with
 * sm_csv_writer_close() or abandons with sm_csv_writer_destroy(). */
sm_status sm_csv_writer_open(sm_csv_writer **out, sm_context *ctx, const char *path,
                             unsigned flags);
/* Writes to an open stream (for example stdout), which the writer does not close; `name`
 * stands for the path in messages. Caller frees *out with sm_csv_writer_close() or _destroy(). */
sm_status sm_csv_writer_stream(sm_csv_writer **out, sm_context *ctx, FILE *stream,
                               const char *name, unsigned flags);
/* Appends a text field, quoted when it holds a comma, a quote, a line break or surrounding
 * spaces (so that a reader that trims gets it back exactly). NULL is written as "". */
sm_status sm_csv_writer_text(sm_csv_writer *w, const char *text);
/* Appends a number with sm_format_double(). NaN is written as an empty field (missing);
 * an infinite value is refused with SM_ERR_INTERNAL. */
sm_status sm_csv_writer_double(sm_csv_writer *w, double v);
sm_status sm_csv_writer_long(sm_csv_writer *w, long long v);
/* Ends the current record. */
sm_status sm_csv_writer_end_row(sm_csv_writer *w);
/* Appends whole records formatted elsewhere (by another writer, on a memory stream, with the
 * same flags but no BOM), between two records of this one. */
sm_status sm_csv_writer_append(sm_csv_writer *w, const char *records, size_t n);
/* Flushes and closes (a file opened by the writer) and frees the writer; reports a failed
 * write or close with SM_ERR_IO naming the path. NULL is a no-op returning SM_OK. */
sm_status sm_csv_writer_close(sm_csv_writer *w);
/* Frees the writer without reporting errors (closing a file it opened); NULL is a no-op. */
void sm_csv_writer_destroy(sm_csv_writer *w);

#ifdef __cplusplus
}
#endif
#endif
