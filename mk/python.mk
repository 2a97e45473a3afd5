# Python bindings (bindings/python). make check needs python3 alone, and
# PyPI through pip: it makes its own venvs under build/.
# - test-python: pytest (bindings/python/requirements-test.txt, pinned) in
#   build/venv runs bindings/python/tests against the source tree and
#   target/release, with a C peer program compiled with $(CC).
# - test-python-installed: `pip install bindings/python` into a new venv,
#   build/python-install/venv (setup.py builds a py3-none-<platform> wheel
#   that carries libwal.so, with the setuptools pinned there too), then tests/installed_check.py runs from a
#   temporary directory, isolated (-I), with no PYTHONPATH or LIBWAL_PATH.
PYTHON    ?= python3
PY_VENV   := $(BUILD)/venv
PY_REQS   := bindings/python/requirements-test.txt
PY_INST   := $(abspath $(BUILD))/python-install
PY_PIP    := -m pip install --quiet --disable-pip-version-check
# venv without ensurepip (Debian's python3 without python3-venv) makes no pip.
PY_VENV_OK := $(shell $(PYTHON) -c 'import venv, ensurepip' 2>/dev/null && echo yes)
PY_NO_VENV := python3 with its venv module

.PHONY: test-python test-python-installed

# Remade when the pinned requirements change.
$(PY_VENV)/requirements.txt: $(PY_REQS)
	rm -rf $(PY_VENV)
	$(PYTHON) -m venv $(PY_VENV)
	$(PY_VENV)/bin/python $(PY_PIP) -r $(PY_REQS)
	cp $(PY_REQS) $@

ifeq ($(PY_VENV_OK),)
test-python test-python-installed:
	@$(CHECK_SKIP) $@ "$(PY_NO_VENV)" "apt-get install python3-venv"
else
test-python: lib $(PY_VENV)/requirements.txt
	PYTHONPATH=$(abspath bindings/python) CC="$(CC)" $(PY_VENV)/bin/python -m pytest -q bindings/python

test-python-installed: lib
	rm -rf $(PY_INST) $(BUILD)/python-setuptools
	$(PYTHON) -m venv $(PY_INST)/venv
	PIP_CONSTRAINT=$(abspath $(PY_REQS)) $(PY_INST)/venv/bin/python $(PY_PIP) bindings/python
	@run=$$(mktemp -d) && cp bindings/python/tests/installed_check.py "$$run/" && \
	  (cd "$$run" && env -u PYTHONPATH -u LIBWAL_PATH $(PY_INST)/venv/bin/python -I installed_check.py); \
	  status=$$?; rm -rf "$$run"; exit $$status
endif

CHECK_EXTRA += test-python test-python-installed
