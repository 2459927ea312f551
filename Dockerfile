# syntax=docker/dockerfile:1
#
# The Locker server: a static binary on a minimal base image, running as a
# non-root user, with its data in a volume. See docs/deploy.md.
#
#   docker build -t locker --build-arg VERSION=1.2.3 --build-arg COMMIT=$(git rev-parse --short HEAD) .
#   docker run -d -p 3000:3000 -v locker-data:/data -e AUTH_USER=ci -e AUTH_PASS=... locker
#
# (make image does the first.)

ARG GO_VERSION=1.26

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=unknown
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath \
      -ldflags "-s -w -X github.com/cloudfoundry-community/locker/cli.Version=${VERSION} -X github.com/cloudfoundry-community/locker/cli.Commit=${COMMIT}" \
      -o /out/locker . \
 && mkdir -p /out/data

# distroless/static: CA certificates, /etc/passwd with the "nonroot" user
# (65532), no shell, no package manager.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/locker /usr/local/bin/locker
# The volume's mount point belongs to the non-root user, so a new named
# volume starts out writable by it.
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
ENV LOCKER_CONFIG=/data/locks.yml \
    PORT=3000
VOLUME ["/data"]
EXPOSE 3000
# No curl in the image: the binary checks /healthz itself (HTTPS when
# SSL_CERT is set).
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/locker", "healthcheck"]
# SIGTERM (docker stop): stop accepting, finish requests, flush, exit 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/locker"]
CMD ["server"]
