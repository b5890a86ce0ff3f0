# taskmgmt-shim: the HTTP + websocket server (included by the top Makefile).
#   make shim/taskmgmt-shim     the server (part of `make all`)
#   make shim-asan              the same built with AddressSanitizer
#   make shim-fuzz FUZZ_RUNS=N  libFuzzer on request -> route -> parameters, error -> problem, framing
#   make shim-docs              Redoc from npm into shim/docs-dist (served at /docs)
SHIM_SRCS  := $(addprefix shim/,main.c config.c routes.c params.c buf.c db.c pgsock.c \
               handler.c response.c stream.c errors.c ops.c log.c metrics.c ws.c listen.c origin.c \
               admission.c framing.c framing_req.c)
SHIM_HDRS  := $(wildcard shim/*.h)
SHIM_CFLAGS := -std=gnu11 -O2 -g -Wall -Wextra -Werror -Wno-unused-parameter \
               -DH2O_USE_LIBUV=0 -I$(shell $(PG_CONFIG) --includedir 2>/dev/null || echo /usr/include/postgresql)
SHIM_LIBS  := -lh2o-evloop -lwslay -lssl -lcrypto -lpq -lpthread
FUZZ_RUNS ?= 20000

all: shim/taskmgmt-shim

shim/taskmgmt-shim: $(SHIM_SRCS) $(SHIM_HDRS)
	$(CC) $(SHIM_CFLAGS) -o $@ $(SHIM_SRCS) $(SHIM_LIBS)

shim/taskmgmt-shim-asan: $(SHIM_SRCS) $(SHIM_HDRS)
	$(CC) $(SHIM_CFLAGS) -O1 -fsanitize=address,undefined -fno-omit-frame-pointer \
	  -Wno-format-truncation -Wno-format-overflow -o $@ $(SHIM_SRCS) $(SHIM_LIBS)

shim/fuzz-routes: shim/fuzz_routes.c shim/routes.c shim/params.c shim/buf.c shim/errors.c shim/framing.c \
                  shim/routes.h shim/buf.h shim/errors.h shim/framing.h
	clang -std=gnu11 -g -O1 -Wall -Wextra -Werror -fsanitize=fuzzer,address,undefined \
	  -o $@ shim/fuzz_routes.c shim/routes.c shim/params.c shim/buf.c shim/errors.c shim/framing.c

.PHONY: shim-asan shim-fuzz shim-docs
shim-asan: shim/taskmgmt-shim-asan

shim-fuzz: shim/fuzz-routes
	mkdir -p .run/fuzz-corpus && cp shim/fuzz-seeds/* .run/fuzz-corpus/ 2>/dev/null || true
	shim/fuzz-routes -runs=$(FUZZ_RUNS) -max_len=512 .run/fuzz-corpus

shim-docs: shim/docs-dist/redoc.standalone.js

shim/docs-dist/redoc.standalone.js:
	mkdir -p shim/docs-dist/npm
	cd shim/docs-dist/npm && npm install --silent --no-audit --no-fund --prefix . redoc@2 >/dev/null
	cp shim/docs-dist/npm/node_modules/redoc/bundles/redoc.standalone.js $@

clean: shim-clean
.PHONY: shim-clean
shim-clean:
	rm -f shim/taskmgmt-shim shim/taskmgmt-shim-asan shim/fuzz-routes
