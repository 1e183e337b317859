# Quick start on a fresh Debian 12 machine, as root:
#   make run    install what is missing, build, run the main job
#   make test   the same set-up, then every test
BUILD ?= build
CORACLE := $(BUILD)/coracle

.PHONY: all deps build run test bench format clean
all: build

deps:
	@scripts/install-deps.sh

build: deps
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
	@cmake --build $(BUILD)

# The main job, for now: a shell command on the embedded default image, in
# every namespace, with /in read-only and /out writable.
run: build
	@mkdir -p $(BUILD)/run/in $(BUILD)/run/out
	@echo "hello from the host" > $(BUILD)/run/in/greeting
	$(CORACLE) exec --in $(BUILD)/run/in --out $(BUILD)/run/out -- /bin/sh -c \
	  'echo "pid $$$$ on $$(hostname) as $$(id -u)"; cat /in/greeting; date > /out/stamp; ls /'
	@echo "written to $(BUILD)/run/out/stamp:"; cat $(BUILD)/run/out/stamp

test: build
	@cd $(BUILD) && ctest --output-on-failure --timeout 600

bench: build
	@benchmarks/exec_latency.sh $(CORACLE)
	@benchmarks/portmon.sh $(BUILD)
	@benchmarks/build.sh $(CORACLE)

format:
	@clang-format -i $$(git ls-files '*.cc' '*.h')

clean:
	rm -rf $(BUILD)
