# Convenience front end: every target installs missing Debian packages and builds first.
#   make         set-up: install deps, configure, build (build/)
#   make run     the main job on the bundled data/
#   make test    the test suite (ctest)
#   make bench   benchmarks side by side with the PyTorch peer (installs it)
BUILD ?= build
JOBS  ?= $(shell nproc)

.PHONY: all deps configure run test bench clean
all: configure
	cmake --build $(BUILD) -j $(JOBS)

deps:
	./install-deps.sh

configure: deps
	@test -f $(BUILD)/CMakeCache.txt || cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release

run: all
	./$(BUILD)/ddsp loss data/violin.wav data/flute.wav --length 64000 --grad-out $(BUILD)/loss_violin_flute.h5

test: all
	cd $(BUILD) && ctest --output-on-failure -j 2

bench: all
	./install-deps.sh --bench
	tests/bench/bench_mss.sh $(BUILD)

clean:
	rm -rf $(BUILD)
