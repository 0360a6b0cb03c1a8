# Build: dependencies first in their own layer (rebuilt only when Cargo.toml/Cargo.lock change),
# then the service. Runtime: a slim image running as an unprivileged user.
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
RUN mkdir src && echo 'fn main() {}' > src/main.rs && touch src/lib.rs \
    && cargo build --release --locked --bin psp-integrator \
    && rm -rf src target/release/.fingerprint/psp-integrator-* \
        target/release/deps/psp_integrator-* target/release/deps/libpsp_integrator-*
COPY src ./src
COPY migrations ./migrations
COPY config ./config
COPY templates ./templates
RUN cargo build --release --locked --bin psp-integrator

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home /app pspi
WORKDIR /app
COPY --from=build /src/target/release/psp-integrator /usr/local/bin/psp-integrator
COPY config ./config
RUN mkdir -p /app/data && chown pspi /app/data
USER pspi
ENV PSPI_PROFILE=production
EXPOSE 8080
# Ready = database reachable, migrations current, workers running (see README "Endpoints").
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["psp-integrator", "healthcheck"]
ENTRYPOINT ["psp-integrator"]
CMD ["serve"]
