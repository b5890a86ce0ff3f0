# taskmgmt: PGXS build of the extension, plus run and test targets.
#   make run    install what is missing, build, start a private cluster with the extension
#   make test   the same set-up, then every test suite
EXTENSION   = taskmgmt
# The version lives in taskmgmt.control only.
EXTVERSION := $(shell sed -n "s/^default_version *= *'\(.*\)'/\1/p" taskmgmt.control)

MODULE_big  = taskmgmt
OBJS        = extension/taskmgmt.o extension/identity.o extension/auth.o \
              extension/jwt.o extension/base64url.o extension/autonomous.o \
              extension/spi_util.o extension/crypto.o extension/export_csv.o \
              extension/pdf_canvas.o extension/report_chart.o extension/report_pdf.o \
              extension/tokens.o extension/webhooks.o extension/ical.o \
              extension/recurrence.o extension/filter_lang.o \
              extension/membership.o extension/query_cache.o \
              extension/direct_read.o extension/session_lookup.o \
              extension/task_json.o extension/cursor.o \
              extension/export_stream.o extension/planning.o
SQL_PARTS   = $(sort $(wildcard extension/sql/*.sql))
DATA_built  = taskmgmt--$(EXTVERSION).sql

REGRESS      = $(basename $(notdir $(sort $(wildcard test/sql/*.sql))))
TEST_OUTDIR ?= .run/test-out
REGRESS_OPTS = --inputdir=test --outputdir=$(TEST_OUTDIR)/regress --load-extension=pgcrypto --load-extension=pg_trgm --load-extension=taskmgmt
ISOLATION      = $(basename $(notdir $(sort $(wildcard test/isolation/specs/*.spec))))
ISOLATION_OPTS = --inputdir=test/isolation --outputdir=$(TEST_OUTDIR)/isolation --load-extension=pgcrypto --load-extension=pg_trgm --load-extension=taskmgmt

PG_CPPFLAGS = -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers \
              -Wno-sign-compare
SHLIB_LINK  = -lcrypto -lhpdf -lical

# pg_config on the PATH, as PGXS extensions do; name another one for another
# installation (PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config).
PG_CONFIG ?= pg_config

.PHONY: run test stop deps bench installcheck-regress installcheck-isolation

PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)
ifneq ($(wildcard $(PGXS)),)
ifeq ($(filter 15.%,$(word 2,$(shell $(PG_CONFIG) --version))),)
$(error taskmgmt is for PostgreSQL 15, but $(PG_CONFIG) is $(shell $(PG_CONFIG) --version): set PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config)
endif
include $(PGXS)

$(DATA_built): $(SQL_PARTS) taskmgmt.control
	@{ echo "-- taskmgmt $(EXTVERSION): generated from extension/sql/*.sql, do not edit"; \
	   printf '%s\n' '\echo Use "CREATE EXTENSION taskmgmt CASCADE" to load this file. \quit'; \
	   for f in $(SQL_PARTS); do echo; echo "-- ==== $$f ===="; cat $$f; done; } > $@

# Install the library atomically (copy, then rename): overwriting it in
# place, or a half-written new file, crashes running backends (SIGBUS/SIGSEGV)
# when someone runs make install while tests run.
INSTALL_SHLIB = sh -c 'install -c -m 755 "$$0" "$$1.tmp$$$$" && mv -f "$$1.tmp$$$$" "$$1"'

run: deps
	@scripts/run.sh

test: deps
	@scripts/test.sh

# The two halves of PGXS's installcheck, so each suite reports on its own.
installcheck-regress: submake
	$(pg_regress_installcheck) $(REGRESS_OPTS) $(REGRESS)

installcheck-isolation: submake
	$(pg_isolation_regress_installcheck) $(ISOLATION_OPTS) $(ISOLATION)

stop:
	@scripts/pgcluster.sh stop db
	@scripts/ha.sh stop db-ha

bench: deps
	@bench/run.sh
else
# Fresh machine: PGXS (and pg_config) are not installed yet, so install the
# packages first and then run the requested target again.
ifeq ($(TM_BOOTSTRAPPED),)
all install run test bench: deps
	@$(MAKE) --no-print-directory TM_BOOTSTRAPPED=1 $@
else
all install run test bench:
	@echo "$(PG_CONFIG) --pgxs names no PGXS even after scripts/deps.sh: set PG_CONFIG to PostgreSQL 15's pg_config" >&2; exit 1
endif
endif

deps:
	@scripts/deps.sh

# Components (shim, mailer, ...) bring their own rules in <dir>/<name>.mk.
-include $(wildcard */*.mk)

# libFuzzer on the filter language parser (extension/fuzz_filter.c), as
# make shim-fuzz does for the routes: make filter-fuzz FUZZ_RUNS=5000000
.PHONY: filter-fuzz
extension/fuzz-filter: extension/fuzz_filter.c extension/filter_lang.c extension/filter_lang_fuzz.h
	clang -std=gnu11 -g -O1 -Wall -Wextra -Werror -Wno-unused-function -Wno-unused-parameter -Wno-unused-variable -fsanitize=fuzzer,address,undefined \
	  -DFL_STANDALONE -Iextension -o $@ extension/fuzz_filter.c extension/filter_lang.c
filter-fuzz: extension/fuzz-filter
	mkdir -p .run/filter-corpus && cp extension/fuzz-seeds/* .run/filter-corpus/
	extension/fuzz-filter -runs=$(or $(FUZZ_RUNS),1000000) -max_len=512 .run/filter-corpus
