/* legend.c: the fixed land-cover legend that classifiers write and outputs describe.
 * Kept in code, not read at run time, because the codes are part of the file formats
 * sinkmap writes; data/landcover_legend.csv mirrors it for users (checked by a test). */
#include "sinkmap/legend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const sm_legend_entry LEGEND[] = {
    {0, "nodata", "无数据", "no data", 0x00, 0x00, 0x00, 0},
    {1, "tree_forest", "乔木林", "tree forest", 0x1a, 0x7a, 0x1a, 1},
    {2, "bamboo", "竹林", "bamboo forest", 0x7f, 0xbf, 0x3f, 1},
    {3, "shrub", "灌木林", "shrubland", 0xa6, 0xc9, 0x6a, 0},
    {4, "grassland", "草地", "grassland", 0xe3, 0xe3, 0x8a, 0},
    {5, "wetland", "湿地", "wetland", 0x5f, 0xb3, 0xb3, 0},
    {6, "water", "水域", "water", 0x2b, 0x6c, 0xc4, 0},
    {7, "cropland", "耕地", "cropland", 0xf2, 0xc4, 0x6d, 0},
    {8, "built", "建设用地", "built-up", 0xc0, 0x39, 0x2b, 0},
    {9, "bare", "裸地", "bare land", 0xb8, 0xa4, 0x8a, 0},
    {10, "unclassified", "未分类", "unclassified", 0xff, 0x00, 0xff, 0},
    {11, "cloud", "云及云影", "cloud or shadow", 0xff, 0xff, 0xff, 0},
};

#define NLEGEND (sizeof LEGEND / sizeof LEGEND[0])

static const sm_class_entry CLASSES[NLEGEND] = {
    {0, "无数据 no data", 0x00, 0x00, 0x00},
    {1, "乔木林 tree forest", 0x1a, 0x7a, 0x1a},
    {2, "竹林 bamboo forest", 0x7f, 0xbf, 0x3f},
    {3, "灌木林 shrubland", 0xa6, 0xc9, 0x6a},
    {4, "草地 grassland", 0xe3, 0xe3, 0x8a},
    {5, "湿地 wetland", 0x5f, 0xb3, 0xb3},
    {6, "水域 water", 0x2b, 0x6c, 0xc4},
    {7, "耕地 cropland", 0xf2, 0xc4, 0x6d},
    {8, "建设用地 built-up", 0xc0, 0x39, 0x2b},
    {9, "裸地 bare land", 0xb8, 0xa4, 0x8a},
    {10, "未分类 unclassified", 0xff, 0x00, 0xff},
    {11, "云及云影 cloud or shadow", 0xff, 0xff, 0xff},
};

const sm_legend_entry *sm_legend(size_t *n)
{
    *n = NLEGEND;
    return LEGEND;
}

const sm_legend_entry *sm_legend_find(int code)
{
    return (code >= 0 && (size_t)code < NLEGEND) ? &LEGEND[code] : NULL;
}

const sm_class_entry *sm_legend_classes(size_t *n)
{
    *n = NLEGEND;
    return CLASSES;
}

static int ascii_caseeq(const char *a, const char *b)
{
    for (;; a++, b++) {
        int x = (unsigned char)*a, y = (unsigned char)*b;
        if (x >= 'A' && x <= 'Z')
            x += 'a' - 'A';
        if (y >= 'A' && y <= 'Z')
            y += 'a' - 'A';
        if (x != y)
            return 0;
        if (!x)
            return 1;
    }
}

int sm_legend_parse(const char *label)
{
    if (!label)
        return -1;
    while (*label == ' ' || *label == '\t')
        label++;
    size_t len = strlen(label);
    while (len > 0 && (label[len - 1] == ' ' || label[len - 1] == '\t' || label[len - 1] == '\r'))
        len--;
    if (len == 0 || len >= 128)
        return -1;
    char s[128];
    memcpy(s, label, len);
    s[len] = '\0';
    char *end;
    long v = strtol(s, &end, 10);
    if (end != s && *end == '\0')
        return (v >= 0 && (size_t)v < NLEGEND) ? (int)v : -1;
    for (size_t i = 0; i < NLEGEND; i++)
        if (strcmp(s, LEGEND[i].key) == 0 || strcmp(s, LEGEND[i].name_zh) == 0 ||
            ascii_caseeq(s, LEGEND[i].name_en) || strcmp(s, CLASSES[i].name) == 0)
            return LEGEND[i].code;
    return -1;
}

char *sm_legend_names(char *buf, size_t size, int from, int to)
{
    size_t len = 0;
    if (size)
        buf[0] = '\0';
    for (int c = from; c <= to && (size_t)c < NLEGEND && len < size; c++) {
        if (c < 0)
            continue;
        int w = snprintf(buf + len, size - len, "%s%d %s %s (%s)", len ? ", " : "", c,
                         LEGEND[c].name_zh, LEGEND[c].name_en, LEGEND[c].key);
        if (w < 0)
            break;
        len += (size_t)w;
    }
    return buf;
}
