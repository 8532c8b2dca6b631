# veloxide: see README.md. `make demo` and `make test` are the two entry points.
SHELL := /bin/bash
CARGO ?= cargo
export CARGO_TERM_COLOR ?= never

.PHONY: chart-check all build test test-tools crds lint demo bench-webhook bench-storage bench-locations bench-backup bench-vs-velero bench-scale fuzz e2e-cluster velero-peer clean

all: build

build:
	$(CARGO) build --workspace --all-targets

## crds: regenerate crds/ from the Rust types (commit the result)
crds:
	@rm -f crds/*.yaml
	$(CARGO) run -q --bin veloxide -- crds --dir crds
	@rm -f charts/veloxide/crds/*.yaml && cp crds/*.yaml charts/veloxide/crds/

## test-tools: what the tests need beyond cargo (installed into .work/, idempotent)
test-tools:
	@bash e2e/tools/install-test-tools.sh

## velero-peer: Velero and velero-plugin-for-aws built from the Go module proxy into .work/velero/ (the interop tests' peer)
velero-peer:
	@bash e2e/tools/build-velero.sh

## test: every test, from a fresh clone. Incremental compilation is off here: a cold
## run gains nothing from it and its cache would double the disk a CI machine needs.
test: export CARGO_INCREMENTAL ?= 0
test: test-tools
	@bash e2e/tools/disk-check.sh
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	# Benchmarks are built and linted above (clippy --all-targets) but run only by the
	# bench-* targets: they print figures, they do not assert behaviour.
	$(CARGO) test --workspace --lib --bins --tests
	@bash e2e/tools/disk-check.sh

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

## e2e-cluster: the e2e scenarios against a real cluster (KUBECONFIG); see e2e/README.md
e2e-cluster:
	@test -n "$(KUBECONFIG)" || { echo "set KUBECONFIG to a cluster's kubeconfig (e.g. kind get kubeconfig)"; exit 1; }
	bash e2e/tools/install-helm.sh
	VELOXIDE_E2E_KUBECONFIG="$(KUBECONFIG)" $(CARGO) test -p e2e --tests -- --test-threads=1

## chart-check: the Helm chart's checks alone (lint, offline schema validation, install into a control plane)
chart-check: test-tools
	$(CARGO) test -p e2e --test chart

## demo: the main job, on a local control plane (e2e/tools/control-plane.sh)
demo:
	@bash e2e/demo.sh

## bench-webhook: admission throughput and latency against the transport's ceiling
bench-webhook:
	$(CARGO) bench --bench webhook

## bench-locations: 1,000 locations on one store: time to all Available, peak RSS, clients and handshakes
bench-locations: test-tools
	$(CARGO) bench --bench locations

## bench-storage: a 1 GiB multipart upload next to `aws s3 cp` of the same bytes
bench-storage: test-tools
	$(CARGO) bench --bench storage

## bench-vs-velero: veloxide and Velero side by side (backup at 10k and 100k objects, restore at 10k), with the API server's list and create ceilings
bench-vs-velero: test-tools
	$(CARGO) bench --bench vs_velero

## bench-backup: backups of 10k and 100k ConfigMaps (peak RSS and items/s)
bench-backup: test-tools
	$(CARGO) bench --bench backup

## bench-scale: 100,000 synced Backups and a 100,000-object restore: the server's peak RSS against the chart's memory limit
bench-scale: test-tools
	$(CARGO) bench --bench scale

## fuzz: a bounded fuzz run over admission decoding, CA bundles, the restore archive reader and velero-backup.json (FUZZ_SECONDS per target, default 60)
fuzz:
	@bash fuzz/run.sh $${FUZZ_SECONDS:-60}

## clean: target/ and .work/; the control plane, kubelet and node images stay in ~/.cache/veloxide
## (shared by every clone on the machine; remove that directory to build them from nothing)
clean:
	$(CARGO) clean
	chmod -R u+w .work 2>/dev/null; rm -rf .work
