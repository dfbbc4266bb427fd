# The README's two commands: `make book` builds the book, `make test` runs the tests.
# Both set up .venv from requirements.lock (the exact, tested versions) on first use.
PYTHON ?= python3
PROFILE ?= smoke
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: book test lint clean

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --upgrade pip
	$(VENV)/bin/python -m pip install -q -r requirements.lock -e ".[book,test]"
	touch $(STAMP)

book: $(STAMP)
	$(VENV)/bin/python -m nbhelpers.book build --profile $(PROFILE)

test: $(STAMP)
	$(VENV)/bin/python -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .

clean:
	rm -rf _build
