# Build: dependencies first in their own layer (rebuilt only when Cargo.toml/Cargo.lock change),
# then the service. Runtime: a slim image running as an unprivileged user.
# `.ci/run` rebuilds this stage's COPY layout in an empty directory and runs its RUN lines there
# (`.ci/container.py`), so every path the manifest and the build need must be copied below.
FROM rust:1.95-slim-bookworm AS build
# The commit for the build_info metric (build.rs; the context has no .git):
# docker build --build-arg PSPI_GIT_COMMIT=$(git rev-parse --short=12 HEAD) .
ARG PSPI_GIT_COMMIT=
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
# Stand-ins for every target the manifest declares (cargo reads them all), then the dependencies.
RUN mkdir src benches && echo 'fn main() {}' > src/main.rs && touch src/lib.rs \
    && echo 'fn main() {}' > benches/load.rs \
    && cargo build --release --locked --bin psp-integrator \
    && rm -rf src benches target/release/.fingerprint/psp-integrator-* \
        target/release/deps/psp_integrator-* target/release/deps/libpsp_integrator-*
COPY build.rs askama.toml ./
COPY src ./src
COPY benches ./benches
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
