/* test_e2e_grid.c: the job's analysis grid ([grid] crs / res / extent) and the raster engine's
 * bad-input paths, through the sinkmap program on variants of the demo job.
 * Grids are checked against the lattice worked out by hand here; errors against the contract
 * (exit 2, one line naming the file or key, the previous output folder untouched). */
#include <dirent.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <cpl_conv.h>
#include <cpl_string.h>
#include <gdal.h>
#include <ogr_srs_api.h>

#include "e2e_util.h"

#define DEMO SM_SOURCE_DIR "/examples/nanchong-demo"
#define RASTERS SM_SOURCE_DIR "/rasters"

static char tmp[256];
static char *demo_job; /* the demo job with absolute paths, no output line, no ledger */

static char *append(char *s, const char *more)
{
    char *out = malloc(strlen(s) + strlen(more) + 2);
    sprintf(out, "%s\n%s", s, more);
    free(s);
    return out;
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int setup(void **state)
{
    (void)state;
    if (!e2e_tmpdir(tmp, sizeof tmp, "grid"))
        return -1;
    char *s = e2e_read_all(DEMO "/job.ini");
    if (!s)
        return -1;
    s = e2e_replace(s, "= ../../", "= " SM_SOURCE_DIR "/");
    s = e2e_replace(s, "path = xiaoban.shp", "path = " DEMO "/xiaoban.shp");
    s = e2e_replace(s, "output = ", "; output = ");
    s = append(s, "[ledger]\npath = none\n");
    /* No PNG maps or report: this test is about the rasters. */
    s = append(s, "[output]\nmaps = no\nreport = no\n");
    /* The rule-based classifier: per pixel, so that the 20 m bound below holds
     * (test_all_nodata_rf puts the random forest back). */
    s = e2e_replace(s, "method = rf", "method = rules");
    demo_job = s;
    GDALAllRegister();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    free(demo_job);
    return e2e_sh("rm -rf '%s'", tmp);
}

static char *job_copy(void) { return strdup(demo_job); }

/* Runs job text into <tmp>/<name>/out; returns the exit code, stderr in err. */
static int run_job(const char *name, const char *job_text, char *err, size_t nerr)
{
    char dir[512], job[600];
    snprintf(dir, sizeof dir, "%s/%s", tmp, name);
    assert_int_equal(e2e_sh("mkdir -p '%s'", dir), 0);
    snprintf(job, sizeof job, "%s/job.ini", dir);
    write_text(job, job_text);
    return e2e_run(err, nerr, "run '%s' -o '%s/out' --quiet", job, dir);
}

/* Runs job text and checks the error contract: exit 2, one line with both fragments, the
 * earlier output folder as it was and nothing left beside it. */
static void expect_failure(const char *name, char *job_text, const char *fragment1, const char *fragment2)
{
    char dir[512], marker[700], err[8192];
    snprintf(dir, sizeof dir, "%s/%s", tmp, name);
    assert_int_equal(e2e_sh("mkdir -p '%s/out'", dir), 0);
    snprintf(marker, sizeof marker, "%s/out/previous-run.txt", dir);
    write_text(marker, "outputs of an earlier run\n");
    int rc = run_job(name, job_text, err, sizeof err);
    free(job_text);
    if (rc != 2 || strncmp(err, "sinkmap: error: ", 16) != 0 || e2e_lines(err) != 1 ||
        !strstr(err, fragment1) || (fragment2 && !strstr(err, fragment2))) {
        print_error("case %s: exit %d, stderr:\n%s\nexpected one error line with '%s' and '%s'\n",
                    name, rc, err, fragment1, fragment2 ? fragment2 : "");
        fail();
    }
    char *m = e2e_read_all(marker);
    assert_non_null(m);
    assert_string_equal(m, "outputs of an earlier run\n");
    free(m);
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        if (strcmp(e->d_name, "out") && strcmp(e->d_name, "job.ini") && strcmp(e->d_name, "in")) {
            print_error("case %s: left behind %s\n", name, e->d_name);
            fail();
        }
    }
    closedir(d);
    char out[600];
    snprintf(out, sizeof out, "%s/out", dir);
    d = opendir(out);
    int n_out = 0;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n_out++;
    closedir(d);
    assert_int_equal(n_out, 1);
}

