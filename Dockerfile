# syntax=docker/dockerfile:1
#
# The platform in one static binary on a distroless base: no shell, no
# package manager, running as an unprivileged user. Data (the SQLite
# database) lives in the /data volume; on MariaDB and Redis set
# PLATFORM_DATABASE_DRIVER=mysql, PLATFORM_DATABASE_DSN and
# PLATFORM_REDIS_ADDR instead.
#
#   docker build --build-arg VERSION=$(git describe --tags --always) -t platform .
#   docker run -p 8080:8080 -v platform-data:/data platform

FROM golang:1.26-bookworm AS build
WORKDIR /src
# Modules first, so that a code change does not download them again.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X github.com/platform/platform/internal/kernel.Version=${VERSION}" \
      -o /out/platform ./cmd/platform \
 && mkdir -p /out/data

# distroless/static has CA certificates, tzdata and /etc/passwd with the
# nonroot user (65532), and nothing else.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/platform /platform
# The volume starts out owned by the user that writes to it.
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
ENV PLATFORM_DATA_DIR=/data PLATFORM_HTTP_ADDR=:8080
VOLUME /data
EXPOSE 8080
# The binary checks itself: "healthcheck" asks this container's /readyz,
# which also turns 503 while the server drains on SIGTERM.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["/platform", "healthcheck"]
# serve by default; pass worker or "migrate up" to run another role.
ENTRYPOINT ["/platform"]
CMD ["serve"]
