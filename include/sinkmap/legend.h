/* sinkmap/legend.h: the land-cover legend (codes, names in Chinese and English, colours).
 * The codes are fixed (classifiers write them); data/landcover_legend.csv documents the same
 * table for users, and a unit test checks that the two agree. */
#ifndef SINKMAP_LEGEND_H
#define SINKMAP_LEGEND_H

#include <stddef.h>
#include <stdint.h>

#include "sinkmap/raster.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sm_legend_entry {
    int code;
    const char *key;     /* tree_forest, bamboo, ... */
    const char *name_zh; /* 乔木林 */
    const char *name_en; /* tree forest */
    uint8_t r, g, b;
    int is_forest;       /* counts towards the forest fraction (tree forest and bamboo) */
} sm_legend_entry;

/* The legend, codes 0..11 in order; *n receives the count. Static storage. */
const sm_legend_entry *sm_legend(size_t *n);
/* The entry of a code, or NULL. */
const sm_legend_entry *sm_legend_find(int code);
/* The legend code a label names: a whole number 0..11 ("1", "01"), a key ("tree_forest"), a
 * Chinese name ("乔木林"), an English name ("tree forest", any ASCII case) or the category
 * name ("乔木林 tree forest"); surrounding blanks are ignored. -1 when it names none. */
int sm_legend_parse(const char *label);
/* Writes the legend's names ("1 乔木林 tree forest (tree_forest), 2 ...", codes from..to) into
 * buf for messages; returns buf. */
char *sm_legend_names(char *buf, size_t size, int from, int to);

/* The legend as raster class entries (names "乔木林 tree forest"), for class-map writers.
 * Static storage. */
const sm_class_entry *sm_legend_classes(size_t *n);

#ifdef __cplusplus
}
#endif
#endif
