#!/usr/bin/env bash
# Sets up (scripts/setup.sh) and runs the whole test suite, unit and integration.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/setup-lint.sh
bash scripts/test-schemas.sh
.venv/bin/ruff check harness tests benchmarks
.venv/bin/mypy harness tests benchmarks
.venv/bin/python -m pytest -q "$@"
