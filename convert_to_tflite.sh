#!/usr/bin/env bash
# Convert the Keras models to TFLite and test every variant (02_convert.py, then 03_tflite_test.py).
# Extra arguments go to both scripts, e.g. ./convert_to_tflite.sh --config my.yaml
set -euo pipefail
cd "$(dirname "$0")"
PYTHON="${VENV_DIR:-.venv}/bin/python"
[ -x "$PYTHON" ] || { echo "convert_to_tflite.sh: no environment; run ./prepare_training_env.sh first" >&2; exit 1; }
"$PYTHON" 02_convert.py -d "$@"
"$PYTHON" 03_tflite_test.py -d "$@"