/* ---- small readers ---------------------------------------------------------------------- */

/* The geotransform and size of a raster. */
static void raster_grid(const char *path, double gt[6], int *nx, int *ny)
{
    GDALDatasetH ds = GDALOpen(path, GA_ReadOnly);
    if (!ds)
        print_error("cannot open %s\n", path);
    assert_non_null(ds);
    assert_int_equal(GDALGetGeoTransform(ds, gt), CE_None);
    *nx = GDALGetRasterXSize(ds);
    *ny = GDALGetRasterYSize(ds);
    GDALClose(ds);
}

static void expect_grid(const char *path, double x0, double y1, double res, int nx, int ny)
{
    double gt[6];
    int gx, gy;
    raster_grid(path, gt, &gx, &gy);
    if (gx != nx || gy != ny || gt[0] != x0 || gt[3] != y1 || gt[1] != res || gt[5] != -res ||
        gt[2] != 0 || gt[4] != 0) {
        print_error("%s: %d x %d, gt %.17g %.17g %.17g %.17g %.17g %.17g; expected %d x %d at "
                    "(%.17g, %.17g) cell %g\n",
                    path, gx, gy, gt[0], gt[1], gt[2], gt[3], gt[4], gt[5], nx, ny, x0, y1, res);
        fail();
    }
}

/* Splits one CSV record (quotes handled, no line breaks inside fields) into at most cap
 * fields, in place; returns the count. */
static int csv_split(char *line, char **f, int cap)
{
    int n = 0;
    char *p = line, *o;
    line[strcspn(line, "\r\n")] = '\0';
    while (n < cap) {
        f[n++] = o = p;
        if (*p == '"') {
            p++;
            for (;;) {
                if (*p == '"' && p[1] == '"') {
                    *o++ = '"';
                    p += 2;
                } else if (*p == '"') {
                    p++;
                    break;
                } else if (*p) {
                    *o++ = *p++;
                } else
                    break;
            }
        } else {
            while (*p && *p != ',')
                *o++ = *p++;
        }
        int more = *p == ',';
        if (*p)
            p++;
        *o = '\0';
        if (!more)
            break;
    }
    return n;
}

/* Column `name` of a CSV (UTF-8 BOM skipped) as doubles (NAN when empty); returns rows. */
static size_t csv_column(const char *path, const char *name, double *out, size_t cap)
{
    FILE *f = fopen(path, "r");
    if (!f)
        print_error("cannot open %s\n", path);
    assert_non_null(f);
    static char line[1 << 16];
    char *fields[512];
    assert_non_null(fgets(line, sizeof line, f));
    char *h = line;
    if ((unsigned char)h[0] == 0xEF)
        h += 3;
    int nf = csv_split(h, fields, 512), col = -1;
    for (int i = 0; i < nf; i++)
        if (strcmp(fields[i], name) == 0)
            col = i;
    if (col < 0)
        print_error("%s: no column %s\n", path, name);
    assert_true(col >= 0);
    size_t n = 0;
    while (fgets(line, sizeof line, f) && n < cap) {
        int k = csv_split(line, fields, 512);
        assert_true(k > col);
        out[n++] = fields[col][0] ? strtod(fields[col], NULL) : NAN;
    }
    fclose(f);
    return n;
}

/* ---- the analysis grid ------------------------------------------------------------------ */

#define MAXP 4096

/* [grid] crs = EPSG:32648, res = 20 over the demo: every land cover on exactly the lattice
 * worked out here from the first raster's extent, and forest fractions that differ from the
 * default 10 m run only where a 20 m cell mixes forest and non-forest at 10 m. */
