# Two entry points: `make demo` (the product on the local stack) and `make test`.
# Everything they need is installed here: the Python virtualenv with the pinned moto
# for the emulator, and the Rust build through cargo.

PYTHON ?= python3
VENV := .venv
REQS := crates/localstack/python/requirements.txt
TENANTCTL := target/debug/tenantctl
export TENANT_PYTHON := $(CURDIR)/$(VENV)/bin/python

.PHONY: demo test venv up down lint fmt clean

$(VENV)/.installed: $(REQS)
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r $(REQS)
	touch $@

venv: $(VENV)/.installed

$(TENANTCTL): venv FORCE
	cargo build --quiet -p tenantctl

FORCE:

# Starts the local stack, onboards two tenants whose ids are prefix-confusable, signs a
# user of each in and proves each is denied by IAM on the other's data. The stack stays
# up afterwards for exploring (`eval "$$(target/debug/tenantctl local env)"`); `make down`
# stops it.
demo: $(TENANTCTL)
	@$(TENANTCTL) local down >/dev/null
	@$(TENANTCTL) local up
	@$(TENANTCTL) --local onboard acme --name "Acme Corp" --email ops@acme.example
	@$(TENANTCTL) --local onboard acme-labs --name "Acme Labs" --email ops@acmelabs.example
	@$(TENANTCTL) --local list
	@$(TENANTCTL) --local check-isolation acme acme-labs
	@echo "local stack still running: try '$(TENANTCTL) --local status acme'; stop it with 'make down'"

up: $(TENANTCTL)
	@$(TENANTCTL) local up

down:
	@test ! -x $(TENANTCTL) || $(TENANTCTL) local down

# Unit and property tests, the moto extension's tests, and the end-to-end tests (each
# starts its own local stack on free ports).
test: venv
	$(VENV)/bin/python -m pytest -q -p no:cacheprovider crates/localstack/python/tests
	cargo test --workspace

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

fmt:
	cargo fmt --all

clean: down
	rm -rf target $(VENV) .tenant
