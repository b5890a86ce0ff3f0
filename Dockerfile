# syntax=docker/dockerfile:1
# taskmgmt: one image, three roles chosen by the command:
#   db      PostgreSQL 15 with pg_cron and the taskmgmt extension
#   shim    the HTTP/websocket shim (taskmgmt-shim)
#   mailer  the email outbox sender (taskmgmt-mailer)
#   migrate CREATE EXTENSION / ALTER EXTENSION UPDATE against $DATABASE_URL
# Configuration is by environment only; no secret is baked in (see docker/entrypoint.sh).
#
#   make image            (or: podman build -t taskmgmt:latest .)

ARG DEBIAN_IMAGE=debian:bookworm-slim

# ---------------------------------------------------------------- build stage
FROM ${DEBIAN_IMAGE} AS build
ENV DEBIAN_FRONTEND=noninteractive
# Debian's postgresql-common would create a 'main' cluster on install.
RUN mkdir -p /etc/postgresql-common/createcluster.d \
 && echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.d/no-main.conf \
 && apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends \
      build-essential pkg-config postgresql-server-dev-15 libpq-dev libssl-dev \
      libh2o-evloop-dev libwslay-dev libcurl4-openssl-dev libhpdf-dev zlib1g-dev libpng-dev libical-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# `make` builds every component present in the tree (extension, shim, mailer);
# the shim finds openapi.json, docs-dist/ (and web/) beside its binary, so binaries
# live in /usr/local/lib/taskmgmt (symlinked into /usr/local/bin);
# the runtime stage gets only what was built, plus the list of Debian packages
# providing the shared libraries those binaries link against.
# /docs needs Redoc in shim/docs-dist and / needs the web UI built into
# web/dist (React + Vite), both made on the host by `make image` (`make
# shim-docs web`, npm) before building: the build itself needs no npm.
RUN set -e; \
    make -j"$(nproc)" with_llvm=no all \
 && make install DESTDIR=/out with_llvm=no \
 && for bin in shim/taskmgmt-shim mailer/taskmgmt-mailer; do \
      if [ -x "$bin" ]; then \
        install -D -m 0755 "$bin" "/out/usr/local/lib/taskmgmt/$(basename "$bin")"; \
        ln -s "../lib/taskmgmt/$(basename "$bin")" "/out/usr/local/bin/$(basename "$bin")" 2>/dev/null \
          || { mkdir -p /out/usr/local/bin && ln -s "../lib/taskmgmt/$(basename "$bin")" "/out/usr/local/bin/$(basename "$bin")"; }; \
      fi; \
    done \
 && for f in shim/openapi.json shim/docs-dist/redoc.standalone.js; do \
      if [ -f "$f" ]; then install -D -m 0644 "$f" "/out/usr/local/lib/taskmgmt/${f#shim/}"; fi; \
    done \
 && if [ -f web/dist/index.html ]; then mkdir -p /out/usr/local/lib/taskmgmt && cp -r web/dist /out/usr/local/lib/taskmgmt/web; fi \
 && mkdir -p /out/usr/share/taskmgmt \
 && find /out -type f \( -name '*.so' -o -perm -u+x \) -exec ldd {} + 2>/dev/null \
      | awk '/=> \// {print $3}' | sort -u \
      | while read -r lib; do \
          dpkg -S "$lib" 2>/dev/null || dpkg -S "/usr$lib" 2>/dev/null || dpkg -S "$(readlink -f "$lib")" 2>/dev/null \
          || echo "no package provides $lib" >&2; \
        done | cut -d: -f1 | sort -u \
      | grep -vE '^(libc6|postgresql-15|libpq5)$' > /out/usr/share/taskmgmt/runtime-packages \
 && echo "runtime library packages:" && cat /out/usr/share/taskmgmt/runtime-packages

# -------------------------------------------------------------- runtime stage
FROM ${DEBIAN_IMAGE}
ENV DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8
COPY --from=build /out/usr/share/taskmgmt/runtime-packages /tmp/runtime-packages
# A fixed, numeric non-root user so Kubernetes can check runAsNonRoot and
# fsGroup can give it the data volume.
RUN groupadd --system --gid 10001 taskmgmt \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/taskmgmt --shell /usr/sbin/nologin taskmgmt \
 && mkdir -p /etc/postgresql-common/createcluster.d \
 && echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.d/no-main.conf \
 && apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends \
      postgresql-15 postgresql-15-cron postgresql-client-15 ca-certificates fonts-dejavu-core \
      $(cat /tmp/runtime-packages) \
 && apt-get clean && rm -rf /var/lib/apt/lists/* /tmp/runtime-packages /var/cache/debconf/*-old \
      /usr/share/doc/* /usr/share/man/* \
 && install -d -o taskmgmt -g taskmgmt -m 0700 /var/lib/taskmgmt /var/lib/taskmgmt/data
COPY --from=build /out/ /
COPY docker/entrypoint.sh /usr/local/bin/taskmgmt-entrypoint
ENV PATH=/usr/lib/postgresql/15/bin:$PATH \
    PGDATA=/var/lib/taskmgmt/data \
    TASKMGMT_DB_NAME=taskmgmt \
    TASKMGMT_DB_USER=taskmgmt_client_login \
    PORT=8080 \
    LISTEN_ADDR=0.0.0.0
USER 10001:10001
WORKDIR /var/lib/taskmgmt
# The database role keeps its cluster in $PGDATA: mount a volume at
# /var/lib/taskmgmt/data.  (No VOLUME instruction: the shim and mailer
# containers of this same image need none.)
EXPOSE 5432 8080
STOPSIGNAL SIGINT
ENTRYPOINT ["/usr/local/bin/taskmgmt-entrypoint"]
CMD ["db"]