static void test_grid_utm_20m(void **state)
{
    (void)state;
    char err[8192];
    char *j = job_copy();
    assert_int_equal(run_job("default", j, err, sizeof err), 0);
    free(j);
    j = append(job_copy(), "[grid]\ncrs = EPSG:32648\nres = 20\n");
    int rc = run_job("utm20", j, err, sizeof err);
    free(j);
    if (rc != 0)
        print_error("%s", err);
    assert_int_equal(rc, 0);

    /* By hand: the first raster's extent, snapped outward to multiples of 20 m. */
    double gt[6];
    int nx, ny;
    raster_grid(RASTERS "/s2_2023a_10m.tif", gt, &nx, &ny);
    double xmin = floor(gt[0] / 20) * 20, xmax = ceil((gt[0] + nx * gt[1]) / 20) * 20;
    double ymax = ceil(gt[3] / 20) * 20, ymin = floor((gt[3] + ny * gt[5]) / 20) * 20;
    int ex = (int)((xmax - xmin) / 20), ey = (int)((ymax - ymin) / 20);
    assert_int_equal(ex, 500); /* the demo: 10 km at 10 m from a multiple of 20 m */
    const char *ids[] = {"2023a", "2024s", "2024a"};
    char path[700];
    for (int s = 0; s < 3; s++) {
        snprintf(path, sizeof path, "%s/utm20/out/landcover_%s.tif", tmp, ids[s]);
        expect_grid(path, xmin, ymax, 20, ex, ey);
    }

    /* The bound: a 20 m cell whose four 10 m cells all agree on forest (乔木林 1, 竹林 2) or
     * non-forest holds the average reflectance of four cells of one kind and keeps that kind;
     * only the other ("mixed") cells can change. So per parcel |ff20 - ff10| <= the parcel's
     * coverage-weighted share of mixed cells, plus 0.01 for averages of two forest types or of
     * two non-forest types that fall on the other side of a threshold. Checked on the clear
     * scenes, for parcels observed to 99 % (cloud edges move with the cell size too). */
    for (int s = 0; s < 3; s += 2) {
        snprintf(path, sizeof path, "%s/default/out/landcover_%s.tif", tmp, ids[s]);
        GDALDatasetH ds = GDALOpen(path, GA_ReadOnly);
        assert_non_null(ds);
        int w = GDALGetRasterXSize(ds), h = GDALGetRasterYSize(ds);
        assert_int_equal(w, 1000);
        assert_int_equal(h, 1000);
        unsigned char *lc = malloc((size_t)w * (size_t)h);
        float *mixed = malloc((size_t)(w / 2) * (size_t)(h / 2) * sizeof(float));
        assert_int_equal(GDALRasterIO(GDALGetRasterBand(ds, 1), GF_Read, 0, 0, w, h, lc, w, h, GDT_Byte, 0, 0),
                         CE_None);
        double lgt[6];
        GDALGetGeoTransform(ds, lgt);
        char wkt[8192];
        snprintf(wkt, sizeof wkt, "%s", GDALGetProjectionRef(ds));
        GDALClose(ds);
        for (int r = 0; r < h / 2; r++)
            for (int c = 0; c < w / 2; c++) {
                int forest = 0;
                for (int k = 0; k < 4; k++) {
                    unsigned char v = lc[(size_t)(2 * r + k / 2) * (size_t)w + (size_t)(2 * c + k % 2)];
                    forest += v == 1 || v == 2;
                }
                mixed[(size_t)r * (size_t)(w / 2) + (size_t)c] = (forest > 0 && forest < 4) ? 1.0f : 0.0f;
            }
        char mpath[700], mcsv[700];
        snprintf(mpath, sizeof mpath, "%s/utm20/mixed_%s.tif", tmp, ids[s]);
        snprintf(mcsv, sizeof mcsv, "%s/utm20/mixed_%s.csv", tmp, ids[s]);
        GDALDatasetH m = GDALCreate(GDALGetDriverByName("GTiff"), mpath, w / 2, h / 2, 1, GDT_Float32, NULL);
        double mgt[6] = {lgt[0], 20, 0, lgt[3], 0, -20};
        GDALSetGeoTransform(m, mgt);
        GDALSetProjection(m, wkt);
        assert_int_equal(GDALRasterIO(GDALGetRasterBand(m, 1), GF_Write, 0, 0, w / 2, h / 2, mixed, w / 2,
                                      h / 2, GDT_Float32, 0, 0),
                         CE_None);
        GDALClose(m);
        free(lc);
        free(mixed);
        assert_int_equal(e2e_run(err, sizeof err, "zonal '%s' '%s/xiaoban.shp' --stats mean -o '%s'", mpath,
                                 DEMO, mcsv),
                         0);
        static double ff10[MAXP], ff20[MAXP], obs[MAXP], share[MAXP], fid_a[MAXP], fid_b[MAXP];
        char col[32], p10[700], p20[700];
        snprintf(p10, sizeof p10, "%s/default/out/parcels.csv", tmp);
        snprintf(p20, sizeof p20, "%s/utm20/out/parcels.csv", tmp);
        snprintf(col, sizeof col, "ff_%s", ids[s]);
        size_t n = csv_column(p10, col, ff10, MAXP);
        assert_int_equal(csv_column(p20, col, ff20, MAXP), n);
        snprintf(col, sizeof col, "obs_%s", ids[s]);
        assert_int_equal(csv_column(p10, col, obs, MAXP), n);
        assert_int_equal(csv_column(mcsv, "mean", share, MAXP), n);
        assert_int_equal(csv_column(mcsv, "fid", fid_a, MAXP), n);
        assert_int_equal(csv_column(p10, "fid", fid_b, MAXP), n);
        size_t checked = 0;
        for (size_t i = 0; i < n; i++) {
            assert_true(fid_a[i] == fid_b[i]);
            if (isnan(ff10[i]) || isnan(share[i]) || !(obs[i] >= 0.99))
                continue;
            assert_false(isnan(ff20[i]));
            double d = fabs(ff20[i] - ff10[i]);
            if (d > share[i] + 0.01) {
                print_error("scene %s, parcel fid %.0f: ff %.6f at 10 m, %.6f at 20 m; mixed share %.6f\n",
                            ids[s], fid_a[i], ff10[i], ff20[i], share[i]);
                fail();
            }
            checked++;
        }
        assert_true(checked > 900); /* most of the 1028 parcels are fully observed */
    }
}

