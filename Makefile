# Two entry points: `make run` (daemon on the embedded simulators) and `make test`.
# Both build .venv from the pinned requirements.lock first; nothing else is needed.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CONFIG ?= etc/hedged.toml
PYTEST_ARGS ?=

TOOLS  := $(VENV)/.test-tools

.PHONY: run test bench venv clean

$(STAMP): requirements.lock pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "make: $(PYTHON) not found (hedged needs Python 3.11)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(BIN)/hedged --config $(CONFIG)

# promtool checks etc/prometheus/hedged-rules.yml; it comes from Debian's `prometheus` package.
$(TOOLS): | $(STAMP)
	@command -v promtool >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "make: installing promtool (Debian package prometheus) for the rules test"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null) \
	      || echo "make: promtool could not be installed; the rules test falls back to a structural check"; \
	  else echo "make: promtool not found (apt-get install prometheus); the rules test falls back to a structural check"; fi; }
	@touch $(TOOLS)

test: $(STAMP) $(TOOLS)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	@for b in bench/*.py; do [ "$$b" = bench/stats.py ] && continue; echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
