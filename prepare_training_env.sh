#!/usr/bin/env bash
# Create (or reuse) the Python virtual environment and install the pinned requirements.
# Idempotent: a second run with unchanged requirements installs nothing.
# Usage: ./prepare_training_env.sh            runtime packages (requirements.txt) in ./.venv
#        ./prepare_training_env.sh --test     also the test and check tools (requirements-test.txt)
#        ./prepare_training_env.sh --gpu      also JAX's CUDA 12 build (requirements-gpu.txt):
#                                             training on an NVIDIA GPU (--test --gpu: both)
#        VENV_DIR=/path ./prepare_training_env.sh
set -euo pipefail
cd "$(dirname "$0")"
VENV_DIR="${VENV_DIR:-.venv}"
PYTHON="${PYTHON:-python3}"
requirements=requirements.txt
gpu=""
for option in "$@"; do
    case "$option" in
        --test) requirements=requirements-test.txt ;;
        --gpu) gpu=requirements-gpu.txt ;;
        *)
            echo "prepare_training_env.sh: unknown option '$option' (use --test, --gpu or nothing)" >&2
            exit 2
            ;;
    esac
done

if ! command -v "$PYTHON" >/dev/null 2>&1; then
    echo "prepare_training_env.sh: '$PYTHON' not found; install Python 3.10 or newer" >&2
    exit 1
fi
if [ ! -x "$VENV_DIR/bin/python" ]; then
    echo "Creating virtual environment in $VENV_DIR"
    "$PYTHON" -m venv "$VENV_DIR"
fi
stamp="$VENV_DIR/.requirements.sha256"
runtime_state="runtime $(cat requirements.txt pyproject.toml | sha256sum | cut -d' ' -f1)"
test_state="test $(cat requirements.txt requirements-test.txt pyproject.toml | sha256sum | cut -d' ' -f1)"
wanted="$runtime_state"
[ "$requirements" = requirements-test.txt ] && wanted="$test_state"
if [ -n "$gpu" ]; then
    # the GPU build is a state of its own: a CPU environment does not satisfy it
    wanted="$wanted gpu $(sha256sum < "$gpu" | cut -d' ' -f1)"
    test_state="$test_state gpu $(sha256sum < "$gpu" | cut -d' ' -f1)"
fi
# A test environment also satisfies a runtime one (the test requirements include the runtime ones).
if [ -f "$stamp" ] && { [ "$(cat "$stamp")" = "$wanted" ] || [ "$(cat "$stamp")" = "$test_state" ]; }; then
    echo "Environment $VENV_DIR is up to date"
    exit 0
fi
log="$VENV_DIR/pip-install.log"
echo "Installing $requirements into $VENV_DIR (first time: a few minutes; pip's output: $log)"
install() {
    if ! "$VENV_DIR/bin/python" -m pip install --quiet "$@" >>"$log" 2>&1; then
        tail -n 20 "$log" >&2
        echo "prepare_training_env.sh: pip install $* failed (whole output: $log)" >&2
        exit 1
    fi
}
: > "$log"
install --upgrade pip
install -r "$requirements"
if [ -n "$gpu" ]; then
    echo "Installing JAX's CUDA 12 build ($gpu)"
    install -r "$gpu"
fi
# The package itself, editable: importable from any folder, the sources stay here.
PYTHONWARNINGS=ignore install --no-deps -e .
echo "$wanted" > "$stamp"
echo "Environment ready: source $VENV_DIR/bin/activate"
