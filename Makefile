# Makefile: thin wrapper over CMake. The README's two commands are `make demo` and `make test`.
#   make demo    install missing packages, build, run the demo job (examples/nanchong-demo)
#   make test    install missing packages, build with warnings as errors, run the whole suite
#   make test SANITIZE=1   the same under AddressSanitizer + UndefinedBehaviorSanitizer
#   make bench   benchmarks (not part of the test suite)
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
SANITIZE ?= 0
ifeq ($(SANITIZE),1)
BUILD ?= build-asan
CMAKE_FLAGS += -DSINKMAP_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
else
BUILD ?= build
endif

.PHONY: all build demo test bench clean deps

all: build

deps:
	@tools/ensure-deps build

build: deps
	@cmake -S . -B $(BUILD) -DSINKMAP_WERROR=ON $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

demo: deps
	@cmake -S . -B $(BUILD) -DSINKMAP_WERROR=ON $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS) --target sinkmap_cli
	$(BUILD)/sinkmap run examples/nanchong-demo/job.ini --progress
	@echo
	@echo "Demo outputs in out/nanchong-demo (open landcover_2024a.tif and parcels.gpkg in QGIS):"
	@ls -l out/nanchong-demo
	@$(BUILD)/sinkmap ledger verify out/ledger.sqlite

test:
	@tools/ensure-deps test
	@cmake -S . -B $(BUILD) -DSINKMAP_WERROR=ON $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

bench:
	@tools/ensure-deps bench
	@cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DSINKMAP_TESTS=OFF >/dev/null
	@cmake --build build-bench -j $(JOBS)
	@bash bench/run.sh build-bench/sinkmap
	@bash bench/run/run.sh build-bench/sinkmap

clean:
	rm -rf build build-asan build-bench out
