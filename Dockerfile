# syntax=docker/dockerfile:1
# Caucus relay: a release build in the Rust image, run as a non-root user in
# a slim Debian image. The web client is compiled into the binary.
#
#   docker build -t caucus-relay .
#   docker run -p 8080:8080 caucus-relay          # embedded store, one node
#
# With REDIS_URL set, any number of these containers share one Redis; see
# docker-compose.yml.

FROM rust:1-bookworm AS build
WORKDIR /src
# The whole workspace: cargo reads every member's manifest, and the relay
# embeds web-client/ at compile time.
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p relay \
    && cp target/release/relay /usr/local/bin/relay

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin caucus
COPY --from=build /usr/local/bin/relay /usr/local/bin/relay
USER caucus
ENV RELAY_ADDR=0.0.0.0:8080
EXPOSE 8080
# SIGTERM makes the relay close websockets with 1012 ("reconnect") and drain.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/relay"]
