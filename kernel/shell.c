/*
 * shell.c — a line-oriented prompt on the serial console.
 *
 * Reads bytes by polling COM1 (halting between polls would need the UART
 * interrupt; polling with pause is fine for a debug console), echoes them,
 * handles backspace, and runs the command named by the first word.
 * Commands live in the .shellcmds section (SHELL_CMD), so each subsystem
 * registers its own next to its code.  After each command the shell zeroes
 * the stack its frames used (stack_scrub), so a dead frame's copy of an
 * object address cannot keep the object alive through the collector's
 * conservative scan of this stack (`drop` then `gc` must free it).  End of input — byte 0x04 (Ctrl-D),
 * which `make run` sends when its stdin ends — powers off.
 */
#include "shell.h"
#include "cmdline.h"
#include "cpu.h"
#include "fmt.h"
#include "frame.h"
#include "gcshell.h"
#include "kernel.h"
#include "kinit.h"
#include "ktest.h"
#include "serial.h"

extern const struct shell_cmd __shellcmds_start[], __shellcmds_end[];
static int done;

static int split(char *line, char **argv, int max)
{
    int argc = 0;
    while (*line && argc < max) {
        while (*line == ' ' || *line == '\t')
            *line++ = 0;
        if (!*line)
            break;
        argv[argc++] = line;
        while (*line && *line != ' ' && *line != '\t')
            line++;
    }
    return argc;
}

static void cmd_help(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    for (const struct shell_cmd *c = __shellcmds_start; c < __shellcmds_end; c++)
        kprintf("  %-10s %s\n", c->name, c->help);
}
SHELL_CMD("help", "list commands", cmd_help);

static void cmd_poweroff(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    done = 1;
}
SHELL_CMD("poweroff", "power off (QEMU exits; status = self-test verdict)", cmd_poweroff);

static void cmd_test(int argc, char **argv)
{
    char line[160];
    ksnprintf(line, sizeof line, "test=%s", argc > 1 ? argv[1] : "quick");
    struct cmdline c;
    if (cmdline_parse(line, &c)) {
        kprintf("%s\n", c.errors[0]);
        return;
    }
    c.failtest = kernel_cmdline.failtest;
    ktest_run(&c);
}
SHELL_CMD("test", "run self-tests: test [quick|all|list|NAME[,NAME]]", cmd_test);

static void cmd_mem(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    int n;
    const struct mem_range *r = kernel_usable_ranges(&n);
    for (int i = 0; i < n; i++)
        kprintf("  usable [0x%012lx - 0x%012lx) %lu KiB\n", r[i].start, r[i].end,
                (r[i].end - r[i].start) >> 10);
    kprintf("  frames: %lu free of %lu\n", frame_free_count(), frame_total());
}
SHELL_CMD("mem", "physical memory: usable ranges and free frames", cmd_mem);

static void run_line(char *line)
{
    char *argv[16];
    int argc = split(line, argv, 16);
    if (argc == 0)
        return;
    for (const struct shell_cmd *c = __shellcmds_start; c < __shellcmds_end; c++)
        if (!__builtin_strcmp(c->name, argv[0])) {
            c->fn(argc, argv);
            stack_scrub(); /* its dead frames: see the essay */
            return;
        }
    kprintf("unknown command '%s' (try help)\n", argv[0]);
}

void shell_exec(const char *line)
{
    char buf[256];
    ksnprintf(buf, sizeof buf, "%s", line);
    run_line(buf);
}

void shell_run(void)
{
    char line[256];
    int n = 0;
    done = 0;
    kprintf("gokernel shell: type 'help'; Ctrl-D or 'poweroff' ends\n"
            "  heap playground: alloc 48 1000, heapmap, drop 1, gc, heapmap "
            "(also obj, span, free, append, gogc, gctrace)\n> ");
    while (!done) {
        int ch = serial_getc_nonblock();
        if (ch < 0) {
            kernel_idle_step(); /* halt until the next tick; sysmon runs */
            continue;
        }
        if (ch == 0x04) { /* end of input */
            kprintf("\n");
            break;
        }
        if (ch == '\r' || ch == '\n') {
            kprintf("\n");
            line[n] = 0;
            run_line(line);
            n = 0;
            if (!done)
                kprintf("> ");
        } else if (ch == 0x7f || ch == 0x08) {
            if (n > 0) {
                n--;
                kprintf("\b \b");
            }
        } else if (ch >= 0x20 && n < (int)sizeof line - 1) {
            line[n++] = (char)ch;
            kprintf("%c", ch);
        }
    }
    kernel_idle_end();
}
