# Entry points; the scripts hold the logic (see README.md).
#   make run           install what is missing, build, start a private PostgreSQL, serve on 127.0.0.1:8080
#   make test          install, build with -Werror, throwaway PostgreSQL, every suite via ctest,
#                      then the ASan/UBSan, valgrind and libFuzzer phases (scripts/test.sh)
#                      (extra ctest arguments: make test TEST_ARGS="-R compat")
#   make build         configure and build only
#   make format        clang-format every C file under server/ and tests/
#   make format-check  fail if any of them is not formatted
#   make bench         the benchmark suite (bench/run.sh; settings and how to read it: BENCHMARKS.md)
#   make clean         remove build/ and make test's build-asan/ and build-fuzz/

.PHONY: run test build format format-check bench clean

TEST_ARGS ?=
C_SOURCES = $(shell find server tests -name node_modules -prune -o -type f \( -name '*.c' -o -name '*.h' \) -print 2>/dev/null | sort)

run:
	scripts/run.sh

test:
	scripts/test.sh $(TEST_ARGS)

# WERROR is reset because `make test` leaves it ON in the shared build/ cache.
build:
	cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTRACKD_WERROR=OFF
	cmake --build build -j2

format:
	@command -v clang-format >/dev/null || { echo "clang-format is not installed (apt-get install clang-format)"; exit 1; }
	$(if $(C_SOURCES),clang-format -i $(C_SOURCES),@echo "no C files to format")

format-check:
	@command -v clang-format >/dev/null || { echo "clang-format is not installed (apt-get install clang-format)"; exit 1; }
	$(if $(C_SOURCES),clang-format --dry-run --Werror $(C_SOURCES),@echo "no C files to check")

bench:
	bench/run.sh

clean:
	rm -rf build build-asan build-fuzz
