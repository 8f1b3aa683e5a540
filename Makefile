# The few commands a newcomer needs. `make demo` and `make test` set everything up.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.cnnlab-installed

.PHONY: demo test lint format bench notebooks clean-venv

# (Re)install only when pyproject.toml or the lock changed since the last install. The exact,
# tested versions come from constraints.txt; pyproject.toml only states compatible ranges.
$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)  ## train LeNet-5 on MNIST and print the test accuracy
	$(BIN)/cnnlab train --model lenet5 --dataset mnist

test: $(STAMP)  ## the whole test suite, the docstring examples included (tests/test_doctests.py)
	$(BIN)/python -m pytest -q

# pyright runs on the venv's interpreter (not whatever python is first on PATH) with its bundled
# node (pyright[nodejs]); PYRIGHT_PYTHON_IGNORE_WARNINGS skips its online version check, so
# lint needs no network.
lint: $(STAMP)  ## ruff, and pyright (basic) on src/
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	PYRIGHT_PYTHON_IGNORE_WARNINGS=1 $(BIN)/pyright --pythonpath $(BIN)/python

format: $(STAMP)
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

notebooks: $(STAMP)  ## re-execute notebooks/ from notebooks/src/ and store them with their outputs (minutes)
	$(BIN)/python notebooks/build.py

bench: $(STAMP)  ## the MNIST speed race (minutes)
	$(BIN)/python benchmarks/mnist_speed.py

clean-venv:
	rm -rf $(VENV)
