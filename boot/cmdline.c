/*
 * cmdline.c — the kernel command line from \cmdline.txt on the boot volume.
 *
 * The file is optional (absent = empty line).  Its bytes are taken as
 * ASCII: line breaks and tabs become spaces, other control bytes and
 * non-ASCII bytes are dropped, trailing whitespace is stripped, and the
 * result is capped at BOOT_CMDLINE_MAX-1 characters (with a warning).
 */
#include "boot.h"

void cmdline_read(EFI_FILE_HANDLE root, char out[BOOT_CMDLINE_MAX])
{
    void *buf;
    UINTN size, n = 0;
    EFI_STATUS st = file_read_all(root, L"\\cmdline.txt", &buf, &size);

    out[0] = 0;
    if (st == EFI_NOT_FOUND) {
        blog(L"no \\cmdline.txt, empty command line");
        return;
    }
    if (EFI_ERROR(st)) {
        blog(L"warning: ignoring unreadable \\cmdline.txt");
        return;
    }
    const uint8_t *p = buf;
    BOOLEAN truncated = FALSE;
    for (UINTN i = 0; i < size; i++) {
        uint8_t c = p[i];
        if (c == '\n' || c == '\r' || c == '\t')
            c = ' ';
        if (c < 0x20 || c > 0x7e)
            continue;
        if (n >= BOOT_CMDLINE_MAX - 1) {
            truncated = TRUE;
            break;
        }
        out[n++] = (char)c;
    }
    while (n > 0 && out[n - 1] == ' ')
        n--;
    out[n] = 0;
    uefi_call_wrapper(BS->FreePool, 1, buf);
    if (truncated)
        blog(L"warning: \\cmdline.txt longer than %d bytes, truncated",
             BOOT_CMDLINE_MAX - 1);
    blog(L"cmdline: \"%a\"", out);
}
