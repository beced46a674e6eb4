# Convenience front end: every target installs missing Debian packages and builds first.
#   make         set-up: install deps, configure, build (build/)
#   make run     the main job: train the model on the bundled data/ (a few minutes)
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
	./$(BUILD)/ddsp train --resume runs/demo

test: all
	cd $(BUILD) && ctest --output-on-failure -j 2

bench: all
	./install-deps.sh --bench
	tests/bench/bench_mss.sh $(BUILD)
	tests/bench/bench_train.sh $(BUILD)

clean:
	rm -rf $(BUILD)
