/* cmdline.c — parse the kernel command line; see cmdline.h for the words. */
#include "cmdline.h"
#include "fmt.h"

#include <stddef.h>

static int word_eq(const char *w, size_t n, const char *lit)
{
    size_t i = 0;
    for (; i < n && lit[i]; i++)
        if (w[i] != lit[i])
            return 0;
    return i == n && lit[i] == 0;
}

static void add_error(struct cmdline *c, const char *what, const char *w, size_t n)
{
    if (c->nerrors < CMDLINE_MAX_ERRORS)
        ksnprintf(c->errors[c->nerrors], sizeof c->errors[0], "cmdline: %s '%.*s'", what,
                  (int)(n > 60 ? 60 : n), w);
    c->nerrors++;
}

static void parse_test(struct cmdline *c, const char *w, size_t n)
{
    const char *v = w + 5;
    size_t vn = n - 5;
    if (word_eq(v, vn, "quick")) c->test = TEST_QUICK;
    else if (word_eq(v, vn, "all")) c->test = TEST_ALL;
    else if (word_eq(v, vn, "none")) c->test = TEST_NONE;
    else if (word_eq(v, vn, "list")) c->test = TEST_LIST;
    else if (vn == 0 || vn >= CMDLINE_NAMES_MAX || v[0] == ',' || v[vn - 1] == ',')
        add_error(c, "bad value in", w, n);
    else {
        c->test = TEST_NAMED;
        for (size_t i = 0; i < vn; i++)
            c->test_names[i] = v[i];
        c->test_names[vn] = 0;
    }
}

/* N with an optional K/M/G suffix (powers of 1024); 0 on error. */
static unsigned long long parse_size(const char *v, size_t n)
{
    unsigned long long x = 0;
    size_t i = 0;
    for (; i < n && v[i] >= '0' && v[i] <= '9'; i++) {
        if (x > (~0ull - 9) / 10)
            return 0;
        x = x * 10 + (unsigned long long)(v[i] - '0');
    }
    if (i == 0)
        return 0;
    if (i + 1 == n) {
        int sh = v[i] == 'K' || v[i] == 'k' ? 10 : v[i] == 'M' || v[i] == 'm' ? 20
               : v[i] == 'G' || v[i] == 'g' ? 30 : -1;
        if (sh < 0 || x > (~0ull >> sh))
            return 0;
        return x << sh;
    }
    return i == n ? x : 0;
}

/* A whole number in [0, max] (no suffix); -1 on error. */
static long long parse_num(const char *v, size_t n, unsigned long long max)
{
    unsigned long long x = 0;
    if (n == 0 || n > 12)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return -1;
        x = x * 10 + (unsigned long long)(v[i] - '0');
    }
    return x > max ? -1 : (long long)x;
}

/* The heap profile's words; 1 if w was one of them. */
static int parse_pprof_word(struct cmdline *c, const char *w, size_t n)
{
    long long v;
    if (n >= 15 && word_eq(w, 15, "memprofilerate=")) {
        if ((v = parse_num(w + 15, n - 15, 999999999999ull)) < 0)
            add_error(c, "bad value in", w, n);
        else {
            c->memprofilerate_set = 1;
            c->memprofilerate = (unsigned long long)v;
        }
    } else if (word_eq(w, n, "pprof")) {
        c->pprof = 1;
    } else if (word_eq(w, n, "pprofwork")) {
        c->pprofwork = 1;
    } else {
        return 0;
    }
    return 1;
}

int cmdline_parse_rate(const char *s, unsigned long long *out)
{
    size_t n = 0;
    while (s[n])
        n++;
    long long v = parse_num(s, n, 999999999999ull);
    if (v < 0)
        return 0;
    *out = (unsigned long long)v;
    return 1;
}

