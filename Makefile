# Two entry points: `make run` (daemon on the embedded simulators) and `make test`.
# Both build .venv from the pinned requirements.lock first; nothing else is needed.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CONFIG ?= etc/hedged.toml
PYTEST_ARGS ?=

TOOLS  := $(VENV)/.test-tools

.PHONY: run test bench venv clean dst soak chaos

SEED    ?= 1
MINUTES ?= 3
SEEDS   ?= 1..10000
JOBS    ?= 2
RUNS    ?= 2
KILLS   ?= 3

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

# Every benchmark, then the generated part of docs/benchmarks.md rewritten (bench/report.py).
# QUICK=1: fewer fills and runs (a few minutes; checks the bench, not for quoting).
# py-spy (profiles the daemon from outside where a target is missed) is a bench-only tool, pinned here.
PY_SPY_VERSION := 0.4.3
BENCH_ARGS ?=

$(BIN)/py-spy: | $(STAMP)
	$(BIN)/python -m pip install --quiet py-spy==$(PY_SPY_VERSION) || echo "make: py-spy not installed; the report will have no profile"

bench: $(STAMP) | $(BIN)/py-spy
	$(BIN)/python bench/report.py $(if $(QUICK),--quick) $(BENCH_ARGS)

# Deterministic simulation of the whole daemon (docs/dst.md): one seed, replayed byte for byte.
dst: $(STAMP)
	$(BIN)/python -m hedged.cli dst --seed $(SEED) --minutes $(MINUTES)

# The long campaign: 10,000 seeds, a tally at the end (failing seeds are printed as they come).
soak: $(STAMP)
	$(BIN)/python -m hedged.cli dst --seeds $(SEEDS) --minutes $(MINUTES) --jobs $(JOBS) --known tests/dst/known_failures.txt

# Process-level crash campaign: hedged sim + the daemon as processes, SIGKILL at seeded instants.
chaos: $(STAMP)
	$(BIN)/python -m hedged.dst.chaos --runs $(RUNS) --kills $(KILLS)

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
