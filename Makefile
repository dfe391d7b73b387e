# Kubernetes version of the envtest control plane (kube-apiserver, etcd,
# kubectl): the release of the client libraries in go.mod (k8s.io/api v0.X.Y
# is Kubernetes 1.X.Y), as the Go tests find it (test/support/kubeenv).
# hack/build-envtest-binaries.sh builds it from the Go module proxy.
ifeq ($(origin K8S_VERSION),undefined)
K8S_VERSION := $(shell hack/k8s-version.sh)
endif

# Packages and flags for `make test` and `make test-packages` (the packages
# alone, without the suites), e.g.
#   make test-packages PKG=./pkg/backends/memory/... TEST_ARGS='-run TestAcquire -v'
# The default is every package except the end-to-end suites (make test-e2e).
PKG ?= $$(go list ./... | grep -v /test/e2e)
TEST_ARGS ?=
# make test runs the packages' tests (TEST_PARALLEL test binaries at once,
# go test -p) beside the Helm chart, e2e and chaos suites (SUITES_PARALLEL
# make targets at once). Most tests wait on timers, servers and child
# processes rather than compute, so both go beyond the core count.
TEST_PARALLEL ?= 4
SUITES_PARALLEL ?= 4

# Setting SHELL to bash allows bash commands to be executed by recipes.
# Options are set to exit when a recipe line exits non-zero or a piped command fails.
SHELL = /usr/bin/env bash -o pipefail
.SHELLFLAGS = -ec

.PHONY: all
all: build

##@ General

# The help target prints out all targets with their descriptions organized
# beneath their categories. The categories are represented by '##@' and the
# target descriptions by '##'. The awk command is responsible for reading the
# entire set of makefiles included in this invocation, looking for lines of the
# file as xyz: ## something, and then pretty-format the target and help. Then,
# if there's a line with ##@ something, that gets pretty-printed as a category.
# More info on the usage of ANSI control characters for terminal formatting:
# https://en.wikipedia.org/wiki/ANSI_escape_code#SGR_parameters
# More info on the awk command:
# http://linuxcommand.org/lc3_adv_awk.php

.PHONY: help
help: ## Display this help.
	@awk 'BEGIN {FS = ":.*##"; printf "\nUsage:\n  make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-15s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: controller-gen ## Generate the CRD (config/crd/bases) and the RBAC (config/rbac/role.yaml) from markers.
	$(CONTROLLER_GEN) rbac:roleName=manager-role crd paths="./api/...;./controllers/..." output:crd:artifacts:config=config/crd/bases

.PHONY: generate
generate: controller-gen ## Generate DeepCopy, DeepCopyInto and DeepCopyObject methods (zz_generated.deepcopy.go).
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./api/..."

.PHONY: fmt
fmt: ## Run go fmt against code.
	go fmt ./...

.PHONY: vet
vet: ## Run go vet against code.
	go vet ./...

.PHONY: test
test: test-servers ## Run every test with -race: the packages (PKG, TEST_ARGS), the Helm chart's check, the e2e specs, the chaos scenarios and the fuzz targets (make test-packages, test-helm, test-e2e, test-chaos, test-fuzz).
	@# The packages and the suites run side by side (SUITES_PARALLEL):
	@# most tests wait on servers, timers and child processes.
	@# On a machine that has never built the envtest binaries (about ten
	@# minutes of compiling Kubernetes, once), the packages whose tests need
	@# no control plane (hack/envtest-packages.sh) and the fuzz targets run
	@# meanwhile, then the other packages and the Helm chart test compile;
	@# their output is shown when the build is done.
	@if K8S_VERSION="$(K8S_VERSION)" hack/build-envtest-binaries.sh --needs-build "$(ENVTEST_ASSETS_DIR)"; then \
		echo ">> building the envtest binaries; meanwhile the packages that need no control plane and the fuzz targets run, then the rest compiles"; \
		log="$$(mktemp)"; \
		without="$$(hack/envtest-packages.sh --without $(PKG) | tr "\n" " ")"; with="$$(hack/envtest-packages.sh --with $(PKG) | tr "\n" " ")"; \
		{ { [ -z "$$without" ] || go test -race -count=1 -p $(TEST_PARALLEL) $$without $(TEST_ARGS); } && \
			$(MAKE) --no-print-directory test-fuzz && \
			go list -deps -test -f '{{if not .ForTest}}{{if ne .Name "main"}}{{if .GoFiles}}{{.ImportPath}}{{end}}{{end}}{{end}}' $(PKG) ./test/e2e/ | \
				grep -v '\.test$$' | xargs go build -race && \
			(cd test/helmchart && go test -race -count=1 -run '^$$' ./... >/dev/null); } >"$$log" 2>&1 & early=$$!; \
		$(MAKE) --no-print-directory setup-envtest || { kill $$early 2>/dev/null; exit 1; }; \
		rc=0; wait $$early || rc=$$?; cat "$$log"; rm -f "$$log"; \
		if [ $$rc -ne 0 ]; then exit $$rc; fi; \
		$(MAKE) --no-print-directory -j$(SUITES_PARALLEL) --output-sync=target test-packages test-helm test-e2e test-chaos TEST_PKGS="$$with"; \
	else \
		$(MAKE) --no-print-directory setup-envtest; \
		$(MAKE) --no-print-directory -j$(SUITES_PARALLEL) --output-sync=target test-packages test-helm test-e2e test-chaos test-fuzz; \
	fi

