#!/usr/bin/env bash
# Fetch the DCASE Task 2 data (2020, MLPerf Tiny's, by default), or write the synthetic stand-in.
#
#   ./get_dataset.sh                         ToyCar development data + additional training
#                                            data into dev_data/ (the MLPerf Tiny recipe)
#   ./get_dataset.sh --machine-types ToyCar fan pump --eval
#                                            more machine types; --eval also fetches the
#                                            evaluation test set into eval_data/ and its
#                                            labels, eval_data_list.csv
#   ./get_dataset.sh --pretrained [--force]  the MLPerf Tiny reference's trained models:
#                                            model/model_ToyCar.hdf5, pretrained/*.tflite
#   ./get_dataset.sh --year 2022 --machine-types fan --checksums md5s.txt [--eval]
#                                            another DCASE year's archives (the registered
#                                            years, 2020-2026: anomaly_detection/registry/
#                                            years.py), checked against the MD5s of the Zenodo
#                                            record's page; --eval: the evaluation set's
#                                            training and test archives of its machine types
#   ./get_dataset.sh --year 2024 [--eval] [--machine-types ...] --dry-run
#                                            print the archives it would fetch (name, URL,
#                                            target folders, MD5 known or not); fetch nothing
#   ./get_dataset.sh --synthetic --year 2024 --machine-types ToyCar fan
#                                            a synthetic set in that year's layout
#   ./get_dataset.sh --base-url http://mirror/dcase2020   fetch from a mirror
#   ./get_dataset.sh --synthetic [generator options]      synthetic dev_data/ and eval_data/
#                                            (offline; see python -m anomaly_detection.data.synthetic -h)
#
# Downloads resume when interrupted, are checked against the published MD5 (the
# label list, which has none, for its structure) and unpacked only if no member
# escapes the target folder. --help lists every option.
set -euo pipefail
# Relative paths on the command line are the caller's; the defaults are the repository's.
export AD_CALLER_DIR="$(pwd)"
cd "$(dirname "$0")"
if [ "${1:-}" = "--synthetic" ]; then
    shift
    for argument in "$@"; do
        if [ "$argument" = "--dry-run" ]; then
            echo "error: --dry-run lists archives to download; --synthetic downloads nothing" >&2
            exit 2
        fi
    done
    ./prepare_training_env.sh
    exec "${VENV_DIR:-.venv}/bin/python" -m anomaly_detection.data.synthetic . --eval "$@"
fi
# The downloader needs only the Python standard library (no environment yet).
exec "${PYTHON:-python3}" -m anomaly_detection.data.download "$@"
