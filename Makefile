# Two commands set everything up on a fresh machine: `make demo` and `make test`.
# Both create .venv when missing and reinstall only when pyproject.toml changed.

VENV    := .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
PYTEST_ARGS ?=

# Offline for every process: litellm must not fetch its price map, the embedder must not call a hub.
export LITELLM_LOCAL_MODEL_COST_MAP := True
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: test lint demo bench chaos efficacy install clean

install: $(STAMP)

$(PY):
	python3 -m venv $(VENV)

# llama-cpp-python (extra `llm`) compiles from source: build it portably (no -march=native) so a
# wheel cached by pip on one x86_64 host runs on any CI host, and skip its examples and tests.
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TESTS=OFF

# torch first and pinned: 2.13.0 resolves to the local CPU wheel; an unpinned torch pulls CUDA.
$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[test,llm]'
	touch $(STAMP)

test: lint
	$(PY) -m pytest $(PYTEST_ARGS)

# ruff over the whole repo, mypy (strict) over the packages listed in pyproject.toml's [tool.mypy].
# Part of `make test`: a finding fails the build before any test runs.
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

DEMO_ARGS ?=
demo: $(STAMP)
	$(VENV)/bin/stockbot demo $(DEMO_ARGS)

bench: $(STAMP)
	$(PY) scripts/bench.py

# The reliability suite (kill -9 loop, fault session, fuzz, bad inputs, broken storage); figures in RELIABILITY.md.
chaos: $(STAMP)
	$(PY) scripts/chaos.py $(CHAOS_ARGS)

# The learning loop measured: every failure class happens on the sim, is learned, and its repeat is
# prevented; prints "classes prevented / classes" and the mechanism (RELIABILITY.md, LEARNING).
efficacy: $(STAMP)
	$(PY) -m pytest tests/learning -q -p no:warnings $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
