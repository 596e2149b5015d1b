# Two commands on a fresh clone: `make run` starts deployd on this machine, `make test` runs the suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
STAGE ?= dev

.PHONY: run test test-unit test-integration test-e2e lint bench package clean

# The pinned requirements, then the project itself (editable, its dependencies being those pins): the `deployd`
# command line lands at .venv/bin/deployd.
$(STAMP): requirements.txt requirements-cli.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/python -m chalicelib.local

# One worker per core (pytest-xdist); tests/conftest.py groups what must share a process.
test: lint
	$(BIN)/python -m pytest -n auto --dist loadgroup

test-unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit

test-integration: $(STAMP)
	$(BIN)/python -m pytest tests/integration

test-e2e: $(STAMP)
	$(BIN)/python -m pytest tests/e2e

bench: $(STAMP)
	$(BIN)/python -m bench.listing
	$(BIN)/python -m bench.cold_start
	$(BIN)/python -m bench.webhooks
	$(BIN)/python -m bench.api_calls
	$(BIN)/python -m bench.snapshot
	$(BIN)/python -m bench.pipeline
	$(BIN)/python -m bench.promotions

# The CloudFormation template and the function package for STAGE, in out/STAGE/ (sam.json + deployment.zip).
# The region only fills Chalice's placeholders; the template deploys to any region. The package ships bytecode
# (chalicelib.infra.deployment_zip).
package: $(STAMP)
	rm -rf out/$(STAGE)
	$(BIN)/python -m chalicelib.infra.package $(STAGE) out/$(STAGE)
	AWS_DEFAULT_REGION=$${AWS_DEFAULT_REGION:-us-east-1} $(BIN)/chalice package --stage $(STAGE) --merge-template out/$(STAGE)/merge-template.json out/$(STAGE)
	$(BIN)/python -m chalicelib.infra.deployment_zip out/$(STAGE)
	$(BIN)/cfn-lint out/$(STAGE)/sam.json

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy chalicelib app.py deployd_cli

clean:
	rm -rf $(VENV) .pytest_cache out
