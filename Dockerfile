# Two images from one file: the manager (the default, last stage) and
# lockctl (docker build --target lockctl). They share the builder stage,
# its module download and its one list of copied folders, which
# test/dockerfile checks against what both commands import.
#
# Static binaries (no cgo), so that the final images need no libc.
FROM golang:1.26 AS builder
ARG TARGETOS
ARG TARGETARCH

WORKDIR /workspace
# Modules first, so that source changes do not re-download them.
COPY go.mod go.sum ./
RUN go mod download

# The packages of this module that cmd/manager and cmd/lockctl import
# (.dockerignore keeps everything else out of the build context).
COPY api/ api/
COPY controllers/ controllers/
COPY pkg/ pkg/
COPY internal/buildinfo/ internal/buildinfo/
COPY internal/cli/ internal/cli/
COPY cmd/manager/ cmd/manager/
COPY cmd/lockctl/ cmd/lockctl/

# What `manager --version` and `lockctl version` print (make docker-build
# passes them; the image has no .git for the Go toolchain to read).
ARG VERSION=""
ARG COMMIT=""
ARG DATE=""
# GOARCH has no default so that the image is built for the platform of the
# host (or the one given with docker buildx --platform).
ENV CGO_ENABLED=0

FROM builder AS lockctl-build
RUN GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH} \
    go build -trimpath -ldflags="-s -w \
      -X github.com/leasehold/leasehold/internal/buildinfo.Version=${VERSION} \
      -X github.com/leasehold/leasehold/internal/buildinfo.Commit=${COMMIT} \
      -X github.com/leasehold/leasehold/internal/buildinfo.Date=${DATE}" \
    -o lockctl ./cmd/lockctl

# lockctl: distroless static with busybox (the debug variant), so that
# `lockctl run KEY -- sh -c '...'` has a shell for the work it guards;
# other images take the binary with
#   COPY --from=leasehold/lockctl:TAG /usr/local/bin/lockctl /usr/local/bin/
FROM gcr.io/distroless/static:debug-nonroot AS lockctl
COPY --from=lockctl-build /workspace/lockctl /usr/local/bin/lockctl
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/lockctl"]

FROM builder AS manager-build
RUN GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH} \
    go build -trimpath -ldflags="-s -w \
      -X github.com/leasehold/leasehold/internal/buildinfo.Version=${VERSION} \
      -X github.com/leasehold/leasehold/internal/buildinfo.Commit=${COMMIT} \
      -X github.com/leasehold/leasehold/internal/buildinfo.Date=${DATE}" \
    -o manager ./cmd/manager

# The manager: distroless static, no shell, no package manager; runs as
# the nonroot user.
FROM gcr.io/distroless/static:nonroot AS manager
WORKDIR /
COPY --from=manager-build /workspace/manager .
USER 65532:65532

ENTRYPOINT ["/manager"]
