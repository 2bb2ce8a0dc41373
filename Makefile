# Two entry points: `make demo` (the product on the local stack) and `make test`.
# Everything they need is installed here: the Python virtualenv with the pinned moto
# for the emulator, and the Rust build through cargo.

PYTHON ?= python3
VENV := .venv
REQS := crates/localstack/python/requirements.txt
TENANTCTL := target/debug/tenantctl
export TENANT_PYTHON := $(CURDIR)/$(VENV)/bin/python

.PHONY: demo test venv up down lint fmt clean package bench

$(VENV)/.installed: $(REQS)
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r $(REQS)
	touch $@

venv: $(VENV)/.installed

$(TENANTCTL): venv FORCE
	cargo build --quiet -p tenantctl

FORCE:

# Starts the local stack; onboards `acme` with tenantctl and lets `acme-labs` (an id that
# starts like `acme`) sign up through the public form; signs a user of each in and proves
# that IAM denies each the other's prefix and secret (exit 1 if not). The stack stays up
# for exploring (`eval "$$(target/debug/tenantctl local env)"`); `make down` stops it.
demo: $(TENANTCTL)
	@$(TENANTCTL) local down >/dev/null
	@$(TENANTCTL) local up
	@echo "\n== tenantctl onboard acme"
	@$(TENANTCTL) --local onboard acme --name "Acme Corp" --email ops@acme.example
	@echo "\n== acme-labs signs up through the signup form"
	@. ./.tenant/local.env && curl -sS -H 'content-type: application/json' \
		-d '{"tenant_id": "acme-labs", "name": "Acme Labs", "email": "ops@acmelabs.example"}' "$$TENANT_SIGNUP_URL" && echo
	@$(TENANTCTL) --local watch acme-labs
	@echo "\n== tenants"
	@$(TENANTCTL) --local list
	@echo "\n== isolation: a user of each tenant signs in and tries both tenants' data"
	@$(TENANTCTL) --local check-isolation acme acme-labs
	@echo "\nlocal stack still running: try '$(TENANTCTL) --local status acme-labs'; stop it with 'make down'"

up: $(TENANTCTL)
	@$(TENANTCTL) local up

down:
	@test ! -x $(TENANTCTL) || $(TENANTCTL) local down

# Unit and property tests, the moto extension's tests, and the end-to-end tests (each
# starts its own local stack on free ports).
test: venv
	$(VENV)/bin/python -m pytest -q -p no:cacheprovider crates/localstack/python/tests
	cargo test --workspace

# Deployment zips, one per Lambda binary: target/lambda/{step,signup}/bootstrap.zip
# (release, provided.al2023), built by cargo-lambda from PyPI (it ships zig for the cross
# link). AWS runs them on arm64 (template.yaml's Architecture default): `make package`.
# This machine's Rust toolchain has only the x86_64 target, so here: `make package ARCH=x86_64`.
ARCH ?= arm64
CARGO_LAMBDA_VERSION := 1.9.2
CARGO_LAMBDA := $(VENV)/bin/cargo-lambda
HOST_ARCH := $(if $(filter aarch64 arm64,$(shell uname -m)),arm64,x86_64)

$(CARGO_LAMBDA): $(VENV)/.installed
	$(VENV)/bin/pip install --quiet --disable-pip-version-check cargo-lambda==$(CARGO_LAMBDA_VERSION)

package: $(CARGO_LAMBDA)
	@case "$(ARCH)" in arm64|x86_64) ;; *) echo "ARCH must be arm64 or x86_64, not $(ARCH)"; exit 2;; esac
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" cargo lambda build --release --output-format zip \
		$(if $(filter arm64,$(ARCH)),--arm64,--x86-64) -p tenant-functions
	@for z in target/lambda/*/bootstrap.zip; do \
		printf '%-8s %-40s %9d bytes\n' "$(ARCH)" "$$z" "$$(wc -c < "$$z")"; done

# Performance and scale figures (README "Performance"): packages for this machine's
# architecture (the cold-init figures run the zipped binaries), then measures. Extra
# arguments: make bench BENCH_ARGS="--json" (see target/debug/tenant-bench --help).
bench: venv
	$(MAKE) package ARCH=$(HOST_ARCH)
	cargo build --quiet -p tenant-bench
	target/debug/tenant-bench $(BENCH_ARGS)

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

fmt:
	cargo fmt --all

clean: down
	rm -rf target $(VENV) .tenant
