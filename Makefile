# The two entry points: `make demo` and `make test`. Both build .venv from the
# committed lock files, so every install is the same.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP_RUN := $(VENV)/.installed-run
STAMP_DEV := $(VENV)/.installed-dev

.PHONY: demo demo-serve test bench lint typecheck lock clean image

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP_RUN): requirements.lock pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

$(STAMP_DEV): requirements-dev.lock pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements-dev.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@ $(STAMP_RUN)

demo: $(STAMP_RUN)
	$(BIN)/keysentry demo
	@echo "keysentry is $(BIN)/keysentry; '. $(BIN)/activate' puts it on the PATH."

# The demo as a running worker: rescans every minute, serves /metrics.
demo-serve: $(STAMP_RUN)
	$(BIN)/keysentry demo --serve

test: $(STAMP_DEV)
	$(BIN)/ruff check scanner tests benchmarks
	$(BIN)/mypy
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Scale benchmark (not part of the tests): 100k keys over 5,000 projects, SQLite.
# BENCH_ARGS="--keys 1000000 --projects 20000 --db postgresql" for other sizes.
BENCH_ARGS ?= --keys 100000 --projects 5000 --db sqlite
bench: $(STAMP_DEV)
	$(BIN)/python -m benchmarks.scan $(BENCH_ARGS)
	$(BIN)/python -m benchmarks.report $(BENCH_ARGS)

lint: $(STAMP_DEV)
	$(BIN)/ruff check scanner tests benchmarks
	$(BIN)/ruff format --check scanner tests benchmarks

typecheck: $(STAMP_DEV)
	$(BIN)/mypy

# The image, on a machine with no container daemon or registry, as root (podman,
# debootstrap): scripts/build-image. KEYSENTRY_IMAGE=$(IMAGE) make test runs
# tests/test_image.py on it.
IMAGE ?= localhost/keysentry:dev
image:
	scripts/build-image $(IMAGE)

# Regenerate the lock files after editing dependencies in pyproject.toml.
lock:
	$(PYTHON) -m pip install --quiet uv
	$(PYTHON) -m uv pip compile pyproject.toml requirements-build.in --universal \
		--python-version 3.11 --generate-hashes -o requirements.lock
	$(PYTHON) -m uv pip compile pyproject.toml requirements-build.in --extra dev --universal \
		--python-version 3.11 --generate-hashes -o requirements-dev.lock

clean:
	rm -rf $(VENV) .keysentry-demo .mypy_cache .pytest_cache .ruff_cache