/* [grid] extent and res without a CRS: the first raster's CRS, the extent snapped outward. */
static void test_grid_extent_snapped(void **state)
{
    (void)state;
    char err[8192], path[700];
    /* 600005 -> 600000, 3404999 -> 3404980, 605011 -> 605020, 3410001 -> 3410020 (multiples of
     * 20 below and above): 5020 m / 20 = 251 columns, 5040 m / 20 = 252 rows. */
    char *j = append(job_copy(), "[grid]\nres = 20\nextent = 600005, 3404999, 605011, 3410001\n");
    int rc = run_job("extent", j, err, sizeof err);
    free(j);
    if (rc != 0)
        print_error("%s", err);
    assert_int_equal(rc, 0);
    snprintf(path, sizeof path, "%s/extent/out/landcover_2024a.tif", tmp);
    expect_grid(path, 600000, 3410020, 20, 251, 252);
}

/* [grid] in another CRS (CGCS2000 / GK CM 105E, the inventory's): the scenes are warped onto it. */
static void test_grid_other_crs(void **state)
{
    (void)state;
    char err[8192], path[700];
    /* 599005 -> 599000, 3403995 -> 3403990, 606998 -> 607000, 3412001 -> 3412010 (multiples of
     * 10): 8000 m -> 800 columns, 8020 m -> 802 rows. */
    char *j = append(job_copy(), "[grid]\ncrs = EPSG:4544\nres = 10\nextent = 599005,3403995,606998,3412001\n");
    int rc = run_job("gk", j, err, sizeof err);
    free(j);
    if (rc != 0)
        print_error("%s", err);
    assert_int_equal(rc, 0);
    snprintf(path, sizeof path, "%s/gk/out/landcover_2023a.tif", tmp);
    expect_grid(path, 599000, 3412010, 10, 800, 802);
    GDALDatasetH ds = GDALOpen(path, GA_ReadOnly);
    assert_non_null(ds);
    OGRSpatialReferenceH srs = OSRClone(GDALGetSpatialRef(ds));
    OSRAutoIdentifyEPSG(srs);
    const char *code = OSRGetAuthorityCode(srs, NULL);
    assert_non_null(code);
    assert_string_equal(code, "4544");
    OSRDestroySpatialReference(srs);
    /* The warped scene is classified: forest cells exist inside the grid. */
    int has = 0;
    double mn = 0, mx = 0, mean = 0, sd = 0;
    assert_int_equal(GDALComputeRasterStatistics(GDALGetRasterBand(ds, 1), FALSE, &mn, &mx, &mean, &sd, NULL, NULL),
                     CE_None);
    (void)has;
    assert_true(mn >= 1 && mx <= 11);
    GDALClose(ds);
}

