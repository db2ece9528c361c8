# certgate container image.
#
#   docker build -t certgate .
#   docker run --rm -p 8443:8443 \
#       -v /path/to/certgate.yaml:/etc/certgate/certgate.yaml:ro \
#       -v /path/to/certs:/etc/certgate/certs:ro certgate
#
# The packages of both stages come from scripts/packages.txt (roles "build"
# and "runtime"), the same list scripts/install-deps uses everywhere else.

# ---- stage 1: build ---------------------------------------------------------
FROM debian:bookworm AS build

WORKDIR /src
# Only the package list and its installer first, so the dependency layer is
# rebuilt only when the list changes, not on every source change.
COPY scripts/packages.txt scripts/install-deps scripts/
RUN bash scripts/install-deps build \
 && rm -rf /var/lib/apt/lists/*

# mbedTLS 3.6 LTS, built with certgate's configuration and linked statically
# (docs/platform.md): the meson setup below fetches Debian's source package
# through this image's apt sources and verifies it, or takes a copied
# subprojects/packagecache/ from the build context (offline: add
# --wrap-mode=nodownload). --build-arg MBEDTLS=system needs an mbedTLS >= 3.6
# package in the image (Debian 13).
ARG MBEDTLS=bundled
COPY . .
RUN meson setup build -Dtests=false -Dbuildtype=release -Dwerror=false -Dmbedtls=${MBEDTLS} \
 && meson compile -C build \
 && strip build/certgate

# ---- stage 2: runtime -------------------------------------------------------
FROM debian:bookworm-slim

COPY scripts/packages.txt scripts/install-deps /tmp/certgate-deps/
RUN bash /tmp/certgate-deps/install-deps runtime \
 && rm -rf /var/lib/apt/lists/* /tmp/certgate-deps

# System user without a login shell and without a home directory.
RUN useradd --system --user-group --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin certgate

COPY --from=build /src/build/certgate /usr/local/bin/certgate
COPY conf/certgate.yaml /etc/certgate/certgate.yaml.example

# Fail the image build if a shared library of the binary is not installed
# (that is, scripts/packages.txt lacks a runtime package).
RUN if ldd /usr/local/bin/certgate | grep 'not found'; then \
        echo "certgate: missing runtime libraries; add their packages to scripts/packages.txt (runtime)" >&2; \
        exit 1; \
    fi

USER certgate
EXPOSE 8443
ENTRYPOINT ["certgate"]
CMD ["run", "-c", "/etc/certgate/certgate.yaml"]
