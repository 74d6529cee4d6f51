# zhilid — build, test, benchmark, install.
#
#   make            build/zhilid and build/zhilictl (-O2)
#   make run        install missing packages, build, run on ./zhilid.conf
#   make check      unit, rule, end-to-end and conformance tests, on the
#                   release build and again under ASan+UBSan
#   make bench      the benchmarks of README.md (not part of check);
#                   bench-close and bench-deadlines run one of them alone;
#                   bench-review times grid.review and branch.review
#                   (not part of bench)
#                   bench-backtest times zhilictl backtest on 1M and
#                   10M-event logs (not part of bench)
#                   bench-cadence judges 100,000 leaders at a month end
#                   bench-explain times explain and dry_run of households
#                   bench-pg: the same load into SQLite and PostgreSQL
#                   bench-outputs compares run.sh with and without a
#                   file and a journal output (not part of bench)
#                   bench-size: bytes stored per event
#                   bench-retention: deleting old events under load
#                   bench-failover: kill -9 of the active PostgreSQL
#                   daemon to the standby serving, 20 runs
#   make install    PREFIX=/usr/local DESTDIR=
#   make deb        a Debian 12 package, build/deb/zhilid_VERSION_ARCH.deb,
#                   checked by lintian

PREFIX	?= /usr/local
BINDIR	?= $(PREFIX)/bin
SBINDIR	?= $(PREFIX)/sbin
DATADIR	?= $(PREFIX)/share/zhilid
SYSCONFDIR ?= /etc
UNITDIR	?= $(PREFIX)/lib/systemd/system
MANDIR	?= $(PREFIX)/share/man

CC	?= cc
PKGS	 = yaml-0.1 sqlite3 libcjson libpq
# libsystemd: the journal output's sd_journal_sendv
PKGS	+= libsystemd
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null || echo -lyaml -lsqlite3 -lcjson -lpq -lsystemd)
# libev ships no .pc file on Debian.
LIBS	 = $(PKG_LIBS) -lev -lm -lpthread

WARN	 = -std=c11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
	   -Wmissing-prototypes -Wpointer-arith -Wno-unused-parameter
CPPFLAGS += -D_GNU_SOURCE -Idaemon -Ibuild/gen $(PKG_CFLAGS)
CFLAGS	?= -O2 -g
.DEFAULT_GOAL := all
SANFLAGS = -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer \
	   -fno-sanitize-recover=undefined

