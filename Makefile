# tokenwire - root Makefile.
#   make            build the C core and the `tokenwire` command (out/release/tokenwire)
#   make demo       stream tokens from the built-in mock server (the main job)
#   make test       every test: C (ASan+UBSan), fuzz smoke, Python, Node
#   make test-c     C unit/integration tests under AddressSanitizer + UBSan
#   make test-c-poll  the engine, mock and poller tests again on the portable poll() backend
#   make fuzz-quick / fuzz-long    libFuzzer targets (clang), bounded
#   make bench-c    C micro-benchmarks
#   make bench      cross-peer benchmark vs the Python/Node clients (QUICK=1: smoke run)
#   make dist       wheels (CPython 3.9-3.13), sdist and the npm tarball with prebuilt addons
#   make test-dist  installs those with no compiler / -dev packages around and streams
# System packages (Debian) are installed on demand by `make deps`.

CC       ?= cc
CXX      ?= c++
CLANG    ?= clang
CLANGXX  ?= clang++
PKGS     := libcurl simdjson hiredis
BUILD    ?= out

# The one version source is package.json; the core gets it as TW_VERSION_STRING.
VERSION  := $(shell sed -n 's/^  "version": "\(.*\)",$$/\1/p' package.json)
# make is the developers' build: warnings are errors here (and in CI), never in users' installs.
WARN     := -Wall -Wextra -Werror
CPPFLAGS := -Icsrc -Itools -D_GNU_SOURCE -DTW_VERSION_STRING='"$(VERSION)"' -DTW_TEST_DATA='"$(CURDIR)/tests/data"'
CFLAGS_COMMON   := -std=c11 $(WARN) -fPIC -g -pthread
CXXFLAGS_COMMON := -std=c++17 $(WARN) -fPIC -g -fno-exceptions -pthread
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
LDLIBS     = $(PKG_LIBS) -lpthread -lm

SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer

