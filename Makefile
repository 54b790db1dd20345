# modelwatch - the two commands: `make run` and `make test`.
# Everything real happens in CMake; this file installs what is missing,
# configures and builds, then runs the service or the tests.

BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
LISTEN     ?= 127.0.0.1:8080
DATA_DIR   ?= ./var
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
# Tests mostly wait on sockets, PostgreSQL and timers: twice as many at once
# as there are cores halves the wall time of `make test` (measured: 529 s ->
# 268 s for the normal build's suite on 2 cores).
TEST_JOBS  ?= $(shell echo $$(( $(JOBS) * 2 )))

# Debian packages the build, the tests and the benchmarks need (pip,
# setuptools and wheel: `pip install ./clients/python` offline).
DEB_PACKAGES = build-essential cmake pkg-config curl sqlite3 \
  libcivetweb-dev libsqlite3-dev libgsl-dev libcjson-dev \
  libcurl4-openssl-dev libssl-dev libcmocka-dev libre2-dev libpcre2-dev \
  python3 python3-numpy python3-scipy python3-aiosmtpd \
  prometheus prometheus-alertmanager haproxy wrk \
  python3-pip python3-setuptools python3-wheel \
  openssl chromium \
  postgresql libpq-dev \
  clang libclang-rt-14-dev clang-format
# Debian's nodejs and npm (dashboard chart library, browser tests) are
# installed only when the node and npm commands are missing: NodeSource's
# nodejs package bundles npm and conflicts with Debian's npm package.

.PHONY: all deps build build-asan build-fuzz run test test-fast fuzz bench demo demo-ha clean

all: build

# Installs missing Debian packages when run as root; otherwise only reports.
deps:
	@missing=$$(for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; \
	done; \
	command -v node >/dev/null 2>&1 || echo nodejs; \
	command -v npm >/dev/null 2>&1 || echo npm); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "deps: installing $$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	  else \
	    echo "deps: missing Debian packages (run as root or install them): $$missing"; exit 1; \
	  fi; \
	fi
	@# npm packages from package-lock.json, reinstalled only when it changed.
	@if [ ! -f node_modules/.package-lock.json ] || \
	    [ package-lock.json -nt node_modules/.package-lock.json ]; then \
	  echo "deps: npm ci"; npm ci --no-audit --no-fund; \
	fi

# build/ serves both `make run` and `make test`, so it carries the test
# hook MW_FAULT_INJECTION (core/db.c): compiled in, inert unless the
# environment names a fault file. A build for shipping leaves it off (the
# CMake default).
$(BUILD)/Makefile: CMakeLists.txt
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMW_FAULT_INJECTION=ON

$(ASAN_BUILD)/Makefile: CMakeLists.txt
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DMW_SANITIZE=ON \
	  -DMW_FAULT_INJECTION=ON

build: deps $(BUILD)/Makefile
	cmake --build $(BUILD) -j $(JOBS)

build-asan: deps $(ASAN_BUILD)/Makefile
	cmake --build $(ASAN_BUILD) -j $(JOBS)

# libFuzzer harnesses (tests/fuzz), built by clang under ASan+UBSan.
$(FUZZ_BUILD)/Makefile: CMakeLists.txt
	cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DMW_FUZZ=ON -DMW_SANITIZE=ON

build-fuzz: deps $(FUZZ_BUILD)/Makefile
	cmake --build $(FUZZ_BUILD) -j $(JOBS)

# Each harness for FUZZ_SECONDS (default 60): executions and crashes.
fuzz: build-fuzz
	BUILD=$(FUZZ_BUILD) FUZZ_SECONDS=$(FUZZ_SECONDS) bash tests/fuzz/run.sh

run: build
	mkdir -p $(DATA_DIR)
	./$(BUILD)/modelwatch serve --listen $(LISTEN) --data-dir $(DATA_DIR)

# The whole story with live data: see examples/demo.sh.
demo: build
	BUILD=$(BUILD) bash examples/demo.sh

# PostgreSQL, three replicas and haproxy on one machine: examples/ha/run.sh.
demo-ha: build
	BUILD=$(BUILD) bash examples/ha/run.sh

# Every test in the normal build; again under ASan+UBSan all but those
# labelled noasan (nothing of ours to check) and asan_skip_pg (PostgreSQL
# variants that reach no PostgreSQL code the others do not: the measured
# choice is in tests/CMakeLists.txt; `ctest -L asan_skip_pg` in
# $(ASAN_BUILD) runs them); then each fuzz harness briefly (its seeds, its
# regression inputs, a few seconds of fuzzing: about a minute in all).
test: build build-asan build-fuzz
	cd $(BUILD) && ctest --output-on-failure -j $(TEST_JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure -j $(TEST_JOBS) -LE 'noasan|asan_skip_pg'
	cd $(FUZZ_BUILD) && ctest --output-on-failure -j $(JOBS) -L fuzz

# The normal build's tests only, for a quick loop while editing.
test-fast: build
	cd $(BUILD) && ctest --output-on-failure -j $(TEST_JOBS)

bench: build
	@for b in tests/bench/*.sh; do echo "== $$b"; BUILD=$(BUILD) bash $$b || exit 1; done

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
