# The README's two commands: `make book` builds the book, `make test` runs the tests.
# Both set up .venv from requirements.lock (the exact, tested versions) on first use.
PYTHON ?= python3
PROFILE ?= smoke
EDITION ?= full
# pytest-xdist workers. The tests that read the book come first (tests/conftest.py), so one
# worker builds it (two chapters at a time) while the other runs the unit tests; with
# --dist worksteal an idle worker takes tests queued for the busy one.
TEST_JOBS ?= 2
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: book test setup lint clean browser

# The environment: uv installs the locked versions as pip would, in about half the time
# (parallel downloads and unpacking; the bytecode compiled, as pip does). uv reads its own
# index settings (UV_DEFAULT_INDEX), not pip's: behind a private index, INSTALLER=pip.
INSTALLER ?= uv
UV_VERSION := 0.13.9
ifeq ($(INSTALLER),uv)
INSTALL_TOOL := uv==$(UV_VERSION)
INSTALL := $(VENV)/bin/python -m uv pip install --python $(VENV)/bin/python -q --compile-bytecode
else
INSTALL_TOOL :=
INSTALL := $(VENV)/bin/python -m pip install -q
endif

$(STAMP): requirements.lock pyproject.toml tools/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --upgrade pip $(INSTALL_TOOL)
	$(INSTALL) -r requirements.lock -e ".[test]" -e tools
	touch $(STAMP)

book: $(STAMP)
	$(VENV)/bin/python -m bookkit build --profile $(PROFILE) --edition $(EDITION)

test: setup
	$(VENV)/bin/python -m pytest -n $(TEST_JOBS) --dist worksteal --durations=15

# What the tests need: the environment (pip) and the browser (apt on a fresh machine). They
# share nothing, so they are fetched and installed side by side.
setup:
	@$(MAKE) --no-print-directory -j2 $(STAMP) browser

# tests/book/test_browser.py opens every page in Debian's headless chromium through its
# chromedriver; as root, a machine without them gets them from apt (quietly, log on failure).
browser:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then \
		echo "tests/book/test_browser.py needs chromium and its chromedriver:" \
			"run 'apt-get install chromium chromium-driver' as root" >&2; exit 1; fi; \
	echo "installing chromium and chromium-driver with apt-get (for tests/book/test_browser.py)"; \
	log=$$(mktemp); \
	{ apt-get update -q && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -q chromium chromium-driver; } >"$$log" 2>&1 \
		|| { cat "$$log" >&2; rm -f "$$log"; exit 1; }; \
	rm -f "$$log"

lint: $(STAMP)
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .

clean:
	rm -rf _build