# The core's layers, one folder each: framing + JSON at the top, then dialects, encoders, engine.
CORE_C   := $(sort $(wildcard csrc/*.c csrc/dialects/*.c csrc/encoders/*.c csrc/engine/*.c \
                              csrc/tee/*.c))
CORE_CXX := $(sort $(wildcard csrc/*.cc))
MOCK_C   := $(sort $(wildcard tools/mock/*.c))
CLI_C    := $(sort $(wildcard tools/cli/*.c))
TEST_C   := $(sort $(wildcard tests/c/*.c))
FUZZ_C   := $(sort $(wildcard tests/fuzz/fuzz_*.c))
BENCH_C  := $(sort $(wildcard benchmarks/c/*.c))
HEADERS  := $(wildcard csrc/*.h csrc/*/*.h tools/*/*.h tests/c/*.h)

# Keep intermediate objects (fuzz objects are built through a pattern chain).
.SECONDARY:

.PHONY: all deps demo test test-c test-c-only test-py test-node fuzz-quick fuzz-long bench-c \
        bench clean header-check

all: deps $(BUILD)/release/tokenwire

# ---- system dependencies ---------------------------------------------------------------------
deps:
	@./scripts/ensure-deps.sh c

# ---- variants: release (-O2) and asan (-O1 + sanitizers) --------------------------------------
REL := $(BUILD)/release
ASN := $(BUILD)/asan

$(REL)/%.o: %.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(PKG_CFLAGS) $(CFLAGS_COMMON) -O2 -c $< -o $@
$(REL)/%.o: %.cc $(HEADERS)
	@mkdir -p $(dir $@)
	$(CXX) $(CPPFLAGS) $(PKG_CFLAGS) $(CXXFLAGS_COMMON) -O2 -c $< -o $@
$(ASN)/%.o: %.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(PKG_CFLAGS) $(CFLAGS_COMMON) -O1 $(SAN_FLAGS) -c $< -o $@
$(ASN)/%.o: %.cc $(HEADERS)
	@mkdir -p $(dir $@)
	$(CXX) $(CPPFLAGS) $(PKG_CFLAGS) $(CXXFLAGS_COMMON) -O1 $(SAN_FLAGS) -c $< -o $@

objs = $(patsubst %.c,$(1)/%.o,$(filter %.c,$(2))) $(patsubst %.cc,$(1)/%.o,$(filter %.cc,$(2)))

# The library is the core alone; the mock server and the CLI are tools built beside it.
LIB_SRC := $(CORE_C) $(CORE_CXX)

$(REL)/libtokenwire.a: $(call objs,$(REL),$(LIB_SRC))
	@rm -f $@; ar rcs $@ $^
$(ASN)/libtokenwire.a: $(call objs,$(ASN),$(LIB_SRC))
	@rm -f $@; ar rcs $@ $^
$(REL)/libtwmock.a: $(call objs,$(REL),$(MOCK_C))
	@rm -f $@; ar rcs $@ $^
$(ASN)/libtwmock.a: $(call objs,$(ASN),$(MOCK_C))
	@rm -f $@; ar rcs $@ $^

$(REL)/tokenwire: $(call objs,$(REL),$(CLI_C)) $(REL)/libtwmock.a $(REL)/libtokenwire.a
	$(CXX) -pthread -o $@ $^ $(LDLIBS)
$(ASN)/tokenwire: $(call objs,$(ASN),$(CLI_C)) $(ASN)/libtwmock.a $(ASN)/libtokenwire.a
	$(CXX) -pthread $(SAN_FLAGS) -o $@ $^ $(LDLIBS)

# ---- C tests ----------------------------------------------------------------------------------
$(ASN)/tw_tests: $(call objs,$(ASN),$(TEST_C)) $(ASN)/libtwmock.a $(ASN)/libtokenwire.a
	$(CXX) -pthread $(SAN_FLAGS) -o $@ $^ $(LDLIBS)

# The compile-only check: the public header is valid C99 and C++.
header-check:
	$(CC) -std=c99 $(WARN) -pedantic -fsyntax-only -Icsrc -x c csrc/tokenwire.h
	$(CXX) -std=c++11 $(WARN) -pedantic -fsyntax-only -Icsrc -x c++ csrc/tokenwire.h

test-c: deps header-check test-c-only
test-c-only: $(ASN)/tw_tests $(ASN)/tokenwire
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
	  TW_CLI=$(ASN)/tokenwire $(ASN)/tw_tests $(T)

# The portable configuration (csrc/engine/poller.h): TW_POLLER=poll gives the engine and the
# mock poll(), pipe wakeups and accept + fcntl. The tests that touch a loop run again under it
# (engine: streams, sinks, pause/resume, many streams, cancellation, TLS, the CLI; the mock;
# the poller); framing / decoding / encoding tests have no loop and run once, in test-c.
# The kqueue backend, which no machine here can run, is compiled (syntax only) on the way.
POLL_TESTS ?= engine mock poller
.PHONY: test-c-poll check-kqueue
test-c-poll: deps check-kqueue $(ASN)/tw_tests $(ASN)/tokenwire
	@set -e; for t in $(POLL_TESTS); do echo "== TW_POLLER=poll: $$t"; \
	  TW_POLLER=poll ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
	  UBSAN_OPTIONS=print_stacktrace=1 TW_CLI=$(ASN)/tokenwire $(ASN)/tw_tests $$t; done
check-kqueue:
	@for c in $(CC) $(CLANG); do set -x; $$c -std=c11 $(WARN) -D_GNU_SOURCE -DTW_KQUEUE_SYNTAX_CHECK \
	  -Itests/c/test_poller_kqueue -Icsrc -fsyntax-only csrc/engine/poller_kqueue.c \
	  csrc/engine/poller.c || exit 1; done

# ---- fuzzing (libFuzzer, clang) ---------------------------------------------------------------
FUZZ_DIR := $(BUILD)/fuzz
FUZZ_LIB_C := $(CORE_C)
FUZZ_FLAGS := -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined

$(FUZZ_DIR)/obj/%.o: %.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CLANG) $(CPPFLAGS) $(PKG_CFLAGS) -std=c11 $(WARN) -g -O1 -fsanitize=fuzzer-no-link,address,undefined -c $< -o $@
$(FUZZ_DIR)/obj/%.o: %.cc $(HEADERS)
	@mkdir -p $(dir $@)
	$(CLANGXX) $(CPPFLAGS) $(PKG_CFLAGS) -std=c++17 $(WARN) -fno-exceptions -g -O1 -fsanitize=fuzzer-no-link,address,undefined -c $< -o $@
FUZZ_CORE_OBJS := $(call objs,$(FUZZ_DIR)/obj,$(CORE_C) $(CORE_CXX))
$(FUZZ_DIR)/%: tests/fuzz/%.c $(FUZZ_CORE_OBJS)
	@mkdir -p $(dir $@)
	$(CLANGXX) $(CPPFLAGS) $(PKG_CFLAGS) $(FUZZ_FLAGS) -x c $< -x none $(FUZZ_CORE_OBJS) -o $@ $(LDLIBS)

FUZZ_BINS := $(patsubst tests/fuzz/%.c,$(FUZZ_DIR)/%,$(FUZZ_C))
FUZZ_SECONDS ?= 6
fuzz-quick: deps $(FUZZ_BINS)
	@./scripts/run-fuzz.sh $(FUZZ_SECONDS) $(FUZZ_BINS)
fuzz-long: deps $(FUZZ_BINS)
	@./scripts/run-fuzz.sh $${FUZZ_LONG_SECONDS:-300} $(FUZZ_BINS)

# ---- valgrind: the release CLI (no sanitizers) under memcheck on the fuzz corpora -------------
.PHONY: valgrind
valgrind: deps $(REL)/tokenwire
	@./scripts/valgrind-corpora.sh $(REL)/tokenwire

# ---- benchmarks -------------------------------------------------------------------------------
$(REL)/bench_%: benchmarks/c/bench_%.c $(REL)/libtwmock.a $(REL)/libtokenwire.a
	$(CC) $(CPPFLAGS) $(PKG_CFLAGS) $(CFLAGS_COMMON) -O2 -o $@.o -c $<
	$(CXX) -pthread -o $@ $@.o $(REL)/libtwmock.a $(REL)/libtokenwire.a $(LDLIBS)
BENCH_BINS := $(patsubst benchmarks/c/%.c,$(REL)/%,$(BENCH_C))
bench-c: deps $(BENCH_BINS) $(REL)/tokenwire
	@for b in $(BENCH_BINS); do echo "== $$b"; TW_CLI=$(REL)/tokenwire $$b || exit 1; done

# Cross-peer benchmark (benchmarks/README.md): every Python / Node / C peer against the mock.
# QUICK=1 is the smoke run CI uses (every peer must produce numbers).
bench: all $(REL)/libtokenwire.a $(REL)/libtwmock.a
	@./scripts/bench-setup.sh
	@QUICK=$(QUICK) python3 benchmarks/bench.py

# ---- packaging: wheels (auditwheel), sdist, npm tarball with prebuilds (scripts/build-dist.sh);
# test-dist installs them where there is no compiler and no -dev package (scripts/test-dist.sh).
.PHONY: dist test-dist
dist: deps
	@./scripts/build-dist.sh
test-dist: dist
	@./scripts/test-dist.sh

# ---- the main job: tokens streaming from the mock ---------------------------------------------
demo: all
	@./scripts/demo.sh $(REL)/tokenwire

# ---- everything -------------------------------------------------------------------------------
test: test-c test-c-poll fuzz-quick valgrind test-py test-node

# The bindings' suites install their own Python / npm dependencies (see the scripts).
test-py: all
	@./scripts/test-py.sh
test-node: all
	@./scripts/test-node.sh

clean:
	rm -rf $(BUILD)