static void test_grid_bad_values(void **state)
{
    (void)state;
    expect_failure("badcrs", append(job_copy(), "[grid]\ncrs = EPSG:999999\n"), "[grid] crs = 'EPSG:999999'",
                   "not a coordinate reference system");
    expect_failure("geographic", append(job_copy(), "[grid]\ncrs = EPSG:4326\nres = 10\n"),
                   "[grid] crs = 'EPSG:4326'", "not a projected CRS");
    expect_failure("badres", append(job_copy(), "[grid]\nres = -5\n"), "[grid] res = '-5'", "expected a cell size");
    expect_failure("badres2", append(job_copy(), "[grid]\nres = ten\n"), "res = 'ten'", "expected a number");
    expect_failure("badextent", append(job_copy(), "[grid]\nextent = 1,2,3\n"), "[grid] extent = '1,2,3'",
                   "xmin,ymin,xmax,ymax");
    expect_failure("badextent2", append(job_copy(), "[grid]\nextent = 5,2,3,4\n"), "[grid] extent = '5,2,3,4'",
                   "xmin < xmax");
    expect_failure("badkey", append(job_copy(), "[grid]\nresolution = 10\n"), "[grid]: unknown key 'resolution'",
                   NULL);
    /* 10 km at 1 mm: 10^7 cells a side, 10^14 in all. */
    expect_failure("toomany", append(job_copy(), "[grid]\nres = 0.001\n"), "[grid] gives", "cells");
}

/* ---- bad rasters ------------------------------------------------------------------------ */

/* A GeoTIFF copy of `src` at `dst`, then georeferenced with wkt (when not NULL) and shifted by
 * (dx, dy) map units. */
static void copy_raster(const char *src, const char *dst, const char *wkt, double dx, double dy)
{
    GDALDatasetH s = GDALOpen(src, GA_ReadOnly);
    assert_non_null(s);
    GDALDatasetH d = GDALCreateCopy(GDALGetDriverByName("GTiff"), dst, s, FALSE, NULL, NULL, NULL);
    assert_non_null(d);
    double gt[6];
    GDALGetGeoTransform(s, gt);
    gt[0] += dx;
    gt[3] += dy;
    GDALSetGeoTransform(d, gt);
    if (wkt)
        assert_int_equal(GDALSetProjection(d, wkt), CE_None);
    GDALClose(d);
    GDALClose(s);
}

static char *wkt_of(const char *def)
{
    OGRSpatialReferenceH srs = OSRNewSpatialReference(NULL);
    assert_int_equal(OSRSetFromUserInput(srs, def), OGRERR_NONE);
    char *w = NULL;
    const char *opt[] = {"FORMAT=WKT2_2019", NULL};
    assert_int_equal(OSRExportToWktEx(srs, &w, opt), OGRERR_NONE);
    char *out = strdup(w);
    CPLFree(w);
    OSRDestroySpatialReference(srs);
    return out;
}

static void in_dir(char *buf, size_t n, const char *name)
{
    snprintf(buf, n, "%s/%s/in", tmp, name);
    assert_int_equal(e2e_sh("mkdir -p '%s'", buf), 0);
}

