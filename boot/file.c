/*
 * file.c — reading whole files from the volume the loader came from.
 *
 * LoadedImage->DeviceHandle is the partition/volume BOOTX64.EFI was read
 * from (the ESP on disk, or the El Torito image on a CD); its
 * SimpleFileSystem protocol gives the root directory.  Files are read whole
 * into pool memory: the size comes from EFI_FILE_INFO, and a short read is
 * an error (never a silently truncated kernel).
 */
#include "boot.h"

EFI_STATUS file_open_boot_volume(EFI_HANDLE image, EFI_FILE_HANDLE *root)
{
    EFI_LOADED_IMAGE *li = NULL;
    EFI_FILE_IO_INTERFACE *fs = NULL;
    EFI_STATUS st;

    st = uefi_call_wrapper(BS->HandleProtocol, 3, image, &LoadedImageProtocol,
                           (void **)&li);
    if (EFI_ERROR(st)) {
        berror(L"no LoadedImage protocol: %r", st);
        return st;
    }
    st = uefi_call_wrapper(BS->HandleProtocol, 3, li->DeviceHandle,
                           &FileSystemProtocol, (void **)&fs);
    if (EFI_ERROR(st)) {
        berror(L"boot device has no file system: %r", st);
        return st;
    }
    st = uefi_call_wrapper(fs->OpenVolume, 2, fs, root);
    if (EFI_ERROR(st))
        berror(L"cannot open boot volume: %r", st);
    return st;
}

EFI_STATUS file_read_all(EFI_FILE_HANDLE root, const CHAR16 *path,
                         void **buf, UINTN *size)
{
    EFI_FILE_HANDLE f;
    EFI_STATUS st;
    EFI_FILE_INFO *info;
    UINTN infosz = SIZE_OF_EFI_FILE_INFO + 512;
    UINT8 infobuf[SIZE_OF_EFI_FILE_INFO + 512] __attribute__((aligned(8)));

    *buf = NULL;
    *size = 0;
    st = uefi_call_wrapper(root->Open, 5, root, &f, (CHAR16 *)path,
                           EFI_FILE_MODE_READ, 0ull);
    if (EFI_ERROR(st)) {
        /* EFI_NOT_FOUND is worded by the caller (optional vs required) */
        if (st != EFI_NOT_FOUND)
            berror(L"cannot open %s: %r", path, st);
        return st;
    }

    info = (EFI_FILE_INFO *)infobuf;
    st = uefi_call_wrapper(f->GetInfo, 4, f, &GenericFileInfo, &infosz, info);
    if (EFI_ERROR(st)) {
        berror(L"cannot stat %s: %r", path, st);
        goto out;
    }
    if (info->Attribute & EFI_FILE_DIRECTORY) {
        berror(L"%s is a directory", path);
        st = EFI_LOAD_ERROR;
        goto out;
    }

    UINTN want = info->FileSize;
    void *p = NULL;
    st = uefi_call_wrapper(BS->AllocatePool, 3, EfiLoaderData,
                           want ? want : 1, &p);
    if (EFI_ERROR(st)) {
        berror(L"out of memory reading %s (%ld bytes): %r", path, (UINT64)want, st);
        goto out;
    }
    UINTN got = want;
    st = uefi_call_wrapper(f->Read, 3, f, &got, p);
    if (EFI_ERROR(st) || got != want) {
        if (!EFI_ERROR(st))
            st = EFI_LOAD_ERROR;
        berror(L"cannot read %s (%ld of %ld bytes): %r", path, (UINT64)got,
               (UINT64)want, st);
        uefi_call_wrapper(BS->FreePool, 1, p);
        goto out;
    }
    *buf = p;
    *size = want;
out:
    uefi_call_wrapper(f->Close, 1, f);
    return st;
}