LIB_SRCS := $(filter-out daemon/zhilid.c daemon/zhilictl.c,$(wildcard daemon/*.c))
UNIT_SRCS := $(wildcard tests/unit/test-*.c)
UNITS	:= $(patsubst tests/unit/%.c,%,$(UNIT_SRCS))

SCHEMA	:= $(sort $(wildcard schema/[0-9]*.sql))

build/gen/schema.h: $(SCHEMA) schema/embed.sh
	@mkdir -p build/gen
	sh schema/embed.sh $(SCHEMA) > $@.tmp && mv $@.tmp $@

build/obj/store-sqlite.o build/asan/obj/store-sqlite.o: build/gen/schema.h

# PostgreSQL's migrations, schema/pg/NNN-name.sql, the same steps in its
# dialect, embedded the same way.
SCHEMA_PG := $(sort $(wildcard schema/pg/[0-9]*.sql))

build/gen/schema-pg.h: $(SCHEMA_PG) schema/embed.sh
	@mkdir -p build/gen
	sh schema/embed.sh $(SCHEMA_PG) > $@.tmp && mv $@.tmp $@

build/obj/store-pg.o build/asan/obj/store-pg.o: build/gen/schema-pg.h

# Two variants share the rules below: build/ (release) and build/asan/.
define variant
$(1)/obj/%.o: daemon/%.c
	@mkdir -p $$(dir $$@)
	$$(CC) $$(CPPFLAGS) $(2) $$(WARN) -MMD -MP -c -o $$@ $$<
$(1)/obj/tests/%.o: tests/unit/%.c
	@mkdir -p $$(dir $$@)
	$$(CC) $$(CPPFLAGS) $(2) $$(WARN) -MMD -MP -c -o $$@ $$<
$(1)/libzhilid.a: $$(patsubst daemon/%.c,$(1)/obj/%.o,$$(LIB_SRCS))
	@rm -f $$@
	$$(AR) rcs $$@ $$^
$(1)/zhilid: $(1)/obj/zhilid.o $(1)/libzhilid.a
	$$(CC) $(2) $$(LDFLAGS) -o $$@ $$^ $$(LIBS)
$(1)/zhilictl: $(1)/obj/zhilictl.o $(1)/libzhilid.a
	$$(CC) $(2) $$(LDFLAGS) -o $$@ $$^ $$(LIBS)
$(1)/test-%: $(1)/obj/tests/test-%.o $(1)/libzhilid.a
	$$(CC) $(2) -o $$@ $$^ $$(LIBS)
-include $$(wildcard $(1)/obj/*.d $(1)/obj/tests/*.d)
endef

$(eval $(call variant,build,$(CFLAGS)))
$(eval $(call variant,build/asan,$(SANFLAGS)))

all: build/zhilid build/zhilictl

asan: build/asan/zhilid build/asan/zhilictl $(addprefix build/asan/,$(UNITS))

units: $(addprefix build/,$(UNITS))

run: deps all
	@mkdir -p run
	./build/zhilid -c zhilid.conf

deps:
	@sh contrib/install-deps.sh

# Packages first (a no-op when all are there), so that on a fresh machine
# make check alone builds and passes.
check: deps
	@$(MAKE) --no-print-directory all units asan fuzz-build
	@sh tests/run.sh

bench: all
	@$(MAKE) -s -C tests/bench all
	@sh tests/bench/run.sh
	@sh tests/bench/close.sh
	@sh tests/bench/deadlines.sh

# run.sh with and without a file and a journal output, interleaved.
bench-outputs: all
	@$(MAKE) -s -C tests/bench all
	@sh tests/bench/outputs.sh

# A period close of 100,000 secretaries; 1,000,000 pending deadlines.
bench-close: all
	@$(MAKE) -s -C tests/bench all
	@sh tests/bench/close.sh

bench-review: all
	@$(MAKE) -s -C tests/bench all
	@sh tests/bench/review.sh

# The README's pictures of the map, drawn by headless Chromium.
screenshots: all
	@python3 tests/map/screenshots.py

# The map of 1,000 communities and 1,000,000 households, and of one of 5,000.
bench-map: all
	@$(MAKE) -s -C tests/bench all
	@sh tests/bench/map.sh

# The same load into SQLite and into a throwaway PostgreSQL cluster.
bench-pg: all
	@$(MAKE) -s -C tests/bench all
	@sh tests/bench/pg.sh

# Failover: kill -9 of the active to the standby's first acknowledgement.
bench-failover: all
	@python3 tests/bench/failover.py

bench-deadlines: all
	@$(MAKE) -s -C tests/bench all
	@sh tests/bench/deadlines.sh

bench-backtest: all
	@$(MAKE) -s -C tests/bench all
	@sh tests/bench/backtest.sh

bench-cadence: all
	@$(MAKE) -s -C tests/bench all
	@sh tests/bench/cadence.sh

# Bytes stored per event, all tables and indexes, after VACUUM.
bench-size: all
	@$(MAKE) -s -C tests/bench all
	@sh tests/bench/size.sh

# Deleting a log older than retention.events while events are pushed.
bench-retention: all
	@$(MAKE) -s -C tests/bench all
	@sh tests/bench/retention.sh

bench-explain: all
	@$(MAKE) -s -C tests/bench all
	@sh tests/bench/explain.sh

# The in-process comparison in instructions (callgrind): repeatable on a
# machine whose clock is shared.
bench-instr: all
	@$(MAKE) -s -C tests/bench all
	@sh tests/bench/instr.sh

install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) \
		$(DESTDIR)$(DATADIR)/rules $(DESTDIR)$(DATADIR)/schema \
		$(DESTDIR)$(SYSCONFDIR)/zhilid $(DESTDIR)$(UNITDIR)
	install -m 755 build/zhilid $(DESTDIR)$(SBINDIR)/zhilid
	install -m 755 build/zhilictl $(DESTDIR)$(BINDIR)/zhilictl
	install -m 644 rules/*.yaml $(DESTDIR)$(DATADIR)/rules/
	install -m 644 schema/*.sql schema/*.json $(DESTDIR)$(DATADIR)/schema/
	# the province's views over district schemas (zhilid(8))
	install -d $(DESTDIR)$(DATADIR)/postgres
	install -m 644 contrib/postgres/province.sql $(DESTDIR)$(DATADIR)/postgres/
	sed -e 's|/usr/local/sbin|$(SBINDIR)|g' contrib/zhilid.service \
		> $(DESTDIR)$(UNITDIR)/zhilid.service
	install -m 644 contrib/zhilid.socket $(DESTDIR)$(UNITDIR)/zhilid.socket
	sed -e 's|/usr/local/bin|$(BINDIR)|g' contrib/zhilid-map.service \
		> $(DESTDIR)$(UNITDIR)/zhilid-map.service
	install -m 644 contrib/zhilid-map.timer $(DESTDIR)$(UNITDIR)/
	install -d $(DESTDIR)$(PREFIX)/lib/sysusers.d $(DESTDIR)$(PREFIX)/lib/tmpfiles.d
	install -m 644 contrib/zhilid.sysusers $(DESTDIR)$(PREFIX)/lib/sysusers.d/zhilid.conf
	install -m 644 contrib/zhilid.tmpfiles $(DESTDIR)$(PREFIX)/lib/tmpfiles.d/zhilid.conf
	install -d $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 \
		$(DESTDIR)$(MANDIR)/man8
	install -m 644 contrib/man/zhilictl.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 644 contrib/man/zhilid.conf.5 contrib/man/zhilid.rules.5 \
		$(DESTDIR)$(MANDIR)/man5/
	sed -e 's|/usr/local/lib/systemd/system|$(UNITDIR)|g' \
		-e 's|/usr/local|$(PREFIX)|g' contrib/man/zhilid.8 \
		> $(DESTDIR)$(MANDIR)/man8/zhilid.8
	chmod 644 $(DESTDIR)$(MANDIR)/man8/zhilid.8
	test -f $(DESTDIR)$(SYSCONFDIR)/zhilid/zhilid.conf || \
		sed -e 's|/usr/local/share/zhilid|$(DATADIR)|g' \
		contrib/zhilid.conf.system > $(DESTDIR)$(SYSCONFDIR)/zhilid/zhilid.conf

clean:
	rm -rf build

# The package is built by dpkg-buildpackage in a copy of the sources, whose
# clean step (make clean) then leaves this build/ alone; lintian must find
# no error in it (warnings are printed).
DEB_SOURCES = Makefile README.md zhilid.conf daemon rules schema contrib debian
DEB_JOBS ?= 2
deb:
	rm -rf build/deb
	mkdir -p build/deb/zhilid
	tar cf - $(DEB_SOURCES) | tar xf - -C build/deb/zhilid
	cd build/deb/zhilid && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
		dpkg-buildpackage -us -uc -b -j$(DEB_JOBS)
	lintian --fail-on error --no-tag-display-limit build/deb/*.changes

.SECONDARY:
.PHONY: all asan units run deps check bench bench-close bench-deadlines bench-pg \
	bench-cadence bench-review bench-explain bench-backtest bench-size \
	bench-retention bench-instr bench-map screenshots install clean deb \
	bench-outputs bench-failover

# libFuzzer targets (clang): make fuzz, and fuzz-check (run by make check).
-include tests/fuzz/fuzz.mk
