# Two commands on a fresh machine (only python3 >= 3.11 and make needed):
#   make demo   the whole journey against the local sandbox, on embedded defaults
#   make test   the test suite
# The first run creates .venv from uv.lock (the one lock file); later runs reuse it.

PYTHON ?= python3
TOOLS  := .tools
UV     := $(TOOLS)/bin/uv
VENV   := .venv
export UV_PROJECT_ENVIRONMENT := $(VENV)
export UV_PYTHON_DOWNLOADS := never
# compiled once at install: every process (workers fork horses, tests start many) then
# imports from bytecode instead of compiling the libraries again, which machines that set
# PYTHONDONTWRITEBYTECODE do at every start (a worker's imports: 1.9 s without, 0.6 s with)
export UV_COMPILE_BYTECODE := 1

.PHONY: demo test lint package-check bench chaos sandbox run clean

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet uv

$(VENV)/.synced: uv.lock pyproject.toml | $(UV)
	$(UV) sync --frozen --all-extras --python $(PYTHON)
	touch $@

demo: $(VENV)/.synced
	$(VENV)/bin/connector demo

test: $(VENV)/.synced
	$(VENV)/bin/pytest

lint: $(VENV)/.synced
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports  # the import contracts in pyproject.toml

package-check: $(VENV)/.synced
	.ci/package-check $(UV)

bench: $(VENV)/.synced
	$(VENV)/bin/python -m benchmarks.run

# faults while a burst arrives; the bridge must finish by itself (--short: the CI version)
chaos: $(VENV)/.synced
	$(VENV)/bin/python -m benchmarks.chaos $(CHAOS_ARGS)

# the sandbox delivers its people's acts to the bridge that `connector run` starts on PORT
# 8000 (written to sandbox.env); e.g. make sandbox SANDBOX_ARGS="--callback-url URL"
SANDBOX_ARGS ?= --callback-url http://127.0.0.1:8000/wechat/callback
sandbox: $(VENV)/.synced
	$(VENV)/bin/connector sandbox --env-file sandbox.env $(SANDBOX_ARGS)

run: $(VENV)/.synced
	$(VENV)/bin/connector run

clean:
	rm -rf $(VENV) $(TOOLS)
