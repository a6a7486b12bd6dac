# sandvisor — build, test and benchmark entry points. See README.md.
CC ?= gcc
BUILD ?= build
CACHE ?= $(or $(SANDVISOR_CACHE),$(HOME)/.cache/sandvisor)
CSTD := -std=c11 -D_GNU_SOURCE
WARN := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wstrict-prototypes -Wmissing-prototypes
CFLAGS ?= -O2 -g
ALL_CFLAGS := $(CSTD) $(WARN) $(CFLAGS) -pthread -MMD -MP -Ivmm/include -Ivmm -Idevices
LDLIBS := -pthread
JSON_LIBS := $(shell pkg-config --libs json-c 2>/dev/null || echo -ljson-c)

LIB_SRCS := $(wildcard vmm/*.c devices/*.c)
CLI_SRCS := $(wildcard vmm/cli/*.c)
CLI_OBJS := $(patsubst %.c,$(BUILD)/obj/%.o,$(CLI_SRCS))
LIB_OBJS := $(patsubst %.c,$(BUILD)/obj/%.o,$(LIB_SRCS))
LIB := $(BUILD)/libsandvisor.a
CLI := $(BUILD)/sandvisor

UNIT_SRCS := $(wildcard tests/unit/*.c)
UNIT_BIN := $(BUILD)/tests/unit
CHECK_LIBS := $(shell pkg-config --libs check 2>/dev/null || echo -lcheck -lsubunit -lm -lrt)

GUEST := $(BUILD)/guest
TEST_INITRD := $(BUILD)/tests/test-initrd.cpio

FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRCS))
FUZZ_DEPS := $(wildcard devices/*.c) vmm/guest_mem.c vmm/util.c vmm/iobus.c
FUZZ_SECONDS ?= 60
FUZZ_CFLAGS := -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	$(CSTD) -Ivmm/include -Ivmm -Idevices -pthread

# The guest's PID 1 and agent (static), and the initrd that carries them.
INITRD_DIR := $(BUILD)/initrd
GUEST_CFLAGS := $(CSTD) $(WARN) -static -Os -s
AGENT_SRCS := initrd/agent.c initrd/exec.c initrd/session.c initrd/proc.c initrd/cgroup.c \
	initrd/files.c initrd/json.c vmm/proto.c
INITRD := $(INITRD_DIR)/initrd.cpio.gz

# Python and Node.js from this machine's Debian packages, as a read-only ext4 image.
RT_IMAGE := $(BUILD)/guest/sandvisor-rt.ext4
RT_SRCS := runtimes/build-image.sh $(wildcard runtimes/*/gather.sh runtimes/*/runner.*)

# Everything a guest test needs (defined before any rule uses it: rule lines expand at once).
GUEST_DEPS := $(CLI) $(GUEST)/bzImage $(TEST_INITRD) $(INITRD) $(RT_IMAGE)

.PHONY: all deps guest initrd runtimes test unit test-cli test-agent test-runners test-guest \
	test-boot test-devices test-sandbox test-stress \
	demo bench bench-boot bench-devices bench-sandbox lint fuzz clean

all: $(CLI) $(LIB)

# V=1 shows full command lines.
Q := $(if $(V),,@)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(LIB): $(LIB_OBJS)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && $(AR) rcs $@ $^

$(CLI): $(CLI_OBJS) $(LIB)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS) $(JSON_LIBS)

# Debian packages, installed by name (needs root or sudo).
deps:
	./tools/install-deps

# The guest kernel: cached under $(CACHE)/kernel keyed by source version + config.
guest: $(GUEST)/bzImage
$(GUEST)/bzImage $(GUEST)/vmlinux: guestkernel/sandvisor.config guestkernel/build.sh
	./guestkernel/build.sh $(GUEST)

# A tiny static init for boot tests: prints markers, then reboots or panics as asked.
$(BUILD)/tests/guest-init: tests/guest/init.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -O2 -static -o $@ $<

$(TEST_INITRD): $(BUILD)/tests/guest-init tests/guest/mkcpio
	./tests/guest/mkcpio $@ $(BUILD)/tests/guest-init

$(INITRD_DIR)/init: initrd/init.c initrd/sysfile.h
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $@ (static)")
	$(Q)$(CC) $(GUEST_CFLAGS) -o $@ $<

$(INITRD_DIR)/sandvisor-agent: $(AGENT_SRCS) initrd/agent.h initrd/exec_internal.h initrd/sysfile.h vmm/proto.h
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $@ (static)")
	$(Q)$(CC) $(GUEST_CFLAGS) -Ivmm -Iinitrd -o $@ $(AGENT_SRCS)

$(INITRD): $(INITRD_DIR)/init $(INITRD_DIR)/sandvisor-agent initrd/mkinitrd.sh
	./initrd/mkinitrd.sh $@ $(INITRD_DIR)/init $(INITRD_DIR)/sandvisor-agent

initrd: $(INITRD)

runtimes: $(RT_IMAGE)
$(RT_IMAGE): $(RT_SRCS)
	@mkdir -p $(dir $@)
	./runtimes/build-image.sh $@

$(BUILD)/tests/agent_drive: tests/agent_drive.c $(LIB)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $< $(LIB) $(LDLIBS)

test-agent: $(INITRD_DIR)/sandvisor-agent $(BUILD)/tests/agent_drive
	./tests/integration/agent_native.sh $(INITRD_DIR)/sandvisor-agent $(BUILD)/tests/agent_drive runtimes

test-runners:
	./tests/integration/runners_native.sh

$(UNIT_BIN): $(UNIT_SRCS) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $(UNIT_SRCS) $(LIB) $(CHECK_LIBS) $(LDLIBS)

unit: $(UNIT_BIN)
	$(UNIT_BIN)

test-cli: $(CLI) $(GUEST)/bzImage
	./tests/integration/cli_errors.sh $(CLI)

test-guest: $(GUEST_DEPS)
	./tests/run-guest-tests tests/integration/guest-suite.sh

# libFuzzer harnesses for everything that parses guest-controlled data. Each
# runs FUZZ_SECONDS from its seed corpus (copied: the repo's seeds stay as
# they are); any crash, leak or sanitizer report fails the target.
$(BUILD)/fuzz/%: tests/fuzz/%.c $(FUZZ_DEPS) $(wildcard devices/*.h vmm/*.h)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  FUZZCC  $@")
	$(Q)clang $(FUZZ_CFLAGS) -o $@ $< $(FUZZ_DEPS)

fuzz: $(FUZZ_BINS)
	@set -e; for f in $(FUZZ_BINS); do \
		name=$${f##*/fuzz_}; work=$(BUILD)/fuzz/corpus-$$name; \
		rm -rf $$work; mkdir -p $$work; cp tests/fuzz/corpus/$$name/* $$work/ 2>/dev/null || true; \
		echo "  FUZZ    $$name for $(FUZZ_SECONDS) s"; \
		$$f -max_total_time=$(FUZZ_SECONDS) -error_exitcode=1 -timeout=10 -rss_limit_mb=2048 \
			-artifact_prefix=$(BUILD)/fuzz/$$name- $$work >$(BUILD)/fuzz/$$name.log 2>&1 \
			|| { tail -n 40 $(BUILD)/fuzz/$$name.log; echo "fuzz: $$name FAILED (log: $(BUILD)/fuzz/$$name.log)"; exit 1; }; \
		grep -E '^Done|stat::number_of_executed_units' $(BUILD)/fuzz/$$name.log | tail -n 1; \
	done

test-boot: $(GUEST_DEPS)
	SANDVISOR_GUEST_SUITES=boot ./tests/run-guest-tests tests/integration/guest-suite.sh

test-devices: $(GUEST_DEPS)
	SANDVISOR_GUEST_SUITES=devices ./tests/run-guest-tests tests/integration/guest-suite.sh

test-sandbox: $(GUEST_DEPS)
	SANDVISOR_GUEST_SUITES=sandbox ./tests/run-guest-tests tests/integration/guest-suite.sh

# 50 MiB round trips in a loop (SANDVISOR_STRESS_N, default 10), for hunting rare stalls.
test-stress: $(GUEST_DEPS)
	./tests/run-guest-tests tests/integration/stress.sh

test: unit test-cli test-agent test-runners fuzz test-guest

demo: all $(GUEST)/bzImage $(TEST_INITRD) $(INITRD) $(RT_IMAGE)
	./tests/run-guest-tests tests/integration/demo.sh

# Benchmarks print tables; each boots one KVM rig where this host's KVM cannot run guests.
bench: bench-boot bench-devices bench-sandbox

bench-boot: all $(GUEST)/bzImage $(TEST_INITRD)
	./bench/boot

bench-devices: all $(GUEST)/bzImage $(TEST_INITRD)
	./bench/devices

bench-sandbox: all $(GUEST)/bzImage $(INITRD) $(RT_IMAGE)
	./bench/sandbox

lint:
	cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
		--inline-suppr -Ivmm/include -Ivmm -Idevices vmm devices initrd
	clang-tidy --quiet $(LIB_SRCS) $(CLI_SRCS) -- $(CSTD) -Ivmm/include -Ivmm -Idevices

clean:
	rm -rf $(BUILD)

-include $(LIB_OBJS:.o=.d) $(CLI_OBJS:.o=.d)