# The packages of make test alone (TEST_PKGS, default PKG; TEST_ARGS).
TEST_PKGS ?= $(PKG)
.PHONY: test-packages
test-packages: setup-envtest test-servers ## Run the packages' tests with -race (PKG, TEST_ARGS), without the suites make test adds.
	@if [ -n "$(strip $(TEST_PKGS))" ]; then \
		echo 'KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS_DIR)" go test -race -count=1 -p $(TEST_PARALLEL) PKG $(TEST_ARGS)'; \
		KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS_DIR)" go test -race -count=1 -p $(TEST_PARALLEL) $(TEST_PKGS) $(TEST_ARGS); fi

# The Helm chart (dist/chart) against config/default and config/prometheus,
# rendered with Helm's Go SDK and kubectl kustomize. A Go module of its own,
# so that the Helm SDK stays out of the main module's go.mod and build. It
# runs with -race and selects the same versions of the modules it shares
# with the main module, so that it links the Kubernetes packages make test
# has already compiled instead of compiling them again.
.PHONY: test-helm
test-helm: setup-envtest ## Check the Helm chart (dist/chart) against the kustomize manifests (config/).
	cd test/helmchart && KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS_DIR)" go test -race -count=1 ./... $(HELM_TEST_ARGS)

# The e2e specs run with -race, and so do the manager and lockctl binaries
# they build and drive: every package is then compiled once, with the race
# detector, for all of make test (see test/support/gobuild).
.PHONY: test-e2e
test-e2e: setup-envtest ## Run the e2e specs against a local control plane (envtest) and the manager binary.
	KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS_DIR)" go test -race -count=1 ./test/e2e/... $(E2E_ARGS)

# The shipped alerting rules (config/prometheus/rules.yaml) checked and
# unit-tested with promtool, for series that must and must not fire each
# alert. Part of the package list of make test; this target runs it alone.
.PHONY: test-alerts
test-alerts: test-servers ## Test the shipped Prometheus alerts with promtool (test/alerts).
	go test -count=1 ./test/alerts/

# The chaos scenarios (build tag chaos): every backend under restarts,
# partitions, latency and resets, checked for overlapping holders and stale
# writes. A few seconds per scenario, about a minute in all; for a long run:
# make test-chaos CHAOS_ARGS='-chaos.duration=60s -v'
.PHONY: test-chaos
test-chaos: setup-envtest test-servers ## Run the chaos scenarios with -race (CHAOS_ARGS); fails on any safety violation.
	KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS_DIR)" go test -tags chaos -race -count=1 -timeout 20m ./test/chaos/ $(CHAOS_ARGS)

