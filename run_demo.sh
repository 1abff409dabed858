#!/usr/bin/env bash
# The whole job on a synthetic dataset, offline: environment, data, training, testing,
# TFLite conversion and verification. Everything is written under demo/
# (configuration: configs/demo.yaml). A second run reuses data and features but
# retrains. Usage: ./run_demo.sh
set -euo pipefail
cd "$(dirname "$0")"
start=$(date +%s)
./prepare_training_env.sh
PYTHON="${VENV_DIR:-.venv}/bin/python"
CONFIG=configs/demo.yaml

echo "== Synthetic dataset (demo/dev_data)"
"$PYTHON" -m anomaly_detection.data.synthetic demo --machine-types ToyCar --dev-ids 1 2 3 \
    --train-clips 120 --test-normal-clips 40 --test-anomaly-clips 40 --duration 10 --seed 0
echo "== 00_train.py"
"$PYTHON" 00_train.py -d --config "$CONFIG" --retrain
echo "== 01_test.py"
"$PYTHON" 01_test.py -d --config "$CONFIG"
echo "== 02_convert.py"
"$PYTHON" 02_convert.py -d --config "$CONFIG"
echo "== 03_tflite_test.py"
"$PYTHON" 03_tflite_test.py -d --config "$CONFIG"
echo "== Done in $(( $(date +%s) - start )) s; results in demo/result, models in demo/model"
