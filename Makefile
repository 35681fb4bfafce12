# One task runner for people and CI. `make test` and `make demo` are the README's two commands.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.wanbook-installed

.PHONY: test demo install check lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

install: $(STAMP)

# The suite, then every example notebook executed with nbval (--nbval-lax: committed notebooks
# carry no outputs, so there is nothing to compare; a cell that raises fails). notebooks/conftest.py
# gives the kernels no key and a temporary WANBOOK_HOME.
test: $(STAMP)
	$(BIN)/python -m pytest
	$(BIN)/python -m pytest --nbval-lax --nbval-current-env notebooks

# The main job: the example notebooks on the embedded emulator -> demo-output/index.html
demo: $(STAMP)
	$(BIN)/wanbook demo --out demo-output

# Lint, formatting, types and the one-way import rule (the layers in pyproject.toml).
check: $(STAMP)
	$(BIN)/ruff check wanbook tests bench notebooks
	$(BIN)/ruff format --check wanbook tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

lint: check

bench: $(STAMP)
	$(BIN)/python bench/emulator.py
	$(BIN)/python bench/runlog.py
	$(BIN)/python bench/batch.py
	$(BIN)/python bench/polling.py
	$(BIN)/python bench/video_metrics.py

clean:
	rm -rf $(VENV) wanbook-runs demo-output .pytest_cache
