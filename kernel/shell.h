/* shell.h — the serial console prompt. */
#ifndef KERNEL_SHELL_H
#define KERNEL_SHELL_H

/* Reads commands from COM1 until `poweroff` or end of input (Ctrl-D, byte
 * 0x04), then returns. */
void shell_run(void);
/* Run one command line as if typed (tests, the gcbench word). */
void shell_exec(const char *line);

/* Commands are registered in a table; later subsystems add theirs here. */
struct shell_cmd {
    const char *name;
    const char *help;
    void (*fn)(int argc, char **argv);
};
#define SHELL_CMD(cname, chelp, cfn)                                                     \
    static const struct shell_cmd shell_cmd_##cfn __attribute__((section(".shellcmds"),  \
                                                                 used, aligned(8))) = {  \
        cname, chelp, cfn}

#endif