/* A raster on Mars (IAU_2015:49900) in a job about Sichuan: no transformation between bodies. */
static void test_mars_raster(void **state)
{
    (void)state;
    char dir[600], p[700];
    in_dir(dir, sizeof dir, "mars");
    snprintf(p, sizeof p, "%s/mars_20m.tif", dir);
    char *wkt = wkt_of("IAU_2015:49900");
    /* Coordinates that are valid longitudes and latitudes on Mars. */
    GDALDatasetH s = GDALOpen(RASTERS "/s2_2024a_20m.tif", GA_ReadOnly);
    GDALDatasetH d = GDALCreateCopy(GDALGetDriverByName("GTiff"), p, s, FALSE, NULL, NULL, NULL);
    double gt[6] = {106.0, 0.0002, 0, 30.9, 0, -0.0002};
    GDALSetGeoTransform(d, gt);
    assert_int_equal(GDALSetProjection(d, wkt), CE_None);
    GDALClose(d);
    GDALClose(s);
    free(wkt);
    char *j = e2e_replace(job_copy(), RASTERS "/s2_2024a_20m.tif", p);
    expect_failure("mars", j, "mars_20m.tif: no coordinate transformation", "Mars");

    /* A Mars raster as the first scene's: it defines the grid, and the Earth's parcels and
     * rasters cannot be brought onto it. */
    snprintf(p, sizeof p, "%s/mars_10m.tif", dir);
    wkt = wkt_of("IAU_2015:49900");
    s = GDALOpen(RASTERS "/s2_2023a_10m.tif", GA_ReadOnly);
    d = GDALCreateCopy(GDALGetDriverByName("GTiff"), p, s, FALSE, NULL, NULL, NULL);
    double gt10[6] = {106.0, 0.0001, 0, 30.9, 0, -0.0001};
    GDALSetGeoTransform(d, gt10);
    assert_int_equal(GDALSetProjection(d, wkt), CE_None);
    GDALClose(d);
    GDALClose(s);
    free(wkt);
    j = e2e_replace(job_copy(), RASTERS "/s2_2023a_10m.tif", p);
    expect_failure("mars-first", j, "Mars", NULL);
}

/* An engineering (local) CRS: a site grid with no link to the Earth. */
static void test_engineering_crs(void **state)
{
    (void)state;
    char dir[600], p[700];
    in_dir(dir, sizeof dir, "engineering");
    snprintf(p, sizeof p, "%s/site_20m.tif", dir);
    copy_raster(RASTERS "/s2_2024s_20m.tif", p, "LOCAL_CS[\"site grid\",LOCAL_DATUM[\"site\",0],UNIT[\"metre\",1],"
                                                 "AXIS[\"Easting\",EAST],AXIS[\"Northing\",NORTH]]",
                0, 0);
    char *j = e2e_replace(job_copy(), RASTERS "/s2_2024s_20m.tif", p);
    expect_failure("engineering", j, "site_20m.tif: ", "engineering");
}

/* A second scene's raster elsewhere on Earth: the same CRS 2000 km east, and another CRS
 * (UTM 47N) whose coordinates put it 600 km west. */
static void test_no_overlap_between_scenes(void **state)
{
    (void)state;
    char dir[600], p[700];
    in_dir(dir, sizeof dir, "elsewhere");
    snprintf(p, sizeof p, "%s/far_10m.tif", dir);
    copy_raster(RASTERS "/s2_2024s_10m.tif", p, NULL, 2000000, 0);
    char *j = e2e_replace(job_copy(), RASTERS "/s2_2024s_10m.tif", p);
    expect_failure("elsewhere", j, "far_10m.tif: does not overlap the analysis grid", NULL);

    in_dir(dir, sizeof dir, "elsewhere47");
    snprintf(p, sizeof p, "%s/utm47_10m.tif", dir);
    char *wkt = wkt_of("EPSG:32647");
    copy_raster(RASTERS "/s2_2024s_10m.tif", p, wkt, 0, 0);
    free(wkt);
    j = e2e_replace(job_copy(), RASTERS "/s2_2024s_10m.tif", p);
    expect_failure("elsewhere47", j, "utm47_10m.tif: does not overlap the analysis grid", NULL);
}

/* Dimensions whose product overflows: a VRT of 3000000000 x 3000000000 (more than GDAL's int
 * sizes) and one of 2000000000 x 2000000000 (4e18 cells) as the first raster. */
