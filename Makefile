# Deep Learning Foundations: set-up, site and tests.
#   make site   install everything (Python venv, MathJax) and build the site into _build/html
#   make test   install what is missing, then run the whole test suite (what CI runs)
#   make serve  serve the built site on http://localhost:8000
#   make gpu-check  grade on the CPU and the GPU and compare (benchmarks/gpu_check.py)
#   make student-tree  write what students get (chapters as notebooks, exercises, dlf, binder/;
#               no solutions, no autograder) into _build/student
#   make serve-grader  run the grading service on http://127.0.0.1:8750 (needs bubblewrap)

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.txt pyproject.toml | cksum | cut -d' ' -f1)
JOBS ?= 2

.PHONY: install site test serve serve-grader lint exercises gpu-check clean student-tree

install: $(STAMP) node_modules/.package-lock.json

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	rm -f $(VENV)/.installed-*
	touch $@

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error

site: install
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/jupyter-book build . -n -W --keep-going

test: install
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest -n $(JOBS) --dist loadgroup

lint: install
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

exercises: install
	$(BIN)/python -m autograder build --all

gpu-check: $(STAMP)
	$(BIN)/python benchmarks/gpu_check.py

student-tree: install
	$(BIN)/python -m autograder.publish _build/student

serve:
	$(BIN)/python -m http.server --directory _build/html 8000

serve-grader: install
	$(BIN)/python -m autograder serve --host 127.0.0.1 --port 8750 --workers $(JOBS)

clean:
	rm -rf _build test-artifacts
