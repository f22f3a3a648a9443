# chatter: a multi-stage build. The builder compiles the release binary (librdkafka is built
# from source by rdkafka-sys: it needs a C toolchain, make, pkg-config and the OpenSSL
# headers); the runtime image holds the binary, the example config and nothing else, and runs
# as an unprivileged user (chatter, uid and gid 10001, named by number in USER so that the
# host and Kubernetes' runAsNonRoot can tell it is not root).
#
# Linted by ops/lint-docker.sh (hadolint, configured by .hadolint.yaml: apt packages are left
# unpinned on purpose so that Debian's security updates flow in; the base images are pinned by
# tag).
#
#   docker build --build-arg CHATTER_GIT_REV="$(git rev-parse --short=12 HEAD)" -t chatter .
#   docker run --rm chatter run --help

FROM rust:1.92-bookworm AS builder
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential pkg-config libssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# The revision `chatter --version` names (the image has no .git):
#   docker build --build-arg CHATTER_GIT_REV="$(git rev-parse --short=12 HEAD)" -t chatter .
ARG CHATTER_GIT_REV=unknown
ENV CHATTER_GIT_REV=${CHATTER_GIT_REV}
COPY Cargo.toml Cargo.lock build.rs ./
COPY dataflows ./dataflows
COPY crates ./crates
COPY src ./src
COPY benches ./benches
COPY examples ./examples
COPY tests ./tests
COPY schemas ./schemas
COPY chatter.example.toml ./
RUN cargo build --release --locked --bin chatter \
 && cp target/release/chatter /usr/local/bin/chatter

FROM debian:bookworm-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libssl3 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 chatter \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/chatter --create-home chatter
COPY --from=builder /usr/local/bin/chatter /usr/local/bin/chatter
COPY chatter.example.toml /etc/chatter/chatter.example.toml
USER 10001:10001
WORKDIR /var/lib/chatter
VOLUME ["/var/lib/chatter"]
# /healthz and /readyz when the config sets [http] listen (ops/docker/chatter.toml does).
EXPOSE 8080
# Healthy while snapshots keep being published (the lake is the checkpoint; a pipeline that
# stopped making progress stops publishing them).
HEALTHCHECK --interval=30s --timeout=10s --start-period=120s --retries=3 \
  CMD ["chatter", "health", "--lake", "/var/lib/chatter/lake", "--max-age", "5m"]
ENTRYPOINT ["chatter"]
CMD ["run", "--config", "/etc/chatter/chatter.toml"]
