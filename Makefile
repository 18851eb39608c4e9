# The Jupyter Field Handbook.
#   make book   set up .venv and node_modules if needed, execute changed chapters, build _build/html
#   make test   build if needed, then pytest (site, fixtures, browser) and nbval twice
SHELL := bash
.DEFAULT_GOAL := book

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMPS := _build/.stamps
# hosted: the JupyterLite app loads Pyodide from its CDN; offline: everything bundled.
HANDBOOK_LITE ?= hosted
export HANDBOOK_LITE
BOOK_SOURCES := _config.yml _toc.yml $(shell find chapters book -type f -not -path '*/__pycache__/*' -not -name '*.pyc')
NBVAL := $(CURDIR)/$(BIN)/python -m pytest -p no:cacheprovider --nbval --nbval-sanitize-with=$(CURDIR)/tests/nbval-sanitize.cfg \
	--nbval-cell-timeout=120 -n 2 --dist loadscope -q

.PHONY: book test nbval serve clean lint bench audit linkcheck help pdf

book: $(STAMPS)/book-$(HANDBOOK_LITE) ## Build the site into _build/html (executes only changed chapters)

test: ## Build (offline Lite) if needed, then run the test suite and nbval twice
	$(MAKE) book HANDBOOK_LITE=offline
	$(MAKE) pdf HANDBOOK_LITE=offline
	$(BIN)/python -m pytest tests
	$(MAKE) nbval

nbval: ## Re-run every published notebook in a fresh kernel; outputs must match, twice in a row
	cd _build/jupyter_execute && $(NBVAL) chapters/[0-9][0-9]-*.ipynb
	cd _build/jupyter_execute && $(NBVAL) chapters/[0-9][0-9]-*.ipynb

serve: ## Serve _build/html on http://127.0.0.1:8000
	$(BIN)/python -m http.server --bind 127.0.0.1 --directory _build/html 8000

clean: ## Empty _build (keeps .venv and node_modules)
	rm -rf _build/* _build/.[!.]* conf.py

lint: $(VENV)/.requirements ## ruff, codespell and nbstripout through pre-commit
	$(BIN)/pre-commit run --all-files

bench: ## Measure build, rebuild, nbval and Lite times into bench/results/ (offline Lite: no network needed)
	$(MAKE) book HANDBOOK_LITE=offline
	HANDBOOK_LITE=offline $(BIN)/python bench/build_bench.py
	$(BIN)/python bench/lite_bench.py

audit: $(STAMPS)/book-$(HANDBOOK_LITE) ## Lighthouse on every page; reports the worst
	$(BIN)/python bench/audit.py

pdf: $(STAMPS)/book-$(HANDBOOK_LITE) ## Print the book and each chapter as PDF with chromium into _build/pdf (and the site's _pdf/)
	$(BIN)/python book/tools/pdf.py

linkcheck: $(STAMPS)/book-$(HANDBOOK_LITE) ## Check external links (needs the network; not part of make test)
	$(BIN)/python -m sphinx -b linkcheck -q . _build/linkcheck

help:
	@grep -E '^[a-z]+:.*## ' Makefile | sed -E 's/:.*## /\t/'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.requirements: requirements.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip==25.3
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
	touch $@

$(STAMPS)/book-$(HANDBOOK_LITE): $(VENV)/.requirements node_modules/.installed $(BOOK_SOURCES)
	$(BIN)/python book/tools/build.py
	mkdir -p $(STAMPS) && rm -f $(STAMPS)/book-* && touch $@
