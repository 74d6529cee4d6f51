# libFuzzer targets under tests/fuzz (tmux fuzz/, Suricata fuzz_*): the
# rule-file loader, the expression compiler, the event-line decoder and
# the config loader, built with clang, ASan and UBSan.  Included by the top
# Makefile, whose CPPFLAGS, WARN and LIBS it uses.
#
#   make fuzz         each target runs its regression inputs, then fuzzes
#                     for FUZZ_SECONDS (60) over its corpus; the work
#                     corpus in build/fuzz/work/ is kept from run to run
#   make fuzz-check   the same for FUZZ_CHECK_SECONDS (30) each, from a
#                     fresh work corpus; one line per target, "PASS
#                     fuzz.NAME" or "FAIL fuzz.NAME: why"
#   make fuzz-build   build/fuzz/fuzz-NAME only
#
# FUZZ_TARGETS picks some: make fuzz FUZZ_TARGETS=expr FUZZ_SECONDS=600.
# A crashing input lands in build/fuzz/crash/NAME/; build/fuzz/fuzz-NAME
# FILE runs it again.  The checked-in corpus (tests/fuzz/corpus/NAME, made
# by tests/fuzz/mkcorpus.py) never grows; a crash, once understood, goes
# into tests/fuzz/regress/NAME/ and stays there after its fix.

# Keep the includer's default goal wherever this file is included.
fuzz_goal := $(.DEFAULT_GOAL)

FUZZ_CC		?= clang
FUZZ_SECONDS	?= 60
FUZZ_CHECK_SECONDS ?= 30
FUZZ_TARGETS	?= rules expr decode conf
FUZZ_SAN	 = -fsanitize=address,undefined -fno-sanitize-recover=undefined \
		   -fno-omit-frame-pointer
FUZZ_CFLAGS	 = -g -O1 $(FUZZ_SAN)

FUZZ_LIB_SRCS	:= $(filter-out daemon/zhilid.c daemon/zhilictl.c,$(wildcard daemon/*.c))
FUZZ_BINS	 = $(addprefix build/fuzz/fuzz-,$(FUZZ_TARGETS))

build/fuzz/obj/%.o: daemon/%.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link $(WARN) -MMD -MP -c -o $@ $<

build/fuzz/obj/tests/fuzz-%.o: tests/fuzz/fuzz-%.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(CPPFLAGS) -DFUZZ_ROOT='"$(CURDIR)"' $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link $(WARN) -MMD -MP -c -o $@ $<

build/fuzz/obj/store-sqlite.o: build/gen/schema.h
build/fuzz/obj/store-pg.o: build/gen/schema-pg.h

build/fuzz/libzhilid.a: $(patsubst daemon/%.c,build/fuzz/obj/%.o,$(FUZZ_LIB_SRCS))
	@rm -f $@
	$(AR) rcs $@ $^

build/fuzz/fuzz-%: build/fuzz/obj/tests/fuzz-%.o build/fuzz/libzhilid.a
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $^ $(LIBS)

-include $(wildcard build/fuzz/obj/*.d build/fuzz/obj/tests/*.d)

fuzz-build: $(FUZZ_BINS)

fuzz: fuzz-build
	@sh tests/fuzz/run.sh fuzz $(FUZZ_SECONDS) $(FUZZ_TARGETS)

fuzz-check: fuzz-build
	@sh tests/fuzz/run.sh check $(FUZZ_CHECK_SECONDS) $(FUZZ_TARGETS)

.PHONY: fuzz fuzz-build fuzz-check

.DEFAULT_GOAL := $(fuzz_goal)
