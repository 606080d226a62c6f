/*
 * first_call.c — bad input as a process's FIRST allocator call, before the
 * library has initialised itself (run.py runs it under the preload).
 *
 *   first_call free      free() of a static variable: one "gomalloc: kfree: ..." line
 *   first_call max       malloc(SIZE_MAX): NULL, errno ENOMEM, silent
 *
 * Prints "first_call: <mode> returned" on stdout after the call (with
 * write(2): stdio would allocate) and exits 0; exits 3 when malloc did
 * not fail with ENOMEM.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static long not_heap;

static void say(const char *mode)
{
    char line[80] = "first_call: ";
    strcat(line, mode);
    strcat(line, " returned\n");
    ssize_t w = write(1, line, strlen(line));
    (void)w;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    if (!strcmp(mode, "free")) {
        void *volatile bad = &not_heap; /* the compiler must not see it */
        free(bad);
    } else if (!strcmp(mode, "max")) {
        volatile size_t n = SIZE_MAX;
        errno = 0;
        void *p = malloc(n);
        if (p || errno != ENOMEM)
            return 3;
    } else {
        return 2;
    }
    say(mode);
    return 0;
}
