# Convenience wrapper; the set-up commands themselves need only Python: see dev.py.
PYTHON ?= python3

.PHONY: run test lint
run:
	$(PYTHON) dev.py run
test:
	$(PYTHON) dev.py test $(PYTEST_ARGS)
lint:
	$(PYTHON) dev.py lint
