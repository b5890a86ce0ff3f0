# The web UI (included by the top Makefile): React + TypeScript, built by
# Vite into web/dist, which the shim serves at / (index.html, app.js,
# app.css, favicon.svg).  The API types come from shim/openapi.json
# (openapi-typescript), so the UI is rebuilt when the document changes.
#   make web          build web/dist (npm ci on first use; part of `make all`)
#   make web-check    tsc against the current shim/openapi.json (the web suite runs it)
# The image build has no npm: `make image` and the deploy suite build
# web/dist on the host first, and the Dockerfile copies it.
WEB_SRCS := $(wildcard web/src/*.ts web/src/*.tsx web/src/*.css web/public/*) \
            web/index.html web/vite.config.ts web/tsconfig.json web/package.json web/package-lock.json \
            shim/openapi.json

.PHONY: web web-check web-clean
all: web
web: web/dist/index.html

ifneq ($(shell command -v npm 2>/dev/null),)
web/dist/index.html: $(WEB_SRCS)
	@web/build.sh build
else
web/dist/index.html:
	@test -f $@ || echo "web: npm is missing, so the web UI is not built (scripts/deps.sh installs nodejs and npm)" >&2
endif

web-check:
	@web/build.sh check

clean: web-clean
web-clean:
	rm -rf web/dist web/src/gen
