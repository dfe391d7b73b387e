# Build the manager binary: a static binary (no cgo) so that the final
# image needs no libc.
FROM golang:1.26 AS builder
ARG TARGETOS
ARG TARGETARCH

WORKDIR /workspace
# Modules first, so that source changes do not re-download them.
COPY go.mod go.sum ./
RUN go mod download

COPY cmd/manager/ cmd/manager/
COPY api/ api/
COPY controllers/ controllers/
COPY internal/buildinfo/ internal/buildinfo/

# What `manager --version` prints (make docker-build passes them; the image
# has no .git for the Go toolchain to read).
ARG VERSION=""
ARG COMMIT=""
ARG DATE=""

# GOARCH has no default so that the image is built for the platform of the
# host (or the one given with docker buildx --platform).
RUN CGO_ENABLED=0 GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH} \
    go build -trimpath -ldflags="-s -w \
      -X github.com/leasehold/leasehold/internal/buildinfo.Version=${VERSION} \
      -X github.com/leasehold/leasehold/internal/buildinfo.Commit=${COMMIT} \
      -X github.com/leasehold/leasehold/internal/buildinfo.Date=${DATE}" \
    -o manager ./cmd/manager

# distroless static: no shell, no package manager; runs as the nonroot user.
FROM gcr.io/distroless/static:nonroot
WORKDIR /
COPY --from=builder /workspace/manager .
USER 65532:65532

ENTRYPOINT ["/manager"]
