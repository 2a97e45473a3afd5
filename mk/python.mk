# Python bindings (bindings/python): pytest on bindings/python/tests against
# the source tree and target/release, including a pip install of the package
# (no network: setuptools and wheel from this Python) and a C peer program
# compiled with $(CC). Needs pytest and wheel (.ci/pip-packages).
PYTHON ?= python3

.PHONY: test-python
test-python: lib
	PYTHONPATH=$(abspath bindings/python) CC="$(CC)" $(PYTHON) -m pytest -q bindings/python

CHECK_EXTRA += test-python
