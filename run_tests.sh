#!/usr/bin/env bash
# Set up the environment and run the test suite.
# Extra arguments go to pytest, e.g. ./run_tests.sh -k features -x
set -euo pipefail
cd "$(dirname "$0")"
./prepare_training_env.sh
VENV_DIR="${VENV_DIR:-.venv}"
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
exec "$VENV_DIR/bin/python" -m pytest tests "$@"
