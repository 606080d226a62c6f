# tests/bench/gcbench.mk — the collector's benchmarks (included by the top
# Makefile, next to bench.mk).
#
#   make gcbench   installs what `make bench` installs (scripts/install-deps.sh
#                  bench: golang-go for the Go anchor), builds the boot image
#                  and tests/bench/go/gcbench.go, and runs
#                  tests/bench/gcbench.py: per CPU count one QEMU boot with
#                  'test=none gcbench halt' (one at a time) and the Go anchor
#                  with GOMAXPROCS = the count.  Writes build/gcbench/results.md,
#                  results.csv, kernel-smpN.log and go-procsN.log.
#   GCBENCH_CPUS="1 2 4 8" (default)   GCBENCH_ARGS=... extra gcbench.py options
#   (e.g. GCBENCH_ARGS='--kernel-log FILE' to parse a saved log, --no-go,
#   --timeout SECONDS)
#
# `make bench` ends with gcbench-build and gcbench.py on 1 and 2 CPUs.

GCBENCH_CPUS ?= 1 2 4 8
GCBENCH_GO   := $(BUILD)/gcbench/gcbench-go

$(GCBENCH_GO): tests/bench/go/gcbench.go
	@mkdir -p $(dir $@) $(abspath $(BUILD))/bench/gocache
	$(call say,GO,$<)GO111MODULE=off GOCACHE=$(abspath $(BUILD))/bench/gocache \
		go build -o $@ $<

.PHONY: gcbench gcbench-build
gcbench-build: image
	@command -v go >/dev/null && $(MAKE) --no-print-directory $(GCBENCH_GO) || \
		echo "gcbench: go not installed, no Go anchor"

gcbench: bench-deps
	@$(MAKE) --no-print-directory gcbench-build
	@$(PYTHON) tests/bench/gcbench.py --cpus '$(GCBENCH_CPUS)' --go-bin $(GCBENCH_GO) \
		--out $(BUILD)/gcbench $(GCBENCH_ARGS)
