#!/usr/bin/env bash
# Train and test the Keras models in development mode (00_train.py, then 01_test.py).
# Extra arguments go to both scripts, e.g. ./train.sh --config my.yaml --machine-type ToyCar
set -euo pipefail
cd "$(dirname "$0")"
PYTHON="${VENV_DIR:-.venv}/bin/python"
[ -x "$PYTHON" ] || { echo "train.sh: no environment; run ./prepare_training_env.sh first" >&2; exit 1; }
"$PYTHON" 00_train.py -d "$@"
"$PYTHON" 01_test.py -d "$@"
