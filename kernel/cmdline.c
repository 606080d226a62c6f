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

int cmdline_parse(const char *s, struct cmdline *out)
{
    for (size_t i = 0; i < sizeof *out; i++)
        ((char *)out)[i] = 0;
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
        else add_error(out, "unknown word", w, n);
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
        list = *e ? e + 1 : e;
    }
    return 0;
}