/* The collector's words; 1 if w was one of them. */
static int parse_gc_word(struct cmdline *c, const char *w, size_t n)
{
    long long v;
    if (n > 5 && word_eq(w, 5, "gogc=")) {
        v = word_eq(w + 5, n - 5, "off") ? -1 : parse_num(w + 5, n - 5, 100000);
        if (v < 0 && !word_eq(w + 5, n - 5, "off"))
            add_error(c, "bad value in", w, n);
        else {
            c->gogc_set = 1;
            c->gogc = (int)v;
        }
    } else if (n > 8 && word_eq(w, 8, "gctrace=")) {
        if ((v = parse_num(w + 8, n - 8, 2)) < 0)
            add_error(c, "bad value in", w, n);
        else
            c->gctrace = (int)v;
    } else if (n > 12 && word_eq(w, 12, "gccheckmark=")) {
        if ((v = parse_num(w + 12, n - 12, 1)) < 0)
            add_error(c, "bad value in", w, n);
        else
            c->gccheckmark = (int)v;
    } else if (n > 15 && word_eq(w, 15, "gcstoptheworld=")) {
        if ((v = parse_num(w + 15, n - 15, 1)) < 0)
            add_error(c, "bad value in", w, n);
        else
            c->gcstoptheworld = (int)v;
    } else if (n > 10 && word_eq(w, 10, "gcclobber=")) {
        if ((v = parse_num(w + 10, n - 10, 1)) < 0)
            add_error(c, "bad value in", w, n);
        else
            c->gcclobber = (int)v;
    } else if (n > 8 && word_eq(w, 8, "forcegc=")) {
        if ((v = parse_num(w + 8, n - 8, 86400)) <= 0)
            add_error(c, "bad value in", w, n);
        else
            c->forcegc = (unsigned long long)v;
    } else if (n > 5 && word_eq(w, 5, "idle=")) {
        if ((v = parse_num(w + 5, n - 5, 86400)) < 0)
            add_error(c, "bad value in", w, n);
        else
            c->idle = (unsigned long long)v;
    } else if (word_eq(w, n, "gc")) {
        c->gc = 1;
    } else if (word_eq(w, n, "gcbench")) {
        c->gcbench = 1;
        c->gcbench_which = "all";
    } else if (n > 8 && word_eq(w, 8, "gcbench=")) {
        static const char *const parts[5] = {"pause", "stop", "churn", "mutator", "all"};
        c->gcbench_which = 0;
        for (int i = 0; i < 5; i++)
            if (word_eq(w + 8, n - 8, parts[i]))
                c->gcbench_which = parts[i];
        if (!c->gcbench_which)
            add_error(c, "bad value in", w, n);
        c->gcbench = c->gcbench_which != 0;
    } else if ((n >= 5 && word_eq(w, 5, "gogc=")) || (n >= 8 && word_eq(w, 8, "gctrace=")) ||
               (n >= 8 && word_eq(w, 8, "forcegc=")) || (n >= 5 && word_eq(w, 5, "idle=")) ||
               (n >= 12 && word_eq(w, 12, "gccheckmark=")) ||
               (n >= 10 && word_eq(w, 10, "gcclobber=")) ||
               (n >= 15 && word_eq(w, 15, "gcstoptheworld="))) {
        add_error(c, "bad value in", w, n);
    } else {
        return 0;
    }
    return 1;
}

int cmdline_parse(const char *s, struct cmdline *out)
{
    for (size_t i = 0; i < sizeof *out; i++)
        ((char *)out)[i] = 0;
    out->gcstoptheworld = -1;
    while (s && *s) {
        while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
            s++;
        if (!*s)
            break;
        const char *w = s;
        while (*s && *s != ' ' && *s != '\t' && *s != '\n' && *s != '\r')
            s++;
        size_t n = (size_t)(s - w);
        if (n >= 5 && word_eq(w, 5, "test="))
            parse_test(out, w, n);
        else if (word_eq(w, n, "failtest")) out->failtest = 1;
        else if (word_eq(w, n, "stats")) out->stats = 1;
        else if (word_eq(w, n, "classes")) out->classes = 1;
        else if (word_eq(w, n, "heapmap")) out->heapmap = 1;
        else if (word_eq(w, n, "shell")) out->shell = 1;
        else if (word_eq(w, n, "halt")) out->halt = 1;
        else if (word_eq(w, n, "cpus")) out->cpus = 1;
        else if (word_eq(w, n, "bench")) out->bench = 1;
        else if (word_eq(w, n, "hotsplit")) out->hotsplit = 1;
        else if (word_eq(w, n, "segcache")) out->segcache = 1;
        else if (word_eq(w, n, "stack=segmented")) out->stack_segmented = 1;
        else if (word_eq(w, n, "stack=contiguous")) out->stack_segmented = 0;
        else if (n > 9 && word_eq(w, 9, "maxstack=")) {
            out->maxstack = parse_size(w + 9, n - 9);
            if (out->maxstack < 4096)
                add_error(out, "bad value in", w, n);
        }
        else if (n >= 6 && word_eq(w, 6, "stack="))
            add_error(out, "bad value in", w, n);
        else if (word_eq(w, n, "fbcon=on")) out->fbcon_off = 0;
        else if (word_eq(w, n, "fbcon=off")) out->fbcon_off = 1;
        else if (n >= 6 && word_eq(w, 6, "fbcon="))
            add_error(out, "bad value in", w, n);
        else if (!parse_gc_word(out, w, n) && !parse_pprof_word(out, w, n))
            add_error(out, "unknown word", w, n);
    }
    return out->nerrors;
}

int cmdline_list_has(const char *list, const char *name)
{
    while (*list) {
        const char *e = list;
        while (*e && *e != ',')
            e++;
        size_t i = 0;
        while (list + i < e && name[i] && list[i] == name[i])
            i++;
        if (list + i == e && name[i] == 0)
            return 1;
        if (e > list && e[-1] == '*' && list + i == e - 1) /* prefix* */
            return 1;
        list = *e ? e + 1 : e;
    }
    return 0;
}
