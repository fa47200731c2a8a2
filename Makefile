# Run as: make run   (set up, build the demo workspace once, start the app)
#         make test  (set up, run the test suite)
#         make llama (build llama-cpp-python once into .cache/wheels and install it)
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
LLAMA_STAMP := $(VENV)/.llama-installed
WHEELS := .cache/wheels
WORKSPACE ?= workspaces/demo

.PHONY: setup llama model demo run test test-e2e clean-demo

$(STAMP): requirements.txt requirements-models.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps -r requirements-models.txt
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	touch $(STAMP)

setup: $(STAMP)

# llama.cpp bindings (requirements-llama.txt): not in setup, the source build takes minutes.
# pip wheel reuses a wheel already in $(WHEELS) (it is built for this CPU: -march=native).
$(LLAMA_STAMP): requirements-llama.txt | $(STAMP)
	mkdir -p $(WHEELS)
	CMAKE_ARGS="-DLLAVA_BUILD=OFF" CMAKE_BUILD_PARALLEL_LEVEL=$${CMAKE_BUILD_PARALLEL_LEVEL:-2} \
	  $(PY) -m pip wheel -q --no-deps --find-links $(WHEELS) -w $(WHEELS) -r requirements-llama.txt
	$(PY) -m pip install -q --no-deps --no-index --find-links $(WHEELS) -r requirements-llama.txt
	touch $(LLAMA_STAMP)

llama: $(LLAMA_STAMP)

model: setup  ## convert the packaged GGUF once into .cache/models (safetensors)
	$(PY) -m workbench prepare-model

demo: model  ## build the demo workspace once (skipped when present)
	$(PY) -m workbench demo --workspace $(WORKSPACE)

run: demo
	WORKBENCH_WORKSPACE=$(WORKSPACE) $(VENV)/bin/streamlit run app.py \
	  --server.headless true --server.address 127.0.0.1 --server.port 8501 \
	  --browser.gatherUsageStats false

test: model
	$(PY) -m pytest

test-e2e: model
	$(PY) -m pytest -m e2e

clean-demo:
	rm -rf $(WORKSPACE)
