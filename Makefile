# thaw - one non-recursive Makefile.
#
#   make            build build/thaw
#   make demo       install what is missing, build, run the torch demo
#   make test       install what is missing, build, run the whole suite
#   make bench      benchmarks: table + build/bench.json
#   make bench-lazy   restore --lazy (+ recorded prefetch) against eager; build/bench-lazy.json
#   make bench-serve  thaw serve: bursts from zero, snapshots vs cold; build/bench-serve.json
#   make fuzz       every fuzz target under libFuzzer, FUZZ_SECONDS each (FUZZ=a,b: those only)
#   make soak       1000 restores in a row: nothing may grow
#   make soak-serve 20 scale-up/scale-down cycles of thaw serve: nothing may grow
#   make SANITIZE=1 ASan+UBSan build (in build/san/)
#   make V=1        show the commands
#   make install    [PREFIX=/usr/local] [DESTDIR=] binary, libthaw, thaw.h, thaw.pc,
#                   Python SDK, manual pages, bash completion; make uninstall

CC      ?= gcc
V       ?= 0
Q       := $(if $(filter 1,$(V)),,@)
SANITIZE ?= 0

ifeq ($(SANITIZE),1)
BUILD   ?= build/san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
BUILD   ?= build
SANFLAGS :=
endif

WARN    := -Wall -Wextra -Werror -Wno-missing-field-initializers
CFLAGS  ?= -O2 -g
CFLAGS  += -std=gnu11 $(WARN) -MMD -MP -D_GNU_SOURCE -Isrc -Iinclude $(SANFLAGS)
LDFLAGS += $(SANFLAGS)
LIBS    := -ljansson -lcrypto -lzstd -llz4 -lexpat -lfuse3

# The restorer blob: freestanding, position-independent, no libc.
BLOB_CFLAGS := -std=gnu11 -O2 -Wall -Wextra -Werror -Isrc -ffreestanding -fno-builtin \
	-nostdlib -fPIE -fno-stack-protector -fno-asynchronous-unwind-tables \
	-fno-exceptions -fno-jump-tables -fcf-protection=none -mno-red-zone \
	-fvisibility=hidden -msse4.2

# thaw --version: the release, what git says of the tree it was built from
# (GIT_DESCRIBE=... when there is no git, as in a source package), and the
# build's features.  Made into $(BUILD)/version.h, rewritten only when it changes.
VERSION := 0.1.0
GIT_DESCRIBE ?= $(shell git describe --always --dirty --tags 2>/dev/null || echo unknown)
FEATURES := store-http(libcurl, loaded when used) cuda(libcuda, loaded when used) lz4 zstd \
	aes-256-gcm hmac-sha256 serve(libmicrohttpd, loaded when used) imagefs(libfuse3)$(if $(filter 1,$(SANITIZE)), asan ubsan)

