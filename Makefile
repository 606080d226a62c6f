# gokernel — Go's allocator design on bare-metal x86-64.
#
#   make            build the loader, the kernel and the boot image (build/esp.img)
#   make run        boot it in QEMU, serial console on this terminal
#   make test       host unit tests + the QEMU boot matrix; ends with "N passed, N failed"
#   make iso        build/gokernel.iso (hybrid: El Torito EFI for a CD, GPT for a disk/USB stick)
#   make usb        build/gokernel.img: a GPT disk image for a USB stick (see README.md)
#   make debug      QEMU paused with a GDB stub on :1234 (see README.md)
#   make clean
#   make fuzz       run the allocator fuzzer (clang, libFuzzer) for FUZZ_S seconds
#   make pprof      boot a workload, print go tool pprof -top of its heap profile
#
# Variables: CPUS MEM CMDLINE (make run / debug / pprof), DISPLAY=1|gtk|sdl (make run: a QEMU
# window showing the screen console), ACCEL (run / debug / test: auto,
# kvm or tcg), TEST_CONFIGS, KTEST_FAIL (make test), USB_OUT (make usb), FUZZ_S (make fuzz),
# PPROF_FLAGS GO (make pprof).

BUILD   ?= build
CC      ?= gcc
OBJCOPY ?= objcopy
PYTHON  ?= python3
QEMU    ?= qemu-system-x86_64
OVMF_CODE ?= /usr/share/OVMF/OVMF_CODE_4M.fd
OVMF_VARS ?= /usr/share/OVMF/OVMF_VARS_4M.fd

CPUS    ?= 4
MEM     ?= 1G
CMDLINE ?= test=quick stats shell

# V=1 shows full commands
V ?= 0
ifeq ($(V),0)
Q := @
say = @printf '  %-7s %s\n' $(1) $(2);
else
Q :=
say :=
endif

WARN := -Wall -Wextra -Werror
DEPFLAGS = -MMD -MP

.PHONY: all kernel loader image iso usb run debug test host-test qemu-test clean deps FORCE
all: image

# keep intermediate objects (host test objects are otherwise deleted and rebuilt)
.SECONDARY:

# ---------------------------------------------------------------- dependencies
# Installs missing Debian packages (qemu, ovmf, gnu-efi, mtools, xorriso).
DEPS_STAMP := $(BUILD)/.deps-ok
deps: $(DEPS_STAMP)
$(DEPS_STAMP): scripts/install-deps.sh
	@bash scripts/install-deps.sh
	@mkdir -p $(BUILD) && touch $@

