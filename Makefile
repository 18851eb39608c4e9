# The Jupyter Field Handbook. `make help` lists every target.
#   make book       set up .venv and node_modules if needed, execute changed chapters, build _build/html
#   make preview    serve the book on 127.0.0.1:8000, rebuilt (changed code re-executed) on every save, page reloaded
#   make test-fast  unit tests and tiny sample books, no browser, no nbval, no full build (about a minute)
#   make test       lint, build if needed, then pytest (site, fixtures, browser) and nbval twice
SHELL := bash
.DEFAULT_GOAL := book

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMPS := _build/.stamps
# hosted: the JupyterLite app loads Pyodide from its CDN; offline: everything bundled.
HANDBOOK_LITE ?= hosted
export HANDBOOK_LITE
PORT ?= 8000
BOOK_SOURCES := _config.yml _toc.yml $(shell find chapters book -type f -not -path '*/__pycache__/*' -not -name '*.pyc')
NBVAL := $(CURDIR)/$(BIN)/python -m pytest -p no:cacheprovider --nbval --nbval-sanitize-with=$(CURDIR)/tests/nbval-sanitize.cfg \
	--nbval-cell-timeout=120 -n 2 --dist loadscope -q

.PHONY: book preview test test-fast nbval serve clean lint format bench audit linkcheck help lock drift pdf

book: $(STAMPS)/book-$(HANDBOOK_LITE) ## Build the site into _build/html (executes only changed chapters)

preview: $(VENV)/.requirements node_modules/.installed ## Serve the book on http://127.0.0.1:8000 (PORT=...) and rebuild it on every save
	$(BIN)/python book/tools/preview.py . --port $(PORT)

test: ## Lint, build (offline Lite) if needed, then run the whole test suite and nbval twice
	$(MAKE) lint
	$(MAKE) book HANDBOOK_LITE=offline
	$(MAKE) pdf HANDBOOK_LITE=offline
	$(BIN)/python -m pytest tests
	$(MAKE) nbval

test-fast: $(VENV)/.requirements node_modules/.installed ## Unit tests and tiny sample books: no browser, no nbval, no full build
	$(BIN)/python -m pytest -q -m "not build and not browser" tests

nbval: ## Re-run every published notebook (_build/html/_notebooks) in a fresh kernel; outputs must match, twice
	cd _build/html/_notebooks && PYTHONDONTWRITEBYTECODE=1 $(NBVAL) chapters/[0-9][0-9]-*.ipynb
	cd _build/html/_notebooks && PYTHONDONTWRITEBYTECODE=1 $(NBVAL) chapters/[0-9][0-9]-*.ipynb

serve: ## Serve _build/html on http://127.0.0.1:8000 (PORT=...)
	$(BIN)/python -m http.server --bind 127.0.0.1 --directory _build/html $(PORT)

clean: ## Empty _build (keeps .venv and node_modules)
	rm -rf _build/* _build/.[!.]* conf.py

lint: $(VENV)/.requirements ## ruff (tools and chapter code), codespell and nbstripout through pre-commit
	$(BIN)/pre-commit run --all-files

format: $(VENV)/.requirements ## Format the chapters' code cells with ruff through jupytext (what `make lint` checks)
	$(BIN)/jupytext --quiet --pipe-fmt ipynb --pipe "$(BIN)/ruff format --stdin-filename chapters/cell.ipynb -" \
		chapters/[0-9][0-9]-*.md

bench: ## Measure build, rebuild, nbval and Lite times into bench/results/ (offline Lite: no network needed)
	$(MAKE) book HANDBOOK_LITE=offline
	HANDBOOK_LITE=offline $(BIN)/python bench/build_bench.py
	$(BIN)/python bench/lite_bench.py

audit: $(STAMPS)/book-$(HANDBOOK_LITE) ## Lighthouse on every page; reports the worst
	$(BIN)/python bench/audit.py

pdf: $(STAMPS)/book-$(HANDBOOK_LITE) ## Print the book and each chapter as PDF with chromium into _build/pdf (and the site's _pdf/)
	$(BIN)/python book/tools/pdf.py

linkcheck: $(STAMPS)/book-$(HANDBOOK_LITE) ## Check external links (needs the network; not part of make test)
	@$(BIN)/python -c "import socket; socket.create_connection(('docs.jupyter.org', 443), timeout=5)" 2>/dev/null \
		|| { echo "make linkcheck needs the network (it checks the book's external links); none reachable." >&2; exit 1; }
	PYTHONPATH=book/_ext $(BIN)/python -m sphinx -b linkcheck -q -d _build/.site/doctrees -D nb_execution_mode=off . _build/linkcheck

lock: $(VENV)/.requirements ## Recompile requirements.txt (hashed) from requirements.in, keeping existing pins
	$(BIN)/uv pip compile requirements.in --generate-hashes --python $(BIN)/python --no-header \
		--annotation-style line --quiet $(LOCK_FLAGS) -o requirements.txt

drift: $(VENV)/.requirements ## Execute every chapter against the newest allowed releases; report into bench/results/drift.md
	$(BIN)/python book/tools/drift.py

help: ## List the targets
	@grep -E '^[a-z][a-z-]*:.*## ' Makefile | sed -E 's/:.*## /\t/' | expand -t 12

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.requirements: requirements.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip==25.3
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
	touch $@

$(STAMPS)/book-$(HANDBOOK_LITE): $(VENV)/.requirements node_modules/.installed $(BOOK_SOURCES)
	$(BIN)/python book/tools/build.py
	mkdir -p $(STAMPS) && rm -f $(STAMPS)/book-* && touch $@
