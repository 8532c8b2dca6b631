# syntax=docker/dockerfile:1
# The veloxide image: `veloxide server` (and every other subcommand) on a distroless runtime.
#
#   docker build -t veloxide:dev .
#
# Build stage: the workspace's pinned Cargo.lock (--locked), release profile. The object-store
# TLS stack is native-tls, i.e. OpenSSL, so the build needs libssl-dev and the runtime libssl3.
FROM docker.io/library/rust:1-bookworm AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends pkg-config libssl-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin veloxide \
    && install -D -m 0755 target/release/veloxide /out/veloxide

# Runtime: distroless cc (glibc, libgcc, libssl3, CA certificates; no shell, no package manager),
# as the image's built-in nonroot user (65532), which the chart's securityContext also sets.
# Pin by digest in production builds.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/veloxide /usr/local/bin/veloxide
USER 65532:65532
# 8085: /metrics, /healthz, /readyz (plain HTTP); 9443: the admission webhook (HTTPS).
EXPOSE 8085 9443
ENTRYPOINT ["/usr/local/bin/veloxide"]
CMD ["server"]
