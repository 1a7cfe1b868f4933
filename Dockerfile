# syntax=docker/dockerfile:1
# The orderflow image: one binary whose subcommand picks the component, as the manifests in
# k8s/ run it (`gateway`, `process inventory|payments|orders|notifications`, `webhooks`).
#
#   docker build -t orderflow:0.1.0 .
#   docker run --rm orderflow:0.1.0 --help

# Build: librdkafka and RocksDB are compiled from source (cmake, clang for bindgen) with the
# same Debian packages as stack/stack.sh installs; the binary links OpenSSL and zlib.
FROM rust:1.95-bookworm AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      cmake libclang-dev libcurl4-openssl-dev libssl-dev pkg-config zlib1g-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin orderflow \
 && install -D target/release/orderflow /out/orderflow

# Run: a slim Debian with the shared libraries the binary links and the CA certificates that
# webhook deliveries to HTTPS endpoints verify against, as an unprivileged user.
FROM debian:bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates libssl3 libstdc++6 zlib1g \
 && rm -rf /var/lib/apt/lists/*
# The user and group the manifests run as (runAsUser/runAsGroup/fsGroup 10001).
RUN groupadd --system --gid 10001 orderflow \
 && useradd --system --uid 10001 --gid orderflow --home-dir /var/lib/orderflow \
      --shell /usr/sbin/nologin orderflow \
 && install -d -o orderflow -g orderflow /var/lib/orderflow
COPY --from=build /out/orderflow /usr/local/bin/orderflow
USER 10001:10001
WORKDIR /var/lib/orderflow
# The gateway's HTTP API, and every component's ops server (metrics, liveness, readiness).
EXPOSE 8080 9600
ENTRYPOINT ["orderflow"]
CMD ["--help"]