# The fuzz targets: every `func FuzzX` in a test file of this module, found
# with go list (so build tags count) and fuzzed one after another for
# FUZZTIME each; make test runs them for 3 s each. A long hunt:
#   make test-fuzz FUZZTIME=10m FUZZMINIMIZETIME=60s
# Each fuzzes a small package that imports little beyond the standard
# library, so the instrumented build (-fuzz instruments every dependency)
# takes seconds: keep new targets in such packages. A failing input is
# written to the package's testdata/fuzz/, to commit with the fix.
# -fuzzminimizetime=100x spends a short run fuzzing instead of shrinking
# each new input for up to a minute (about 5 to 50 times the execs in 3 s).
FUZZTIME ?= 3s
FUZZMINIMIZETIME ?= 100x
.PHONY: test-fuzz
test-fuzz: ## Fuzz each fuzz target in turn for FUZZTIME (default 3s; FUZZMINIMIZETIME).
	@targets="$$(go list -f '{{$$p := .ImportPath}}{{range .TestGoFiles}}{{$$p}} {{$$.Dir}}/{{.}}{{"\n"}}{{end}}{{range .XTestGoFiles}}{{$$p}} {{$$.Dir}}/{{.}}{{"\n"}}{{end}}' ./... | \
		while read -r pkg file; do sed -n "s|^func \(Fuzz[A-Za-z0-9_]*\)(.*|$$pkg \1|p" "$$file"; done)"; \
	if [ -z "$$targets" ]; then echo "No fuzz targets found."; exit 1; fi; \
	while read -r pkg fn; do \
		echo "go test -run='^\$$' -fuzz='^$$fn\$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=$(FUZZMINIMIZETIME) $$pkg"; \
		go test -run='^$$' -fuzz="^$$fn\$$" -fuzztime="$(FUZZTIME)" -fuzzminimizetime="$(FUZZMINIMIZETIME)" "$$pkg" </dev/null || exit 1; \
	done <<< "$$targets"

KIND ?= kind
KIND_CLUSTER ?= leasehold-e2e
# Through a variable, so that `make -n test-e2e-kind` prints the steps
# instead of running them (make runs lines naming $(MAKE) directly even with -n).
SUBMAKE = $(MAKE) --no-print-directory

# Needs Docker and kind (not available on every machine): creates a kind
# cluster, builds and loads the image, deploys, runs the same e2e specs
# against the deployed manager (E2E_KIND=1) and deletes the cluster.
.PHONY: test-e2e-kind
test-e2e-kind: kubectl ## Run the e2e specs on a throwaway kind cluster (needs Docker and kind).
	$(KIND) create cluster --name "$(KIND_CLUSTER)" --kubeconfig "$(LOCALBIN)/kind-kubeconfig"
	trap '$(KIND) delete cluster --name "$(KIND_CLUSTER)"' EXIT; \
	export KUBECONFIG="$(LOCALBIN)/kind-kubeconfig"; \
	$(SUBMAKE) docker-build IMG="$(IMG)" && \
	$(KIND) load docker-image "$(IMG)" --name "$(KIND_CLUSTER)" && \
	$(SUBMAKE) deploy IMG="$(IMG)" && \
	$(KUBECTL) rollout status deployment/leasehold-controller-manager --namespace leasehold-system --timeout=180s && \
	E2E_KIND=1 KUBECTL="$(KUBECTL)" go test -count=1 ./test/e2e/... $(E2E_ARGS)

# The main module and bench/compare, a module of its own, with the one
# .golangci.yml at the top. golangci-lint loads packages with go list, so
# GOFLAGS=-race lets it reuse what go vet -race and the tests compiled
# (without it, a cold machine compiles every dependency once more: 383 s
# instead of 76 s for the main module on 2 cores).
LINT = GOFLAGS=-race $(GOLANGCI_LINT)

.PHONY: lint
lint: golangci-lint ## Run golangci-lint on the main module and bench/compare (make verify runs it too).
	$(LINT) run ./...
	cd bench/compare && $(LINT) run ./...

.PHONY: lint-fix
lint-fix: golangci-lint ## Run golangci-lint and apply its fixes.
	$(LINT) run --fix ./...
	cd bench/compare && $(LINT) run --fix ./...

# Generated files that `make verify` requires to be committed and up to date.
GENERATED := config/crd/bases config/rbac/role.yaml ':(glob)**/zz_generated.*.go'

.PHONY: verify
verify: manifests generate golangci-lint ## Fail if generated files are stale, code is not gofmt'ed, go vet or golangci-lint complains or a go.mod is not tidy.
	@for m in . test/helmchart; do \
		if ! (cd $$m && go mod tidy -diff >/dev/null); then \
			echo "$$m/go.mod or go.sum is not tidy: run 'go mod tidy' there and commit the result."; exit 1; fi; done
	@# The Helm chart test links the main module's Kubernetes packages from
	@# the build cache only while both modules build them from the same
	@# versions.
	@f='{{with .Module}}{{if .Version}}{{.Path}} {{.Version}}{{end}}{{end}}'; \
	differ="$$(join <(go list -deps -test -f "$$f" ./... | sort -u) <(cd test/helmchart && go list -deps -test -f "$$f" ./... | sort -u) | awk '$$2 != $$3')"; \
	if [ -n "$$differ" ]; then echo "test/helmchart builds these modules at other versions than the main module (module, main, helmchart):"; \
		echo "$$differ"; echo "Require the same versions in test/helmchart/go.mod (go get there), then go mod tidy."; exit 1; fi
	@unformatted="$$(git ls-files -co --exclude-standard -- '*.go' | xargs -r gofmt -l)"; \
	if [ -n "$$unformatted" ]; then echo "These files need gofmt:"; echo "$$unformatted"; exit 1; fi
	@# -race: vet compiles every dependency, and make test compiles them
	@# with -race; one flavour means one compile on a cold machine.
	go vet -race ./...
	$(LINT) run ./...
	cd bench/compare && $(LINT) run ./...
	@if ! git diff --quiet -- $(GENERATED); then \
		git --no-pager diff --stat -- $(GENERATED); \
		echo "Generated files are stale: run 'make manifests generate' and commit the result."; exit 1; fi
	@untracked="$$(git ls-files --others --exclude-standard -- $(GENERATED))"; \
	if [ -n "$$untracked" ]; then echo "Generated files not committed:"; echo "$$untracked"; exit 1; fi

##@ Benchmarks

## Extra flags for bench/compare, e.g. BENCH_ARGS='-runs 1 -only redis,postgres'
BENCH_ARGS ?=

.PHONY: bench
bench: setup-envtest test-servers bench-flock ## Compare Leasehold with redislock, redsync, pglock and client-go on local servers, and lockctl's hand-off with flock(1); writes bench/results/ (about 8 minutes).
	cd bench/compare && go run . -repo "$(CURDIR)" $(BENCH_ARGS)

# flock(1) is util-linux's, present on nearly every Linux system; when it is
# missing it is installed as root with apt-get, as the test servers are.
# Otherwise a note: only the cli scenario of make bench needs it, and says so.
.PHONY: bench-flock
bench-flock: ## Make sure flock(1) (util-linux), which make bench compares lockctl's hand-off with, is installed.
	@if ! command -v flock >/dev/null 2>&1; then \
		if [ "$$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo ">> installing util-linux (flock) with apt-get" >&2; \
			DEBIAN_FRONTEND=noninteractive apt-get update -qq; \
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends util-linux >/dev/null; \
		else \
			echo "note: flock(1) is missing (Debian/Ubuntu: sudo apt-get install -y util-linux); the cli scenario of make bench needs it" >&2; \
		fi; \
	fi

## Extra flags for bench/compare/cmd/chaos, e.g. BENCH_CHAOS_ARGS='-duration 3s -stores redis'
BENCH_CHAOS_ARGS ?=

.PHONY: bench-chaos
bench-chaos: setup-envtest test-servers ## Chaos workload on redislock, redsync, pglock and client-go leader election beside Leasehold; writes bench/results/chaos.md (about 30 minutes at the default -duration 60s).
	cd bench/compare && go run ./cmd/chaos -repo "$(CURDIR)" $(BENCH_CHAOS_ARGS)

## Runs of bench/reap, e.g. BENCH_REAP_ARGS='-burst 1000 -spread 1000 -over 10s -memory 10000'
BENCH_REAP_ARGS ?= -burst 10000 -spread 10000 -over 100s -memory 100000

.PHONY: bench-reap
bench-reap: setup-envtest ## The DistributedLock controller: writes per reap, burst reaps/s beside raw guarded updates/s, spread reap delay, manager memory; writes bench/results/reap.md and reap.json (about 20 minutes on 2 cores).
	go run ./bench/reap -out bench/results $(BENCH_REAP_ARGS)

##@ Build

# What `lockctl version` and `manager --version` print. The Go toolchain
# records the commit and its time itself when it builds a Git checkout;
# these say the same explicitly (and the version from the nearest v* tag),
# so that builds without .git (docker-build) tell the truth too. Empty
# values leave the toolchain's.
VERSION ?= $(shell git describe --tags --match 'v*' --dirty 2>/dev/null)
COMMIT ?= $(shell c="$$(git rev-parse HEAD 2>/dev/null)" && { git diff --quiet HEAD -- || c="$$c-dirty"; }; echo "$$c")
DATE ?= $(shell TZ=UTC git log -1 --date=format-local:%Y-%m-%dT%H:%M:%SZ --format=%cd 2>/dev/null)
BUILDINFO := github.com/leasehold/leasehold/internal/buildinfo
GO_LDFLAGS := -X '$(BUILDINFO).Version=$(VERSION)' -X '$(BUILDINFO).Commit=$(COMMIT)' -X '$(BUILDINFO).Date=$(DATE)'

.PHONY: build
build: manifests generate fmt vet ## Build the manager, lockctl and the kubectl plugin into bin/ (bin/manager, bin/lockctl, bin/kubectl-leasehold).
	go build -ldflags "$(GO_LDFLAGS)" -o "$(LOCALBIN)/manager" ./cmd/manager
	go build -ldflags "$(GO_LDFLAGS)" -o "$(LOCALBIN)/lockctl" ./cmd/lockctl
	go build -ldflags "$(GO_LDFLAGS)" -o "$(LOCALBIN)/kubectl-leasehold" ./cmd/kubectl-leasehold

.PHONY: build-lockctl
build-lockctl: ## Build only lockctl into bin/lockctl (no code generation).
	go build -ldflags "$(GO_LDFLAGS)" -o "$(LOCALBIN)/lockctl" ./cmd/lockctl

# make dev: the whole thing on this machine in one command. devcluster
# starts etcd and kube-apiserver (envtest binaries), installs the CRD, runs
# bin/manager against them, applies config/samples and prints how to point
# kubectl at it (bin/dev/kubeconfig), holding the lock dev:demo while it
# runs. It refuses to start while another instance uses bin/dev/kubeconfig
# or the manager's ports (8080, 8081). Ctrl-C stops everything.
.PHONY: dev
dev: setup-envtest ## Run a local control plane with the manager and the samples; Ctrl-C stops it.
	go build -ldflags "$(GO_LDFLAGS)" -o "$(LOCALBIN)/manager" ./cmd/manager
	go build -o "$(LOCALBIN)/devcluster" ./hack/devcluster
	"$(LOCALBIN)/devcluster" --assets "$(ENVTEST_ASSETS_DIR)" --manager "$(LOCALBIN)/manager" \
		--kubeconfig-out "$(LOCALBIN)/dev/kubeconfig"

# Image of the manager for docker-build and deploy; of lockctl for
# docker-build-lockctl. Both come from the one Dockerfile (targets manager
# and lockctl); test/dockerfile checks that it copies every package they
# import.
IMG ?= leasehold/manager:dev
LOCKCTL_IMG ?= leasehold/lockctl:dev
CONTAINER_TOOL ?= docker
DOCKER_BUILD_ARGS = --build-arg VERSION="$(VERSION)" --build-arg COMMIT="$(COMMIT)" --build-arg DATE="$(DATE)"

.PHONY: docker-build
docker-build: ## Build the manager's container image (IMG) with Docker.
	$(CONTAINER_TOOL) build $(DOCKER_BUILD_ARGS) --target manager -t "$(IMG)" .

.PHONY: docker-build-lockctl
docker-build-lockctl: ## Build lockctl's container image (LOCKCTL_IMG): lockctl and a busybox shell, for lockctl run in Jobs.
	$(CONTAINER_TOOL) build $(DOCKER_BUILD_ARGS) --target lockctl -t "$(LOCKCTL_IMG)" .

.PHONY: run
run: manifests generate fmt vet ## Run the manager from your host against the cluster in your kubeconfig (metrics on plain HTTP :8080).
	go run ./cmd/manager --metrics-secure=false --metrics-bind-address=:8080

##@ Deployment

ifndef ignore-not-found
  ignore-not-found = false
endif

.PHONY: install
install: manifests kubectl ## Install the CRD into the cluster in your kubeconfig.
	$(KUBECTL) apply -k config/crd

.PHONY: uninstall
uninstall: manifests kubectl ## Uninstall the CRD. Call with ignore-not-found=true to ignore resource not found errors.
	$(KUBECTL) delete --ignore-not-found=$(ignore-not-found) -k config/crd

.PHONY: deploy
deploy: manifests kubectl ## Deploy the CRD, RBAC and the manager (image IMG) to the cluster in your kubeconfig.
	$(MAKE) --no-print-directory build-installer IMG="$(IMG)"
	$(KUBECTL) apply -f dist/install.yaml

.PHONY: undeploy
undeploy: kubectl ## Remove what deploy installed. Call with ignore-not-found=true to ignore resource not found errors.
	$(KUBECTL) kustomize config/default | $(KUBECTL) delete --ignore-not-found=$(ignore-not-found) -f -

# config/default with the image set, in one file: the installer users apply.
# The image is set in a copy of config/, so config/manager stays as committed.
.PHONY: build-installer
build-installer: manifests kubectl ## Write dist/install.yaml: config/default with the image IMG.
	mkdir -p dist
	tmp="$$(mktemp -d)"; trap 'rm -rf "$$tmp"' EXIT; \
	cp -r config "$$tmp/"; \
	printf 'images:\n- name: controller\n  newName: %s\n  newTag: %s\n' \
		"$$(echo '$(IMG)' | sed 's/:[^:/]*$$//')" "$$(echo '$(IMG)' | sed -n 's/.*:\([^:/]*\)$$/\1/p')" \
		> "$$tmp/images.yaml"; \
	sed -i '/^images:/,$$d' "$$tmp/config/manager/kustomization.yaml"; \
	cat "$$tmp/images.yaml" >> "$$tmp/config/manager/kustomization.yaml"; \
	$(KUBECTL) kustomize "$$tmp/config/default" > dist/install.yaml

##@ Dependencies

## Location to install dependencies to
LOCALBIN ?= $(shell pwd)/bin
$(LOCALBIN):
	mkdir -p "$(LOCALBIN)"

## Envtest control plane, downloaded with setup-envtest or else built (once per user, then cached) by hack/build-envtest-binaries.sh
ENVTEST_ASSETS_DIR ?= $(LOCALBIN)/k8s/$(K8S_VERSION)-$(shell go env GOOS)-$(shell go env GOARCH)
KUBECTL ?= $(ENVTEST_ASSETS_DIR)/kubectl

## Tool Binaries
CONTROLLER_GEN ?= $(LOCALBIN)/controller-gen
GOLANGCI_LINT ?= $(LOCALBIN)/golangci-lint

## Tool Versions
CONTROLLER_TOOLS_VERSION ?= v0.23.0
GOLANGCI_LINT_VERSION ?= v2.15.0

.PHONY: setup-envtest
setup-envtest: ## Download (setup-envtest) or else build the envtest binaries (kube-apiserver, etcd, kubectl) into bin/k8s/; cached per user.
	K8S_VERSION="$(K8S_VERSION)" hack/build-envtest-binaries.sh "$(ENVTEST_ASSETS_DIR)"

.PHONY: test-servers
test-servers: ## Make sure the PostgreSQL and Redis binaries the tests start are installed, and promtool is in bin/.
	hack/ensure-test-servers.sh

.PHONY: kubectl
kubectl: ## Make sure kubectl exists (the envtest build in bin/k8s/ unless KUBECTL is set).
	@if [ "$(KUBECTL)" = "$(ENVTEST_ASSETS_DIR)/kubectl" ]; then \
		K8S_VERSION="$(K8S_VERSION)" hack/build-envtest-binaries.sh "$(ENVTEST_ASSETS_DIR)"; fi

.PHONY: controller-gen
controller-gen: $(CONTROLLER_GEN) ## Download controller-gen locally if necessary.
$(CONTROLLER_GEN): $(LOCALBIN)
	$(call go-install-tool,$(CONTROLLER_GEN),sigs.k8s.io/controller-tools/cmd/controller-gen,$(CONTROLLER_TOOLS_VERSION))

.PHONY: golangci-lint
golangci-lint: $(GOLANGCI_LINT) ## Download golangci-lint locally if necessary.
$(GOLANGCI_LINT): $(LOCALBIN)
	$(call go-install-tool,$(GOLANGCI_LINT),github.com/golangci/golangci-lint/v2/cmd/golangci-lint,$(GOLANGCI_LINT_VERSION))

# go-install-tool will 'go install' any package with custom target and name of binary, if it doesn't exist
# $1 - target path with name of binary
# $2 - package url which can be installed
# $3 - specific version of package
define go-install-tool
@[ -f "$(1)-$(3)" ] && [ "$$(readlink -- "$(1)" 2>/dev/null)" = "$(1)-$(3)" ] || { \
set -e; \
package=$(2)@$(3) ;\
echo "Downloading $${package}" ;\
rm -f "$(1)" ;\
GOBIN="$(LOCALBIN)" go install $${package} ;\
mv "$(1)" "$(1)-$(3)" ;\
} ;\
ln -sf "$$(realpath "$(1)-$(3)")" "$(1)"
endef
