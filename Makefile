# The README's commands. Every target uses the project's virtual environment in .venv.
PY ?= .venv/bin/python
SEED ?= 1
MINUTES ?= 5

.PHONY: venv lint typecheck test unit demo stack-up stack-down bench chaos fuzz schema

venv:
	test -x $(PY) || python3 -m venv .venv
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'

lint:
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/lint-imports

typecheck:
	.venv/bin/mypy

unit:
	$(PY) -m pytest tests/unit -q

test:
	bash scripts/test

demo:
	bash scripts/demo

stack-up:
	.venv/bin/cardwright stack up

stack-down:
	.venv/bin/cardwright stack down

schema:
	$(PY) -m cardwright.schema.export

# A seeded chaos schedule on its own stack: make chaos SEED=7 MINUTES=10 (SEED=1-20 runs many).
chaos:
	$(PY) -m tests.chaos.run --seed $(SEED) --minutes $(MINUTES)

# Fuzzing campaigns (minutes): RECORDS generated records through the parser against the JSON
# Schema, then through a real member on the running stack (eval "$$(cardwright stack up)" first).
RECORDS ?= 50000
fuzz:
	$(PY) -m tests.fuzz.parser_campaign --records $(RECORDS) --seed $(SEED)
	$(PY) -m tests.fuzz.member_campaign --records $(RECORDS) --seed $(SEED)

# Every measurement side by side on the bench's own stack (minutes); QUICK=1 for a smoke run.
# Writes bench/results/*.json and bench/results/plot.png.
bench:
	$(PY) -m pip install -q -e '.[bench]'
	$(PY) -m bench.run $(if $(QUICK),--quick,) --seed $(SEED)