static void test_overflowing_dimensions(void **state)
{
    (void)state;
    char dir[600], p[700], text[2048];
    const long long sizes[] = {3000000000LL, 2000000000LL};
    for (int k = 0; k < 2; k++) {
        char name[32];
        snprintf(name, sizeof name, "huge%d", k);
        in_dir(dir, sizeof dir, name);
        snprintf(p, sizeof p, "%s/huge.vrt", dir);
        snprintf(text, sizeof text,
                 "<VRTDataset rasterXSize=\"%lld\" rasterYSize=\"%lld\">\n"
                 "  <SRS>EPSG:32648</SRS>\n"
                 "  <GeoTransform>598320, 10, 0, 3412940, 0, -10</GeoTransform>\n"
                 "  <VRTRasterBand dataType=\"UInt16\" band=\"1\"/>\n"
                 "  <VRTRasterBand dataType=\"UInt16\" band=\"2\"/>\n"
                 "  <VRTRasterBand dataType=\"UInt16\" band=\"3\"/>\n"
                 "  <VRTRasterBand dataType=\"UInt16\" band=\"4\"/>\n"
                 "</VRTDataset>\n",
                 sizes[k], sizes[k]);
        write_text(p, text);
        char *j = e2e_replace(job_copy(), RASTERS "/s2_2023a_10m.tif", p);
        expect_failure(name, j, "huge.vrt", k == 0 ? "not a readable raster" : "cells");
    }
}

/* Writes into folder `name` a copy of the 2024s 10 m raster whose every cell is nodata; its
 * path goes to p. */
static void empty_2024s(const char *name, char *p, size_t np)
{
    char dir[600];
    in_dir(dir, sizeof dir, name);
    snprintf(p, np, "%s/empty_10m.tif", dir);
    GDALDatasetH s = GDALOpen(RASTERS "/s2_2024s_10m.tif", GA_ReadOnly);
    assert_non_null(s);
    char **co = CSLSetNameValue(NULL, "TILED", "YES");
    GDALDatasetH d = GDALCreate(GDALGetDriverByName("GTiff"), p, GDALGetRasterXSize(s), GDALGetRasterYSize(s), 4,
                                GDT_UInt16, co);
    CSLDestroy(co);
    double gt[6];
    GDALGetGeoTransform(s, gt);
    GDALSetGeoTransform(d, gt);
    GDALSetProjection(d, GDALGetProjectionRef(s));
    GDALSetMetadata(d, GDALGetMetadata(s, NULL), NULL);
    for (int b = 1; b <= 4; b++)
        GDALSetRasterNoDataValue(GDALGetRasterBand(d, b), 0); /* every cell is 0: nodata */
    GDALClose(d);
    GDALClose(s);
}

/* An input that is all nodata: a warning, exit 0, and outputs that are empty but valid. */
static void test_all_nodata(void **state)
{
    (void)state;
    char p[700], err[8192];
    empty_2024s("nodata", p, sizeof p);
    char *j = e2e_replace(job_copy(), RASTERS "/s2_2024s_10m.tif", p);
    /* The engine's part only: the volume regression calibrates on every scene and has nothing
     * to calibrate on in an empty one (reported to its owner). */
    j = e2e_replace(j, "enabled = yes", "enabled = no");
    int rc = run_job("nodata", j, err, sizeof err);
    free(j);
    if (rc != 0 || !strstr(err, "sinkmap: warning: ") || !strstr(err, "2024s") || !strstr(err, "nodata") ||
        strstr(err, "error")) {
        print_error("exit %d, stderr:\n%s\n", rc, err);
        fail();
    }
    /* The scene's land cover is a valid raster on the grid whose every cell is nodata (0). */
    snprintf(p, sizeof p, "%s/nodata/out/landcover_2024s.tif", tmp);
    expect_grid(p, 598320, 3412940, 10, 1000, 1000);
    GDALDatasetH lc = GDALOpen(p, GA_ReadOnly);
    assert_non_null(lc);
    int has = 0;
    assert_true(GDALGetRasterNoDataValue(GDALGetRasterBand(lc, 1), &has) == 0 && has);
    unsigned char *buf = malloc(1000 * 1000);
    assert_int_equal(GDALRasterIO(GDALGetRasterBand(lc, 1), GF_Read, 0, 0, 1000, 1000, buf, 1000, 1000, GDT_Byte, 0, 0),
                     CE_None);
    for (size_t i = 0; i < 1000 * 1000; i++)
        if (buf[i] != 0)
            fail_msg("cell %zu holds %d, expected nodata 0", i, buf[i]);
    free(buf);
    GDALClose(lc);
    /* The parcels: no observation in that scene (obs 0, forest fraction blank), others filled. */
    static double obs[MAXP], ff[MAXP], ff_other[MAXP];
    snprintf(p, sizeof p, "%s/nodata/out/parcels.csv", tmp);
    size_t n = csv_column(p, "obs_2024s", obs, MAXP);
    assert_int_equal(n, 1028);
    assert_int_equal(csv_column(p, "ff_2024s", ff, MAXP), n);
    assert_int_equal(csv_column(p, "ff_2024a", ff_other, MAXP), n);
    size_t other = 0;
    for (size_t i = 0; i < n; i++) {
        assert_true(isnan(obs[i]) || obs[i] == 0);
        assert_true(isnan(ff[i]));
        other += !isnan(ff_other[i]);
    }
    assert_true(other > 1000);
}

