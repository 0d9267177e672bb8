# make run: serve the demo on 127.0.0.1:5000 (and its scheduler).  make test: every test (PostgreSQL too when TEST_DATABASE_URL is set).
# make serve: gunicorn as in production (gunicorn.conf.py); it needs SECRET_KEY, FIELD_KEY and DATABASE_URL.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
FLASK := $(BIN)/flask --app wsgi
DEMO_WECHAT_PORT ?= 5001
API_PORT ?= 5000

.PHONY: install run serve test lint openapi bench clean

# Zero-config targets run in development mode: published defaults allowed, FIELD_KEY derived (core/config.py).
run openapi bench: export JIAYI_ENV := development

$(INSTALLED): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(INSTALLED)

install: $(INSTALLED)

# The demo runs on its files' business date (registry/demo.py DEMO_DATE), 15:30 Shanghai at start, at real speed:
# `make run DEMO_DATE=2026-12-20` for another date, `make run JIAYI_CLOCK_SHIFT=0` for the real clock (core/clock.py).
DEMO_DATE ?=

run: install
	mkdir -p instance
	$(FLASK) db upgrade
	@# Background processes of a script ignore Ctrl-C, so the trap ends them by id (TERM, once each: the
	@# scheduler stops on any number of signals anyway) and waits for them; `kill 0` also hit make and
	@# whatever shares its process group, and sent the recipe's own shell TERM again.
	export JIAYI_CLOCK_SHIFT=$${JIAYI_CLOCK_SHIFT:-$$($(BIN)/python -m demo.shift $(DEMO_DATE))}; \
	echo "Business clock shifted by $$JIAYI_CLOCK_SHIFT s (JIAYI_CLOCK_SHIFT) for every process below"; \
	$(FLASK) demo load || exit 1; \
	echo "Demo WeChat stand-in on 127.0.0.1:$(DEMO_WECHAT_PORT); API on http://127.0.0.1:$(API_PORT) (docs: /docs)"; \
	pids=; trap 'trap - EXIT INT TERM; kill $$pids 2>/dev/null; wait' EXIT INT TERM; \
	$(BIN)/python -m standins.wechat $(DEMO_WECHAT_PORT) & pids="$$pids $$!"; \
	WECHAT_API_BASE=http://127.0.0.1:$(DEMO_WECHAT_PORT) $(FLASK) scheduler run & pids="$$pids $$!"; \
	WECHAT_API_BASE=http://127.0.0.1:$(DEMO_WECHAT_PORT) $(FLASK) run --host 127.0.0.1 --port $(API_PORT) & pids="$$pids $$!"; \
	wait $$!

serve: install
	$(BIN)/gunicorn -c gunicorn.conf.py

lint: install
	$(BIN)/ruff check .

# Two workers (pytest-xdist), a test file each at a time: the machine's 2 cores, and a file's SQLite and
# PostgreSQL runs of a test never at once.
test: lint
	$(BIN)/python -m pytest -n 2 --dist loadfile

openapi: install
	$(FLASK) openapi write openapi/openapi.json

clean:
	rm -rf $(VENV) instance/*.sqlite*

bench: install
	$(BIN)/python -m bench.run $(BENCH_ARGS)
