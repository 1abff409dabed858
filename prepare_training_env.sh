#!/usr/bin/env bash
# Create (or reuse) the Python virtual environment and install the pinned requirements.
# Idempotent: a second run with unchanged requirements.txt installs nothing.
# Usage: ./prepare_training_env.sh            (environment in ./.venv)
#        VENV_DIR=/path ./prepare_training_env.sh
set -euo pipefail
cd "$(dirname "$0")"
VENV_DIR="${VENV_DIR:-.venv}"
PYTHON="${PYTHON:-python3}"

if ! command -v "$PYTHON" >/dev/null 2>&1; then
    echo "prepare_training_env.sh: '$PYTHON' not found; install Python 3.10 or newer" >&2
    exit 1
fi
if [ ! -x "$VENV_DIR/bin/python" ]; then
    echo "Creating virtual environment in $VENV_DIR"
    "$PYTHON" -m venv "$VENV_DIR"
fi
stamp="$VENV_DIR/.requirements.sha256"
wanted=$(sha256sum requirements.txt | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ]; then
    echo "Environment $VENV_DIR is up to date"
    exit 0
fi
echo "Installing requirements into $VENV_DIR (first time: a few minutes)"
"$VENV_DIR/bin/python" -m pip install --quiet --upgrade pip
"$VENV_DIR/bin/python" -m pip install --quiet -r requirements.txt
echo "$wanted" > "$stamp"
echo "Environment ready: source $VENV_DIR/bin/activate"