/* The same empty scene with the random forest: nothing to train on there, so that scene falls
 * back to the rules with a warning (an empty map, no confidence map, no accuracy report), and
 * the other scenes are still trained and classified. */
static void test_all_nodata_rf(void **state)
{
    (void)state;
    char p[700], err[8192];
    empty_2024s("nodata_rf", p, sizeof p);
    char *j = e2e_replace(job_copy(), RASTERS "/s2_2024s_10m.tif", p);
    j = e2e_replace(j, "method = rules", "method = rf");
    j = e2e_replace(j, "enabled = yes", "enabled = no");
    int rc = run_job("nodata_rf", j, err, sizeof err);
    free(j);
    if (rc != 0 || !strstr(err, "sinkmap: warning: scene 2024s: no training pixel is observed") ||
        strstr(err, "error")) {
        print_error("exit %d, stderr:\n%s\n", rc, err);
        fail();
    }
    const char *want[] = {"landcover_2024s.tif", "confidence_2023a.tif", "accuracy_2023a.csv",
                          "confidence_2024a.tif", "accuracy_2024a.csv"};
    for (size_t k = 0; k < sizeof want / sizeof want[0]; k++) {
        snprintf(p, sizeof p, "%s/nodata_rf/out/%s", tmp, want[k]);
        if (!e2e_exists(p))
            fail_msg("%s missing", p);
    }
    const char *none[] = {"confidence_2024s.tif", "accuracy_2024s.csv"};
    for (size_t k = 0; k < 2; k++) {
        snprintf(p, sizeof p, "%s/nodata_rf/out/%s", tmp, none[k]);
        if (e2e_exists(p))
            fail_msg("%s written for a scene with nothing to train on", p);
    }
    /* every cell of the fallback map is nodata (0) */
    snprintf(p, sizeof p, "%s/nodata_rf/out/landcover_2024s.tif", tmp);
    GDALDatasetH lc = GDALOpen(p, GA_ReadOnly);
    assert_non_null(lc);
    unsigned char *buf = malloc(1000 * 1000);
    assert_int_equal(GDALRasterIO(GDALGetRasterBand(lc, 1), GF_Read, 0, 0, 1000, 1000, buf, 1000, 1000, GDT_Byte, 0, 0),
                     CE_None);
    size_t nonzero = 0;
    for (size_t i = 0; i < 1000 * 1000; i++)
        nonzero += buf[i] != 0;
    free(buf);
    GDALClose(lc);
    assert_int_equal(nonzero, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grid_utm_20m),
        cmocka_unit_test(test_grid_extent_snapped),
        cmocka_unit_test(test_grid_other_crs),
        cmocka_unit_test(test_grid_bad_values),
        cmocka_unit_test(test_mars_raster),
        cmocka_unit_test(test_engineering_crs),
        cmocka_unit_test(test_no_overlap_between_scenes),
        cmocka_unit_test(test_overflowing_dimensions),
        cmocka_unit_test(test_all_nodata),
        cmocka_unit_test(test_all_nodata_rf),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
