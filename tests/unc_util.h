/* unc_util.h: a species group with its factors and their 95 % half-widths (%), for the
 * uncertainty tests. */
#ifndef SM_TESTS_UNC_UTIL_H
#define SM_TESTS_UNC_UTIL_H

#include <string.h>

#include "sinkmap/uncertainty.h"

static inline sm_species_group group(const char *key, double svd, double u_svd, double bef, double u_bef,
                                     double r, double u_r, double cf, double u_cf)
{
    sm_species_group g;
    memset(&g, 0, sizeof g);
    g.key = key;
    g.svd = svd;
    g.svd_u95 = u_svd;
    g.bef = bef;
    g.bef_u95 = u_bef;
    g.r = r;
    g.r_u95 = u_r;
    g.cf = cf;
    g.cf_u95 = u_cf;
    return g;
}

#endif
