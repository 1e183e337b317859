# Quick start on a fresh Debian 12 machine, as root:
#   make run    install what is missing, build, run the main job
#   make test   the same set-up, then every test
BUILD ?= build
CORACLE := $(BUILD)/coracle

PREFIX ?= /usr/local

.PHONY: all deps configure build build-coracle run test bench format clean install install-files
all: build

deps:
	@scripts/install-deps.sh

configure: deps
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null

# Everything: coracle, its tests and benchmarks.
build: configure
	@cmake --build $(BUILD)

# What coracle itself needs to run and be installed (its pasta, the man
# page and completions), not the tests: `make run` on a fresh machine.
build-coracle: configure
	@cmake --build $(BUILD) --target coracle coracle_passt coracle_generated_docs

# The main job: examples/hello through the assistant chain (builtin:dockerfile
# builds it, builtin:exec serves it; the page is fetched from the host).
run: build-coracle
	@scripts/run-hello.sh $(CORACLE)

test: build
	@cd $(BUILD) && ctest --output-on-failure --timeout 600

bench: build
	@benchmarks/exec_latency.sh $(CORACLE)
	@benchmarks/portmon.sh $(BUILD)
	@benchmarks/build.sh $(CORACLE)
	@benchmarks/chain.sh $(CORACLE)
	@benchmarks/vm.sh $(CORACLE)

# The binary, its OCI runtime name (coracle-runc: runc's command line, for
# podman --runtime and containerd's BinaryName), its pasta and passt
# (third_party/passt), the bundled assistants,
# and the completions and man page the build generated.
install: build-coracle install-files

install-files:
	install -D -m 0755 $(CORACLE) $(DESTDIR)$(PREFIX)/bin/coracle
	ln -sf coracle $(DESTDIR)$(PREFIX)/bin/coracle-runc
	mkdir -p $(DESTDIR)$(PREFIX)/libexec/coracle
	cp -P $(BUILD)/libexec/coracle/* $(DESTDIR)$(PREFIX)/libexec/coracle/
	mkdir -p $(DESTDIR)$(PREFIX)/share/coracle
	cp -r assistants $(DESTDIR)$(PREFIX)/share/coracle/
	install -D -m 0644 $(BUILD)/share/bash-completion/completions/coracle \
	  $(DESTDIR)$(PREFIX)/share/bash-completion/completions/coracle
	install -D -m 0644 $(BUILD)/share/zsh/site-functions/_coracle \
	  $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_coracle
	install -D -m 0644 $(BUILD)/share/man/man1/coracle.1 \
	  $(DESTDIR)$(PREFIX)/share/man/man1/coracle.1

format:
	@clang-format -i $$(git ls-files '*.cc' '*.h')

clean:
	rm -rf $(BUILD)
