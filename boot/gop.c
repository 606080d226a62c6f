/*
 * gop.c — the screen the kernel inherits: the Graphics Output Protocol's
 * current mode, read before ExitBootServices.
 *
 * The loader keeps the mode the firmware chose (what the firmware's own
 * console already uses, so it is known to work on this monitor) and only
 * describes it in the bootinfo's fb_* fields (bootinfo.h).  After
 * ExitBootServices the GOP's functions are gone but its linear framebuffer
 * stays, which is all the kernel draws into.  A mode whose pixels are not
 * 32-bit RGB/BGR (PixelBitMask, or BltOnly: no framebuffer at all) is
 * refused with a line here; the kernel then runs without a screen.
 */
#include "boot.h"

static const CHAR16 *format_name(UINT32 f)
{
    switch (f) {
    case PixelRedGreenBlueReserved8BitPerColor: return L"RGB";
    case PixelBlueGreenRedReserved8BitPerColor: return L"BGR";
    case PixelBitMask: return L"bit mask";
    case PixelBltOnly: return L"Blt only";
    default: return L"unknown";
    }
}

void gop_query(struct bootinfo *bi)
{
    EFI_GRAPHICS_OUTPUT_PROTOCOL *gop = NULL;
    bi->fb_format = BOOT_FB_NONE;
    bi->fb_gop_format = BOOT_FB_NO_GOP;
    EFI_STATUS st = uefi_call_wrapper(BS->LocateProtocol, 3, &GraphicsOutputProtocol, NULL,
                                      (void **)&gop);
    if (EFI_ERROR(st) || !gop || !gop->Mode || !gop->Mode->Info) {
        blog(L"gop: no Graphics Output Protocol (%r): the kernel has no screen", st);
        return;
    }
    EFI_GRAPHICS_OUTPUT_MODE_INFORMATION *info = gop->Mode->Info;
    UINT32 f = info->PixelFormat;
    bi->fb_gop_format = f;
    if (f != PixelRedGreenBlueReserved8BitPerColor && f != PixelBlueGreenRedReserved8BitPerColor) {
        blog(L"gop: mode %d is %dx%d with pixel format %d (%s): not supported, "
             L"the kernel has no screen", (int)gop->Mode->Mode, (int)info->HorizontalResolution,
             (int)info->VerticalResolution, (int)f, format_name(f));
        return;
    }
    bi->fb_phys = gop->Mode->FrameBufferBase;
    bi->fb_size = gop->Mode->FrameBufferSize;
    bi->fb_width = info->HorizontalResolution;
    bi->fb_height = info->VerticalResolution;
    bi->fb_stride = info->PixelsPerScanLine;
    bi->fb_format = f == PixelRedGreenBlueReserved8BitPerColor ? BOOT_FB_RGBX : BOOT_FB_BGRX;
    blog(L"gop: mode %d, %dx%d %s, %d pixels per scan line, framebuffer 0x%lx (%ld KiB)",
         (int)gop->Mode->Mode, (int)bi->fb_width, (int)bi->fb_height, format_name(f),
         (int)bi->fb_stride, bi->fb_phys, bi->fb_size >> 10);
}
