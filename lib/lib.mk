# lib/lib.mk — build/libgomalloc.so: alloc/ as a drop-in malloc (LD_PRELOAD).
# Included from the top Makefile (reuses BUILD, CC, ALLOC_SRCS, WARN, DEPFLAGS).
# -march=x86-64-v2: POPCNT inline (the sweeper counts bits; without it every
# popcount is a libgcc call, 4 % of W4).
#
#   make lib           build/libgomalloc.so
#   make preload-test  API unit tests + real programs under LD_PRELOAD (TAP)

# LIB_ALLOC_DIR: where alloc/'s sources come from (default alloc; e.g. a
# snapshot of a committed alloc/ to benchmark against the working tree).
LIB_ALLOC_DIR ?= alloc
LIB_SO   := $(BUILD)/libgomalloc.so
LIB_SRCS := $(filter-out %/mksizeclasses.c,$(wildcard $(LIB_ALLOC_DIR)/*.c)) kernel/fmt.c \
	lib/platform_linux.c lib/window_linux.c lib/preload.c
LIB_OBJS := $(patsubst %.c,$(BUILD)/lib/%.o,$(LIB_SRCS))
LIB_CFLAGS := -std=gnu11 -O2 -g $(WARN) -march=x86-64-v2 -fPIC -fvisibility=hidden -ftls-model=initial-exec \
	-fno-semantic-interposition -fno-builtin-malloc -fno-builtin-calloc -fno-builtin-realloc \
	-fno-builtin-free -fno-strict-aliasing -DPLAT_INLINE_HEADER='"lib/platform_inline.h"' -DGOKERNEL_HOST=1 \
	-Ilib -I$(LIB_ALLOC_DIR) -I. -Ikernel $(LIB_LTO_FLAGS) $(LIB_EXTRA_CFLAGS)
# LTO (default on; LIB_LTO=0 disables).  malloc/free/calloc/new inline the
# kmalloc/kfree fast paths from alloc/malloc_fast.h with or without it.
LIB_LTO ?= 1
LIB_LTO_FLAGS := $(if $(filter 1,$(LIB_LTO)),-flto=auto -ffat-lto-objects)

.PHONY: lib preload-test
lib: $(LIB_SO)

# operator new's failure path throws through preload.c's frames
$(BUILD)/lib/lib/preload.o: LIB_CFLAGS += -fexceptions

$(BUILD)/lib/%.o: %.c
	@mkdir -p $(dir $@)
	$(call say,LIBCC,$<)$(CC) $(LIB_CFLAGS) $(DEPFLAGS) -c $< -o $@

$(LIB_SO): $(LIB_OBJS)
	$(call say,SO,$@)$(CC) -O2 $(LIB_LTO_FLAGS) -fPIC -shared -Wl,-z,defs -Wl,-z,now -Wl,-soname,libgomalloc.so \
		-o $@ $(LIB_OBJS) -lpthread

PRELOAD_TEST_CFLAGS := -std=gnu11 -O1 -g $(WARN) -pthread -Itests/host
$(BUILD)/preload/test_api: tests/preload/test_api.c $(LIB_SO)
	@mkdir -p $(dir $@)
	$(call say,CC,$<)$(CC) $(PRELOAD_TEST_CFLAGS) -fno-builtin -Wno-alloc-size-larger-than -Wno-use-after-free -o $@ $< tests/host/tap.c -L$(BUILD) -lgomalloc -ldl \
		-Wl,-rpath,$(abspath $(BUILD))
$(BUILD)/preload/threads: tests/preload/threads.c
	@mkdir -p $(dir $@)
	$(call say,CC,$<)$(CC) $(PRELOAD_TEST_CFLAGS) -o $@ $<
# programs that run only under the preload and check the library itself
$(BUILD)/preload/fork_churn $(BUILD)/preload/stress $(BUILD)/preload/first_call \
$(BUILD)/preload/oom $(BUILD)/preload/larson_churn: $(BUILD)/preload/%: tests/preload/%.c
	@mkdir -p $(dir $@)
	$(call say,CC,$<)$(CC) $(PRELOAD_TEST_CFLAGS) -o $@ $< -ldl
$(BUILD)/preload/cxx_new $(BUILD)/preload/oom_cxx: $(BUILD)/preload/%: tests/preload/%.cc
	@mkdir -p $(dir $@)
	$(call say,CXX,$<)g++ -std=gnu++17 -O1 -g $(WARN) -o $@ $<

PRELOAD_BINS := $(BUILD)/preload/test_api $(BUILD)/preload/threads \
	$(BUILD)/preload/fork_churn $(BUILD)/preload/stress $(BUILD)/preload/first_call \
	$(BUILD)/preload/oom $(BUILD)/preload/larson_churn $(if $(shell command -v g++),$(BUILD)/preload/cxx_new $(BUILD)/preload/oom_cxx)
preload-test: $(LIB_SO) $(PRELOAD_BINS)
	@$(PYTHON) tests/preload/run.py --build $(BUILD)