LAYERS  := base image gpu engine store repo imagefs runtime serve cli
SRCS    := $(foreach l,$(LAYERS),$(wildcard src/$(l)/*.c))
OBJS    := $(SRCS:%.c=$(BUILD)/%.o)
BLOB_SRCS := $(wildcard src/engine/restorer/*.c)
BLOB_OBJS := $(BLOB_SRCS:%.c=$(BUILD)/%.o)
LIB_OBJS := $(filter-out $(BUILD)/src/cli/%,$(OBJS)) $(BUILD)/restorer-blob.o

UNIT_SRCS := $(wildcard tests/unit/test-*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/unit/%)
PROG_SRCS := $(wildcard tests/programs/*.c)
PROG_BINS := $(PROG_SRCS:tests/programs/%.c=$(BUILD)/tests/programs/%)
COMPAT_SRCS := $(wildcard tests/compat/*.c)
COMPAT_BINS := $(COMPAT_SRCS:tests/compat/%.c=$(BUILD)/tests/compat/%)
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz-*.c)
FUZZ_BINS := $(FUZZ_SRCS:tests/fuzz/%.c=$(BUILD)/tests/fuzz/%)

.PHONY: FORCE install uninstall all deps demo test test-unit test-integration bench bench-lazy bench-serve soak-serve bench-image bench-gpu format lint clean programs units \
	fuzz soak

all: $(BUILD)/thaw $(BUILD)/libthaw.a $(BUILD)/libthaw.so $(BUILD)/man/thaw.1

deps:
	$(Q)scripts/deps.sh

$(BUILD)/thaw: $(OBJS) $(BUILD)/restorer-blob.o
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/version.h: FORCE
	@mkdir -p $(dir $@)
	$(Q)printf '#define THAW_VERSION "%s"\n#define THAW_GIT_DESCRIBE "%s"\n#define THAW_FEATURES "%s"\n' \
		'$(VERSION)' '$(GIT_DESCRIBE)' '$(FEATURES)' > $@.tmp
	$(Q)cmp -s $@.tmp $@ && rm -f $@.tmp || mv -f $@.tmp $@

$(BUILD)/src/cli/main.o: $(BUILD)/version.h
$(BUILD)/src/cli/main.o: CFLAGS += -I$(BUILD)

$(BUILD)/src/%.o: src/%.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/src/engine/restorer/%.o: src/engine/restorer/%.c
	@mkdir -p $(dir $@)
	@echo "  CC blob $<"
	$(Q)$(CC) $(BLOB_CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/restorer.elf: $(BLOB_OBJS) src/engine/restorer/restorer.lds
	@echo "  LD blob $@"
	$(Q)$(CC) $(BLOB_CFLAGS) -static-pie -Wl,-T,src/engine/restorer/restorer.lds \
		-Wl,--no-dynamic-linker -Wl,--no-warn-rwx-segments -Wl,-z,norelro -Wl,--build-id=none -o $@ $(BLOB_OBJS)
	$(Q)scripts/check-blob.sh $@

$(BUILD)/restorer.bin: $(BUILD)/restorer.elf
	$(Q)objcopy -O binary -j .blob $< $@

$(BUILD)/restorer-blob.o: $(BUILD)/restorer.bin
	@echo "  BLOB    $@"
	$(Q)printf '\t.section .rodata\n\t.balign 4096\n\t.globl restorer_blob_start\nrestorer_blob_start:\n\t.incbin "%s"\n\t.globl restorer_blob_end\nrestorer_blob_end:\n\t.section .note.GNU-stack,"",@progbits\n' $< > $(BUILD)/restorer-blob.S
	$(Q)$(CC) -c -o $@ $(BUILD)/restorer-blob.S

$(BUILD)/tests/unit/%: tests/unit/%.c $(LIB_OBJS)
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	$(Q)$(CC) $(CFLAGS) -o $@ $< $(LIB_OBJS) $(LDFLAGS) $(LIBS) -lcmocka

$(BUILD)/tests/fuzz/%: tests/fuzz/%.c $(LIB_OBJS)
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	$(Q)$(CC) $(CFLAGS) -DFUZZ_STANDALONE -o $@ $< $(LIB_OBJS) $(LDFLAGS) $(LIBS)

# bench/store-ram restores through thaw's own objects (a RAM tier lives in one process).
$(BUILD)/bench/store-ram: bench/store-ram.c $(LIB_OBJS)
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	$(Q)$(CC) $(CFLAGS) -o $@ $< $(LIB_OBJS) $(LDFLAGS) $(LIBS)

# Test programs are what gets snapshotted: plain builds, never sanitized.
$(BUILD)/tests/programs/%: tests/programs/%.c
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	$(Q)$(CC) -std=gnu11 -O1 -g -Wall -Wextra -Werror -D_GNU_SOURCE -mavx2 -o $@ $< -lpthread

# Compatibility tests (tests/compat/compat.h): one program per kind of state,
# plain builds like the programs above.
$(BUILD)/tests/compat/%: tests/compat/%.c $(wildcard tests/compat/*.h)
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	$(Q)$(CC) -std=gnu11 -O1 -g -Wall -Wextra -Werror -D_GNU_SOURCE -o $@ $< -lpthread -lrt

# The C SDK (include/thaw.h): libthaw, static and shared, from sdk/c/.  It goes
# into users' programs: plain builds, never sanitized, nothing of thaw's own.
SDK_SRCS := $(wildcard sdk/c/*.c)
SDK_OBJS := $(SDK_SRCS:%.c=$(BUILD)/%.o)
SDK_PIC_OBJS := $(SDK_SRCS:%.c=$(BUILD)/%.pic.o)
SDK_CFLAGS := -std=gnu11 -O2 -g $(WARN) -MMD -MP -D_GNU_SOURCE -Iinclude -fvisibility=hidden

$(BUILD)/sdk/c/%.o: sdk/c/%.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(SDK_CFLAGS) -c -o $@ $<

$(BUILD)/sdk/c/%.pic.o: sdk/c/%.c
	@mkdir -p $(dir $@)
	@echo "  CC pic  $<"
	$(Q)$(CC) $(SDK_CFLAGS) -fPIC -c -o $@ $<

$(BUILD)/libthaw.a: $(SDK_OBJS)
	@echo "  AR      $@"
	$(Q)rm -f $@ && ar rcs $@ $^

# (Makefile: a build from before the soname was libthaw.so.0 is relinked)
$(BUILD)/libthaw.so: $(SDK_PIC_OBJS) Makefile
	@echo "  LD      $@"
	$(Q)$(CC) -shared -Wl,-soname,libthaw.so.0 -o $@ $(SDK_PIC_OBJS)

# Test programs that use the C SDK link libthaw (static).
$(BUILD)/tests/programs/sdk-%: tests/programs/sdk-%.c $(BUILD)/libthaw.a
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	$(Q)$(CC) -std=gnu11 -O1 -g -Wall -Wextra -Werror -D_GNU_SOURCE -Iinclude -o $@ $< \
		$(BUILD)/libthaw.a -lpthread -ldl

# Manual pages: made from the help texts of the binary just built (scripts/man.sh),
# so that pages and --help cannot drift; bash completion reads the same texts.
$(BUILD)/man/thaw.1: $(BUILD)/thaw scripts/man.sh
	@echo "  MAN     $(BUILD)/man/"
	$(Q)rm -rf $(BUILD)/man && scripts/man.sh $(BUILD)/thaw $(BUILD)/man

# A fake libcuda.so.1 (host memory for device memory) for libthaw's GPU weights region
# where there is no GPU (tests/integration/61-gpu-weights-sdk.sh).
FAKECUDA := $(BUILD)/tests/fakecuda/libcuda.so.1
$(FAKECUDA): tests/fakecuda/libcuda.c
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	$(Q)$(CC) -std=gnu11 -O1 -g -Wall -Wextra -Werror -fPIC -shared -fvisibility=hidden \
		-Wl,-soname,libcuda.so.1 -o $@ $< -lpthread

programs: $(PROG_BINS) $(COMPAT_BINS) $(FAKECUDA)
units: $(UNIT_BINS) $(FUZZ_BINS)

test: deps
	$(Q)$(MAKE) --no-print-directory all units programs
	$(Q)BUILD=$(BUILD) tests/run.sh $(T)

# make fuzz [FUZZ_SECONDS=N] [FUZZ=NAME,...]: every tests/fuzz/fuzz-*.c target
# (or fuzz-NAME only) under libFuzzer (clang, with ASan+UBSan), N seconds each
# (default 30), from its seeds in tests/fuzz/corpus/NAME; fails on a crash
# (tests/fuzz/run.sh).
FUZZ_SECONDS ?= 30
FUZZ ?=
FUZZ_BUILD := build/libfuzzer
FUZZ_CFLAGS := -std=gnu11 -g -O1 -Wall -Wno-unused-command-line-argument -D_GNU_SOURCE -Isrc \
	-Iinclude -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_LIB_OBJS := $(patsubst %.c,$(FUZZ_BUILD)/%.o,$(filter-out src/cli/%,$(SRCS)))
FUZZ_TARGETS := $(FUZZ_SRCS:tests/fuzz/%.c=$(FUZZ_BUILD)/%)
.SECONDARY: $(FUZZ_LIB_OBJS)

$(FUZZ_BUILD)/src/%.o: src/%.c
	@mkdir -p $(dir $@)
	@echo "  CLANG   $<"
	$(Q)clang $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c -o $@ $<

$(FUZZ_BUILD)/fuzz-%: tests/fuzz/fuzz-%.c $(FUZZ_LIB_OBJS) $(BUILD)/restorer-blob.o
	@echo "  CLANG   $@"
	$(Q)clang $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_LIB_OBJS) \
		$(BUILD)/restorer-blob.o $(LIBS)

fuzz: deps
	$(Q)$(MAKE) --no-print-directory $(BUILD)/restorer-blob.o $(FUZZ_TARGETS)
	$(Q)FUZZ_BUILD=$(FUZZ_BUILD) FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_ONLY=$(FUZZ) tests/fuzz/run.sh

# make soak [SOAK_RESTORES=N]: N restores in a row (default 1000), with what
# the system holds (fds, mounts, memory, processes) and the time per restore
# reported first-100 against last-100; fails if anything grows.
SOAK_RESTORES ?= 1000
soak: deps
	$(Q)$(MAKE) --no-print-directory all programs
	$(Q)BUILD=$(BUILD) SOAK_RESTORES=$(SOAK_RESTORES) tests/soak.sh

demo: deps
	$(Q)$(MAKE) --no-print-directory all programs
	$(Q)BUILD=$(BUILD) bench/demo.sh

bench: deps
	$(Q)$(MAKE) --no-print-directory all programs $(BUILD)/bench/store-ram
	$(Q)BUILD=$(BUILD) bench/bench.sh

# Lazy restore against eager: first answer of each, workload A and B (docs/lazy-restore.md).
# BENCH_ARGS: more driver options (--only a|b, --runs N, --size-gib N).
bench-lazy: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)mkdir -p $(BUILD)/bench
	$(Q)$(CC) -std=gnu11 -O2 -Wall -Wextra -D_GNU_SOURCE -pthread -o $(BUILD)/bench/workload-b bench/workload-b.c
	$(Q)$(CC) -std=gnu11 -O2 -Wall -Wextra -D_GNU_SOURCE -o $(BUILD)/bench/ceiling bench/ceiling.c
	$(Q)/usr/bin/python3 bench/driver.py --build $(BUILD) --lazy --json $(BUILD)/bench-lazy.json $(BENCH_ARGS)

# thaw serve with the torch worker examples/app.py: bursts from zero with and
# without snapshots, and the proxy's cost at steady state (bench/serve.py).
bench-serve: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)BUILD=$(BUILD) bench/serve.py

# make soak-serve [SERVE_SOAK_CYCLES=N]: N bursts from zero and back (default 20);
# fails if serve's fds, threads or processes, or the mount table grew.
SERVE_SOAK_CYCLES ?= 20
soak-serve: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)BUILD=$(BUILD) bench/serve.py --soak $(SERVE_SOAK_CYCLES)

# ImageFS against the host's files (python3 + torch): tables + build/bench-image.json,
# and thaw run --image of the torch worker end to end: build/bench-run-image.json
bench-image: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)BUILD=$(BUILD) bench/image.sh
	$(Q)BUILD=$(BUILD) bench/run-image.sh

# On the device machine (a GPU, nvcc, a CUDA torch): cold start vs restore.
bench-gpu: all
	$(Q)BUILD=$(BUILD) bench/gpu.sh

format:
	$(Q)clang-format -i $(SRCS) $(BLOB_SRCS) $(wildcard src/*/*.h tests/*/*.c)

lint:
	$(Q)cppcheck --quiet --error-exitcode=1 --enable=warning,portability -Isrc -Iinclude src

clean:
	rm -rf build

# make install [PREFIX=/usr/local] [DESTDIR=...]: where each part goes can be
# moved on its own (LIBDIR=/usr/lib/x86_64-linux-gnu, as debian/rules does).
# The Python SDK goes where Debian's python3 looks: /usr/lib/python3/dist-packages
# for /usr, PREFIX/lib/python3.N/dist-packages otherwise; thaw run finds it
# beside the binary through DATADIR/thaw/python (a link), for any python.
PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
DATADIR    ?= $(PREFIX)/share
MANDIR     ?= $(DATADIR)/man
BASHCOMPDIR ?= $(DATADIR)/bash-completion/completions
PYTHON     ?= $(firstword $(wildcard /usr/bin/python3) python3)
PYTHONDIR  ?= $(if $(filter /usr,$(PREFIX)),$(PREFIX)/lib/python3/dist-packages,$(PREFIX)/lib/$(shell \
	$(PYTHON) -c 'import sys; print("python%d.%d" % sys.version_info[:2])')/dist-packages)
PY_SDK     := $(notdir $(wildcard sdk/python/thaw/*.py))

install: all
	@echo "  INSTALL $(DESTDIR)$(PREFIX)"
	$(Q)install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCLUDEDIR) \
		$(DESTDIR)$(PYTHONDIR)/thaw $(DESTDIR)$(DATADIR)/thaw/python $(DESTDIR)$(MANDIR)/man1 \
		$(DESTDIR)$(BASHCOMPDIR)
	$(Q)install -m 0755 $(BUILD)/thaw $(DESTDIR)$(BINDIR)/thaw
	$(Q)install -m 0644 $(BUILD)/libthaw.a $(DESTDIR)$(LIBDIR)/libthaw.a
	$(Q)install -m 0644 $(BUILD)/libthaw.so $(DESTDIR)$(LIBDIR)/libthaw.so.0
	$(Q)ln -sfn libthaw.so.0 $(DESTDIR)$(LIBDIR)/libthaw.so
	$(Q)install -m 0644 include/thaw.h $(DESTDIR)$(INCLUDEDIR)/thaw.h
	$(Q)sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
		-e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(VERSION)|' \
		sdk/c/thaw.pc.in >$(DESTDIR)$(LIBDIR)/pkgconfig/thaw.pc
	$(Q)install -m 0644 $(addprefix sdk/python/thaw/,$(PY_SDK)) $(DESTDIR)$(PYTHONDIR)/thaw/
	$(Q)ln -sfn $$(realpath -m --relative-to=$(DATADIR)/thaw/python $(PYTHONDIR)/thaw) \
		$(DESTDIR)$(DATADIR)/thaw/python/thaw
	$(Q)install -m 0644 $(BUILD)/man/*.1 $(DESTDIR)$(MANDIR)/man1/
	$(Q)install -m 0644 src/cli/thaw.bash-completion $(DESTDIR)$(BASHCOMPDIR)/thaw

uninstall:
	@echo "  UNINSTALL $(DESTDIR)$(PREFIX)"
	$(Q)rm -f $(DESTDIR)$(BINDIR)/thaw $(DESTDIR)$(LIBDIR)/libthaw.a \
		$(DESTDIR)$(LIBDIR)/libthaw.so.0 $(DESTDIR)$(LIBDIR)/libthaw.so \
		$(DESTDIR)$(LIBDIR)/pkgconfig/thaw.pc $(DESTDIR)$(INCLUDEDIR)/thaw.h \
		$(addprefix $(DESTDIR)$(PYTHONDIR)/thaw/,$(PY_SDK)) \
		$(DESTDIR)$(DATADIR)/thaw/python/thaw $(DESTDIR)$(MANDIR)/man1/thaw.1 \
		$(DESTDIR)$(MANDIR)/man1/thaw-*.1 $(DESTDIR)$(BASHCOMPDIR)/thaw
	$(Q)rm -rf $(DESTDIR)$(PYTHONDIR)/thaw/__pycache__
	$(Q)rmdir $(DESTDIR)$(PYTHONDIR)/thaw $(DESTDIR)$(DATADIR)/thaw/python \
		$(DESTDIR)$(DATADIR)/thaw 2>/dev/null || true

-include $(OBJS:.o=.d) $(BLOB_OBJS:.o=.d) $(SDK_OBJS:.o=.d) $(SDK_PIC_OBJS:.o=.d) \
	$(FUZZ_LIB_OBJS:.o=.d)