# ---------------------------------------------------------------- kernel
# alloc/ builds into the kernel and into the host library; mksizeclasses.c is
# a host-only generator.
ALLOC_SRCS   := $(filter-out alloc/mksizeclasses.c,$(wildcard alloc/*.c))
KERNEL_CSRCS := $(wildcard kernel/*.c) $(ALLOC_SRCS) $(wildcard tests/kernel/*.c)
KERNEL_ASRCS := $(wildcard kernel/*.S)
KERNEL_OBJS  := $(patsubst %.c,$(BUILD)/k/%.o,$(KERNEL_CSRCS)) \
                $(patsubst %.S,$(BUILD)/k/%.o,$(KERNEL_ASRCS))

KERNEL_CFLAGS := -std=gnu11 -O2 -g $(WARN) -ffreestanding -fno-stack-protector \
	-fno-pic -fno-pie -mno-red-zone -mcmodel=kernel -mgeneral-regs-only \
	-fno-omit-frame-pointer -fno-optimize-sibling-calls -fno-strict-aliasing \
	-I. -Ikernel -Ialloc -DGOKERNEL_KERNEL=1 -DPLAT_INLINE_HEADER='"kernel/platform_inline.h"' $(KCFLAGS)
KERNEL_LDFLAGS := -nostdlib -static -no-pie -Wl,-T,linker.ld -Wl,-z,max-page-size=4096 \
	-Wl,--build-id=none -Wl,-z,noexecstack

kernel: $(BUILD)/kernel.elf
$(BUILD)/kernel.elf: $(KERNEL_OBJS) linker.ld
	$(call say,LD,$@)$(CC) $(KERNEL_CFLAGS) $(KERNEL_LDFLAGS) -o $@ $(KERNEL_OBJS) -lgcc

# task code: every function checks its frame against the task's stack guard
$(BUILD)/k/%_split.o: KERNEL_CFLAGS += -fsplit-stack
$(BUILD)/k/%.o: %.c
	@mkdir -p $(dir $@)
	$(call say,CC,$<)$(CC) $(KERNEL_CFLAGS) $(DEPFLAGS) -c $< -o $@
$(BUILD)/k/%.o: %.S
	@mkdir -p $(dir $@)
	$(call say,AS,$<)$(CC) $(KERNEL_CFLAGS) $(DEPFLAGS) -c $< -o $@

# The same kernel at alloc/'s debug level (alloc/debug.h: span recounts,
# free-slot poisoning): build/kernel-debug.elf, booted by one QEMU
# configuration from build/esp-debug.img.
KDEBUG_OBJS := $(patsubst $(BUILD)/k/%,$(BUILD)/kd/%,$(KERNEL_OBJS))
$(BUILD)/kernel-debug.elf: $(KDEBUG_OBJS) linker.ld
	$(call say,LD,$@)$(CC) $(KERNEL_CFLAGS) $(KERNEL_LDFLAGS) -o $@ $(KDEBUG_OBJS) -lgcc
$(BUILD)/kd/%_split.o: KERNEL_CFLAGS += -fsplit-stack
$(BUILD)/kd/%.o: %.c
	@mkdir -p $(dir $@)
	$(call say,CC-DBG,$<)$(CC) $(KERNEL_CFLAGS) -DALLOC_DEBUG=1 $(DEPFLAGS) -c $< -o $@
$(BUILD)/kd/%.o: %.S
	@mkdir -p $(dir $@)
	$(call say,AS-DBG,$<)$(CC) $(KERNEL_CFLAGS) -DALLOC_DEBUG=1 $(DEPFLAGS) -c $< -o $@

# ---------------------------------------------------------------- UEFI loader
EFI_INC  := /usr/include/efi
EFI_LIB  := /usr/lib
BOOT_SRCS := $(wildcard boot/*.c)
BOOT_OBJS := $(patsubst %.c,$(BUILD)/b/%.o,$(BOOT_SRCS))
BOOT_CFLAGS := -std=gnu11 -O2 $(WARN) -fpic -fshort-wchar -mno-red-zone -ffreestanding \
	-fno-stack-protector -fno-strict-aliasing -mgeneral-regs-only \
	-DEFI_FUNCTION_WRAPPER -DGNU_EFI_USE_MS_ABI -I$(EFI_INC) -I$(EFI_INC)/x86_64 -I. -Iboot

loader: $(BUILD)/BOOTX64.EFI
$(BUILD)/b/%.o: %.c $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(call say,CC-EFI,$<)$(CC) $(BOOT_CFLAGS) $(DEPFLAGS) -c $< -o $@
$(BUILD)/loader.so: $(BOOT_OBJS)
	$(call say,LD-EFI,$@)ld -nostdlib -znocombreloc -shared -Bsymbolic -T $(EFI_LIB)/elf_x86_64_efi.lds \
		$(EFI_LIB)/crt0-efi-x86_64.o $(BOOT_OBJS) -o $@ -L$(EFI_LIB) -lefi -lgnuefi
$(BUILD)/BOOTX64.EFI: $(BUILD)/loader.so
	$(call say,EFI,$@)$(OBJCOPY) -j .text -j .sdata -j .data -j .dynamic -j .dynsym -j .rel -j .rela \
		-j .rel.* -j .rela.* -j .reloc --target efi-app-x86_64 $< $@

# ---------------------------------------------------------------- boot image
# build/esp.img: FAT image with \EFI\BOOT\BOOTX64.EFI, \kernel.elf and
# \cmdline.txt (the default command line; QEMU's -fw_cfg overrides it per boot).
DEFAULT_CMDLINE ?= test=quick stats shell
image: $(BUILD)/esp.img
$(BUILD)/cmdline.txt: FORCE
	@mkdir -p $(BUILD)
	@echo '$(DEFAULT_CMDLINE)' > $@.tmp
	@cmp -s $@.tmp $@ || mv $@.tmp $@; rm -f $@.tmp
$(BUILD)/esp.img: $(BUILD)/BOOTX64.EFI $(BUILD)/kernel.elf $(BUILD)/cmdline.txt iso/mkesp.sh $(DEPS_STAMP)
	$(Q)bash iso/mkesp.sh $@ $(BUILD)/BOOTX64.EFI $(BUILD)/kernel.elf $(BUILD)/cmdline.txt

$(BUILD)/esp-debug.img: $(BUILD)/BOOTX64.EFI $(BUILD)/kernel-debug.elf $(BUILD)/cmdline.txt iso/mkesp.sh $(DEPS_STAMP)
	$(Q)bash iso/mkesp.sh $@ $(BUILD)/BOOTX64.EFI $(BUILD)/kernel-debug.elf $(BUILD)/cmdline.txt

iso: $(BUILD)/gokernel.iso
$(BUILD)/gokernel.iso: $(BUILD)/esp.img iso/mkiso.sh
	$(Q)bash iso/mkiso.sh $@ $(BUILD)/esp.img

# build/gokernel.img: GPT disk image, one EFI system partition holding
# build/esp.img.  USB_OUT names another file; iso/mkusb.sh refuses any path
# that is not under build/ (it never writes a device: that is your dd).
USB_IMG := $(BUILD)/gokernel.img
usb: $(if $(USB_OUT),image,$(USB_IMG))
	$(if $(USB_OUT),$(Q)bash iso/mkusb.sh '$(USB_OUT)' $(BUILD)/esp.img,@:)
$(USB_IMG): $(BUILD)/esp.img iso/mkusb.sh
	$(Q)bash iso/mkusb.sh $@ $(BUILD)/esp.img

# ---------------------------------------------------------------- run / debug
# ACCEL (auto, kvm, tcg; empty is auto) reaches tests/qemu/run.py through the
# environment: run, debug and the test matrix print the accelerator first.
export ACCEL
# DISPLAY=1 (or gtk, sdl; only from make's command line: the environment's
# X $DISPLAY is not a request) opens QEMU's window on the screen console.
# make passes DISPLAY=1 on to the recipe's environment, hiding the X display,
# which is read here first (make's own environment) and handed on as
# GOK_X_DISPLAY.
RUN_DISPLAY := $(if $(filter command line,$(origin DISPLAY)),$(DISPLAY))
GOK_X_DISPLAY := $(if $(RUN_DISPLAY),$(shell printenv DISPLAY))
run: image
	@GOK_X_DISPLAY='$(GOK_X_DISPLAY)' $(PYTHON) tests/qemu/run.py --run $(if $(RUN_DISPLAY),--display '$(RUN_DISPLAY)') \
		--cpus $(CPUS) --mem $(MEM) --cmdline '$(CMDLINE)'

debug: image
	@$(PYTHON) tests/qemu/run.py --run --debug --cpus $(CPUS) --mem $(MEM) --cmdline '$(CMDLINE)'

# ---------------------------------------------------------------- heap profile
# make pprof: boot with the heap profile's workload (or CMDLINE=..., to which
# `pprof halt` is added), extract build/heap.pb from the serial log
# (build/pprof.log) and print go tool pprof -top of it (PPROF_FLAGS; default
# alloc_space, in-use after the workload is mostly collected).
GO          ?= go
PPROF_CMDLINE = $(if $(filter command line environment,$(origin CMDLINE)),$(CMDLINE) pprof halt,test=none pprofwork pprof halt)
PPROF_FLAGS ?= -sample_index=alloc_space
.PHONY: pprof
pprof: image
	@$(GO) version >/dev/null 2>&1 || { echo "make pprof: needs a working '$(GO)' for go tool pprof:" \
		"install Debian's golang-go (bash scripts/install-deps.sh, or sudo apt-get install golang-go)" >&2; exit 1; }
	@echo "make pprof: booting with '$(PPROF_CMDLINE)' (serial log: $(BUILD)/pprof.log)"
	@$(PYTHON) tests/qemu/run.py --run --cpus $(CPUS) --mem $(MEM) --cmdline '$(PPROF_CMDLINE)' \
		< /dev/null > $(BUILD)/pprof.log 2>&1 || { tail -20 $(BUILD)/pprof.log; exit 1; }
	@$(PYTHON) scripts/pprof_extract.py $(BUILD)/pprof.log $(BUILD)/heap.pb
	@$(GO) tool pprof -top $(PPROF_FLAGS) $(BUILD)/kernel.elf $(BUILD)/heap.pb

# ---------------------------------------------------------------- pictures
# make heapmap / make gcplot: ONE boot (build/pics.log, remade when the image
# is newer) runs PICS_CMDLINE, then the shell runs PICS_INPUT (a workload,
# `heapmap -f` and `stats -f`); scripts/heappics.py draws build/heapmap.png
# (every arena's pages) and build/gcplot.png (the collector per cycle) with
# gnuplot, then checks each is a real picture.
PICS_CMDLINE ?= test=gc_pacing_goal_per_cycle shell
PICS_INPUT   ?= alloc 24 60000\nalloc 300 6000\nalloc 3000 600\nalloc 20000 60\nalloc 100K 8 scan\nalloc 64 30000 scan\nalloc 1000 3000\ndrop 2\ndrop 6\ngc\nheapmap -f\nstats -f\n
.PHONY: heapmap gcplot
$(BUILD)/pics.log: $(BUILD)/esp.img
	@echo "make: booting with '$(PICS_CMDLINE)' and the shell workload (serial log: $@)"
	@printf '$(PICS_INPUT)' | $(PYTHON) tests/qemu/run.py --run --cpus $(CPUS) --mem $(MEM) \
		--cmdline '$(PICS_CMDLINE)' > $@.tmp 2>&1 || { tail -20 $@.tmp; exit 1; }
	@mv $@.tmp $@
heapmap gcplot: %: $(BUILD)/pics.log
	@command -v gnuplot >/dev/null || { echo "make $@: needs gnuplot: bash scripts/install-deps.sh" \
		"(Debian's gnuplot-nox)" >&2; exit 1; }
	@$(PYTHON) scripts/heappics.py $@ $< $(BUILD)/$@.png
	@$(PYTHON) scripts/heappics.py check $(BUILD)/$@.png

# ---------------------------------------------------------------- host tests
# Every tests/host/test_*.c is one binary, linked with alloc/, the portable
# kernel pieces and the Linux platform, under ASan and UBSan.  With the
# preload library's flat page map (the kernel tests the two-level one).
HOST_CFLAGS := -std=gnu11 -O1 -g $(WARN) -fsanitize=address,undefined \
	-fno-omit-frame-pointer -fno-sanitize-recover=undefined -I. -Ikernel -Ialloc -Itests/host \
	-DGOKERNEL_HOST=1 -DALLOC_DEBUG=1 -DPLAT_FLAT_PAGEMAP=1 -pthread
HOST_PORTABLE := kernel/fmt.c kernel/memmap.c kernel/cmdline.c
HOST_LIB_SRCS := $(ALLOC_SRCS) $(filter $(wildcard kernel/*.c),$(HOST_PORTABLE)) \
	$(filter-out $(wildcard tests/host/test_*.c),$(wildcard tests/host/*.c))
HOST_LIB_OBJS := $(patsubst %.c,$(BUILD)/h/%.o,$(HOST_LIB_SRCS))
HOST_TESTS    := $(patsubst tests/host/%.c,$(BUILD)/host/%,$(wildcard tests/host/test_*.c))

$(BUILD)/h/%.o: %.c
	@mkdir -p $(dir $@)
	$(call say,HOSTCC,$<)$(CC) $(HOST_CFLAGS) $(DEPFLAGS) -c $< -o $@
$(BUILD)/host/%: $(BUILD)/h/tests/host/%.o $(HOST_LIB_OBJS)
	@mkdir -p $(dir $@)
	$(call say,HOSTLD,$@)$(CC) $(HOST_CFLAGS) -o $@ $^ -lm

# The size-class generator (Go's mksizeclasses rules) and a check that the
# committed table is its output.
$(BUILD)/mksizeclasses: alloc/mksizeclasses.c
	@mkdir -p $(dir $@)
	$(call say,HOSTCC,$<)$(CC) -std=gnu11 -O1 $(WARN) -o $@ $<
sizeclasses: $(BUILD)/mksizeclasses
	$(BUILD)/mksizeclasses > alloc/sizeclasses.h

HOST_BINS := $(HOST_TESTS) $(if $(wildcard alloc/mksizeclasses.c),$(BUILD)/mksizeclasses)

# the fuzzer (make fuzz) and its corpus replay (adds to HOST_BINS)
include tests/fuzz/fuzz.mk
host-test: $(HOST_BINS)
	@$(MAKE) --no-print-directory lib $(PRELOAD_BINS)
	@SKIP_QEMU=1 $(PYTHON) tests/run_all.py

# ---------------------------------------------------------------- QEMU tests
qemu-test: image iso $(USB_IMG) $(BUILD)/esp-debug.img
	@$(PYTHON) tests/qemu/run.py --matrix '$(or $(TEST_CONFIGS),all)' $(if $(KTEST_FAIL),--inject-failure)
export KTEST_FAIL TEST_CONFIGS

test: deps
	@$(MAKE) --no-print-directory image iso $(USB_IMG) $(BUILD)/esp-debug.img $(HOST_BINS) lib $(PRELOAD_BINS)
	@$(PYTHON) tests/run_all.py

clean:
	rm -rf $(BUILD)

-include lib/lib.mk tests/bench/bench.mk
-include tests/bench/gcbench.mk
-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

# host allocator micro-benchmarks (bench-alloc, bench-callgrind)
-include tests/bench/alloc_bench.mk
