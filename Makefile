# The two commands a user needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
NODE_INSTALLED := node_modules/.installed
DEPLOY_ENV ?= dev
# jsii (under aws-cdk-lib) warns on every run about the machine's Node.js version; the synth works.
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20

.PHONY: install run test lint synth deploy destroy bench cost capacity audience soak profile screenshots postman clean

$(INSTALLED): requirements.txt requirements-dev.txt infra/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

install: $(INSTALLED)

# newman and openapi-to-postmanv2 (package.json), exactly as package-lock.json pins them.
$(NODE_INSTALLED): package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

# The Postman collection and environment in postman/, generated from openapi.yaml (make test checks they are current).
postman: $(NODE_INSTALLED)
	node postman/build.mjs

run: install
	$(PY) -m devstack.run

test: install lint $(NODE_INSTALLED)
	$(PY) -m pytest

# ruff (lint and format) and mypy (strict, with the boto3 stubs) over every package but the tests (pyproject.toml says why).
lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

# Benchmarks against a throw-away local stack: bench/results/<timestamp>.json, a table at the end.
bench: install
	$(PY) -m bench $(BENCH_ARGS)

# The AWS capacity and cost model from the newest measured per-event costs (bench/results), formulas printed;
# COST_ARGS=--measure measures them first on a throw-away stack.
cost: install
	$(PY) -m bench.bill $(COST_ARGS)

# A matchday's partition heat on AWS, simulated through the app's own code (bench/capacity.py): the hottest
# keys against DynamoDB's per-partition limits, the ceilings and the quotas; rewrites docs/capacity.md's table.
capacity: install
	$(PY) -m bench.capacity --doc docs/capacity.md $(CAPACITY_ARGS)

# A big match's audience on loopback (bench/audience.py): VIEWERS pollers through the local CDN and
# SUBSCRIBERS WebSocket followers while a match is played; bench/results/audience-<timestamp>.json.
VIEWERS ?= 2000
SUBSCRIBERS ?= 500
audience: install
	$(PY) -m bench.audience --viewers $(VIEWERS) --subscribers $(SUBSCRIBERS)

# Chaos soak: MINUTES of steady load with random SIGKILLs and restarts of every part, then an exact check.
MINUTES ?= 20
soak: install
	$(PY) -m soak --minutes $(MINUTES)

# pyinstrument profiles of the ingest handler, a consumer batch and a whole-match read.
profile: install
	$(PY) -m bench.profile

# CloudFormation for DEPLOY_ENV (infra/config/$(DEPLOY_ENV).json) into infra/cdk.out: no AWS credentials needed.
synth: install
	rm -rf infra/chalice.out infra/cdk.out
	cd infra && ../$(PY) app.py

# Needs AWS credentials and the CDK CLI (fetched by npx); bootstraps the account/region once.
deploy: synth
	cd infra && npx --yes aws-cdk@2 bootstrap --app cdk.out && \
	  npx --yes aws-cdk@2 deploy --app cdk.out --require-approval broadening

# Deletes the DEPLOY_ENV stack in one step: retries while Lambda still holds network interfaces in the VPC.
destroy: synth
	cd infra && ../$(PY) destroy.py

# The match centre in headless Chromium (apt-get install chromium chromium-driver), desktop and phone, into docs/;
# FILE=<StatsBomb events JSON> to show another match than the test fixture.
screenshots: install
	$(PY) -m matchtools.screenshots $(FILE)

clean:
	rm -rf $(VENV) .devstack .pytest_cache .ruff_cache infra/cdk.out infra/chalice.out
