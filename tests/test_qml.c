/* test_qml.c: sinkmap's QGIS styles: the changes style covers every reason the run can write
 * (all non-empty subsets of its three rules, in the run's order), the graduated styles have
 * ascending breaks with one colour per class and labels as documented, and the files written
 * hold those classes and nothing unescaped. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "sinkmap/qml.h"

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    b[n] = '\0';
    fclose(f);
    return b;
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

static void test_changes_cover_every_reason(void **state)
{
    (void)state;
    static const char *const rules[] = {"forest_below_min", "forest_drop", "dnbr"};
    const sm_style_categorized *s = sm_style_changes();
    assert_int_equal(s->n, 7);
    /* every non-empty subset, joined with ';' in rule order (as the run's add_flag writes) */
    for (unsigned mask = 1; mask < 8; mask++) {
        char want[128] = "";
        for (int r = 0; r < 3; r++)
            if (mask & (1u << r)) {
                if (want[0])
                    strcat(want, ";");
                strcat(want, rules[r]);
            }
        size_t hits = 0;
        for (size_t k = 0; k < s->n; k++)
            hits += strcmp(s->values[k], want) == 0;
        if (hits != 1)
            fail_msg("reason '%s' has %zu categories, expected 1", want, hits);
    }
    for (size_t k = 0; k < s->n; k++) {
        /* Chinese (bytes >= 0x80) and then English words */
        int cjk = 0;
        for (const char *p = s->labels[k]; *p; p++)
            cjk |= (unsigned char)*p >= 0x80;
        assert_true(cjk);
        char last = s->labels[k][strlen(s->labels[k]) - 1];
        assert_true((last >= 'a' && last <= 'z') || (last >= 'A' && last <= 'Z'));
        int r, g, b, a;
        assert_int_equal(sscanf(s->colors[k], "%d,%d,%d,%d", &r, &g, &b, &a), 4);
        for (size_t j = 0; j < k; j++)
            assert_string_not_equal(s->colors[j], s->colors[k]);
    }
}

static void check_graduated(const sm_style_graduated *s)
{
    for (size_t k = 0; k < s->n; k++) {
        assert_true(s->breaks[k] < s->breaks[k + 1]);
        int r, g, b, a;
        assert_int_equal(sscanf(s->colors[k], "%d,%d,%d,%d", &r, &g, &b, &a), 4);
    }
}

static void test_graduated_styles(void **state)
{
    (void)state;
    const sm_style_graduated *sink = sm_style_sink(), *carbon = sm_style_carbon();
    check_graduated(sink);
    check_graduated(carbon);
    assert_string_equal(sink->title, "t CO2e/ha/yr");
    assert_string_equal(carbon->title, "t C/ha");
    /* README: sink < −1, −1–0, 0–2, 2–5, 5–10, ≥ 10; carbon 0–5 ... 60–100, ≥ 100 */
    static const double sb[] = {-1, 0, 2, 5, 10};
    assert_int_equal(sink->n, 6);
    for (int k = 0; k < 5; k++)
        assert_true(sink->breaks[k + 1] == sb[k]);
    static const double cb[] = {0, 5, 10, 20, 40, 60, 100};
    assert_int_equal(carbon->n, 7);
    for (int k = 0; k < 7; k++)
        assert_true(carbon->breaks[k] == cb[k]);
    char buf[96];
    sm_qml_range_label(-1e6, -1, "t", buf, sizeof buf);
    assert_string_equal(buf, "< -1 t");
    sm_qml_range_label(2, 5, "t", buf, sizeof buf);
    assert_string_equal(buf, "2 to 5 t");
    sm_qml_range_label(100, 1e6, "t C/ha", buf, sizeof buf);
    assert_string_equal(buf, "\xe2\x89\xa5 100 t C/ha");
    char expr[160];
    sm_style_carbon_expression("2024a", expr, sizeof expr);
    assert_string_equal(expr, "(coalesce(\"c_2024a\", 0) + coalesce(\"cp_2024a\", 0)) / \"area_ha\"");
}

static void test_files(void **state)
{
    (void)state;
    char dir[] = "/tmp/sinkmap-qml-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    sm_context *ctx = sm_context_create();
    assert_non_null(ctx);
    const sm_style_categorized *c = sm_style_changes();
    snprintf(path, sizeof path, "%s/changes.qml", dir);
    assert_int_equal(sm_qml_write_categorized(ctx, path, "reason", c->values, c->labels, c->colors, c->n), SM_OK);
    char *x = slurp(path);
    assert_int_equal(count(x, "<category "), 7);
    assert_int_equal(count(x, "<symbol "), 7);
    assert_non_null(strstr(x, "type=\"categorizedSymbol\" attr=\"reason\""));
    assert_non_null(strstr(x, "value=\"forest_below_min;forest_drop;dnbr\""));
    free(x);
    remove(path);
    /* expressions with quotes and comparison signs come out escaped */
    static const double br[] = {0, 1, 2};
    static const char *const col[] = {"1,2,3,255", "4,5,6,255"};
    snprintf(path, sizeof path, "%s/g.qml", dir);
    assert_int_equal(sm_qml_write_graduated(ctx, path, "\"a\" < 3 & \"b\"", "u", br, col, 2), SM_OK);
    x = slurp(path);
    assert_non_null(strstr(x, "attr=\"&quot;a&quot; &lt; 3 &amp; &quot;b&quot;\""));
    assert_int_equal(count(x, "<range "), 2);
    assert_non_null(strstr(x, "label=\"1 to 2 u\""));
    free(x);
    remove(path);
    snprintf(path, sizeof path, "%s/none/x.qml", dir);
    assert_int_equal(sm_qml_write_confidence(ctx, path), SM_ERR_IO);
    assert_non_null(strstr(sm_context_message(ctx), "none/x.qml: cannot create"));
    sm_context_destroy(ctx);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_changes_cover_every_reason),
        cmocka_unit_test(test_graduated_styles),
        cmocka_unit_test(test_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
