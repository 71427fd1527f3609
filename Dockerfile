# syntax=docker/dockerfile:1.7
# The one Chirp image: `chirp` with a subcommand per service (`chirp auth`, ...).

FROM rust:1.95-bookworm AS build
WORKDIR /src
# librdkafka is built from source by the rdkafka crate.
RUN apt-get update && apt-get install -y --no-install-recommends cmake && rm -rf /var/lib/apt/lists/*
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin chirp && cp target/release/chirp /usr/local/bin/chirp

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/chirp --create-home chirp
COPY --from=build /usr/local/bin/chirp /usr/local/bin/chirp
USER chirp
WORKDIR /var/lib/chirp
ENV CHIRP_DATA_DIR=/var/lib/chirp \
    CHIRP_LISTEN=0.0.0.0:8080 \
    CHIRP_LOG_FORMAT=json
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=2s --retries=3 CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1
ENTRYPOINT ["chirp"]
CMD ["all"]
