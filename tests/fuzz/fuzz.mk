# tests/fuzz/fuzz.mk — the allocator fuzzer (included by the top Makefile).
#
#   make fuzz            build build/fuzz/fuzz_alloc with clang (libFuzzer,
#                        ASan, UBSan) and run it for FUZZ_S seconds on one
#                        core (nice) over build/fuzz/corpus, which starts as
#                        a copy of tests/fuzz/corpus and keeps what libFuzzer
#                        adds; crashes go to build/fuzz/crash-*
#   build/host/test_fuzz_replay   the same harness built with gcc: replays
#                        tests/fuzz/corpus and fixed-seed random inputs; part
#                        of make test / host-test (no clang needed)
#
# Variables: FUZZ_S (seconds, default 180), FUZZ_ARGS (more libFuzzer
# options).  A crash's input goes into tests/fuzz/corpus/ once fixed, so
# that make test replays it (10_* are the first two findings).
# clang-14 and libclang-rt-14-dev come from `scripts/install-deps.sh fuzz`.

FUZZ_S    ?= 180
FUZZ_ARGS ?=
FUZZ_CC   ?= clang-14
FUZZ_DIR  := $(BUILD)/fuzz
FUZZ_CFLAGS := -std=gnu11 -O1 -g $(WARN) -fsanitize=fuzzer-no-link,address,undefined \
	-fsanitize-coverage-ignorelist=tests/fuzz/coverage-ignore.txt \
	-fno-sanitize-recover=undefined -fno-omit-frame-pointer -I. -Ikernel -Ialloc -Itests/host \
	-DGOKERNEL_HOST=1 -pthread
FUZZ_LIB_OBJS := $(patsubst %.c,$(FUZZ_DIR)/o/%.o,$(HOST_LIB_SRCS))
FUZZ_DEPS_STAMP := $(BUILD)/.fuzz-deps-ok

.PHONY: fuzz fuzz-build
$(FUZZ_DEPS_STAMP): scripts/install-deps.sh
	@bash scripts/install-deps.sh fuzz
	@mkdir -p $(BUILD) && touch $@

$(FUZZ_DIR)/o/%.o: %.c tests/fuzz/coverage-ignore.txt | $(FUZZ_DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(call say,FUZZCC,$<)$(FUZZ_CC) $(FUZZ_CFLAGS) $(DEPFLAGS) -c $< -o $@
$(FUZZ_DIR)/fuzz_alloc: $(FUZZ_DIR)/o/tests/fuzz/fuzz_alloc.o $(FUZZ_LIB_OBJS)
	$(call say,FUZZLD,$@)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $^

fuzz-build: $(FUZZ_DIR)/fuzz_alloc

fuzz: $(FUZZ_DIR)/fuzz_alloc
	@mkdir -p $(FUZZ_DIR)/corpus
	@echo "fuzz: $(FUZZ_S) s, corpus $(FUZZ_DIR)/corpus ($$(ls $(FUZZ_DIR)/corpus | wc -l) inputs) + tests/fuzz/corpus"
	@bash tests/fuzz/run_fuzz.sh $(FUZZ_DIR)/fuzz_alloc $(FUZZ_S) $(FUZZ_DIR)/corpus $(FUZZ_ARGS)

# the corpus replay, in make test (gcc; no clang needed)
$(BUILD)/host/test_fuzz_replay: $(BUILD)/h/tests/fuzz/replay_main.o $(BUILD)/h/tests/fuzz/fuzz_alloc.o \
		$(HOST_LIB_OBJS)
	@mkdir -p $(dir $@)
	$(call say,HOSTLD,$@)$(CC) $(HOST_CFLAGS) -o $@ $^
HOST_BINS += $(BUILD)/host/test_fuzz_replay
