#!/usr/bin/env bash
# Set up the environment (runtime and test packages), check lint, format and types, run the
# test suite on every core (pytest-xdist; the tests of a module with an expensive
# module-scoped fixture stay on one worker). Extra arguments go to pytest, e.g.
# ./run_tests.sh -k features -x, or -n 0 for one process; the slowest tests:
# ./run_tests.sh --durations=25
set -euo pipefail
cd "$(dirname "$0")"
./prepare_training_env.sh --test
VENV_DIR="${VENV_DIR:-.venv}"
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
echo "== ruff check"
"$VENV_DIR/bin/ruff" check .
echo "== ruff format --check"
"$VENV_DIR/bin/ruff" format --check .
echo "== mypy"
"$VENV_DIR/bin/mypy"
echo "== pytest"
exec "$VENV_DIR/bin/python" -m pytest tests -n auto --dist loadgroup "$@"
