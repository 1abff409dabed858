#!/usr/bin/env python3
"""MLCommons' runner, unmodified, against the host DUT: windows per second of the official
accuracy run.

    .venv/bin/python benchmarks/official_runner_benchmark.py --model M --samples DIR
    .venv/bin/python benchmarks/official_runner_benchmark.py --model M --build-set \\
        [--normal 18 --anomaly 14] [--reference-dir ../shared/reference]

Times the rehearsal command, ``eembc_accuracy.py --samples DIR --model M --output ...
--official-runner`` (the host emulation, then the runner's accuracy test against the
host DUT, its session compared file by file), on any exported set (``y_labels.csv`` and
the sample files). The full official ad01 set (248 files, 48,608 windows) needs
ToyCar's real development clips; where they are absent, ``--build-set`` exports a set in
the ad01 layout from synthetic ToyCar clips of IDs 01-04 (``--normal`` and
``--anomaly`` per ID, 11 s each) and the real clips of ``--reference-dir``, and the time
for 48,608 windows is extrapolated from the measured rate (the start-up once, then the
runner's steady rate, read from its log). The machine's load average before and after
is recorded: the runner and the DUT answer each other in turn, so other work on the
cores slows the rate. Writes
``benchmarks/output/official_runner_benchmark.json``: date, CPU model, cores, commit,
library versions, the command, the figures; and the measurement record ``official-runner``
(``--record-dir``, :mod:`measurements`).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import re
import subprocess
import sys
import time
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import measurements  # noqa: E402
from anomaly_detection.core.config import FeatureConfig  # noqa: E402
from anomaly_detection.data.synthetic import SyntheticSpec, write_dataset  # noqa: E402
from anomaly_detection.device.benchmark_samples import read_labels, write_samples  # noqa: E402
from anomaly_detection.device.runner_sessions import read_results_text  # noqa: E402
from anomaly_detection.features.extraction import extract_log_mels  # noqa: E402

FULL_SET_WINDOWS = 48_608
REAL_CLIPS = (
    "normal_id_01_00000000.wav",
    "normal_id_01_00000001.wav",
    "anomaly_id_01_00000000.wav",
)
LIBRARIES = ("numpy", "tflite-micro", "pyserial", "pyusb", "scikit-learn", "PyYAML", "matplotlib")
_LOADING = re.compile(r"^(\d{4}\.\d{6}) ulp-mlperf: Loading file ")


def build_set(folder: Path, normal: int, anomaly: int, reference: Path | None) -> Path:
    """``folder/ad01/``: samples of synthetic ToyCar test clips (IDs 01-04) and of the real
    clips in ``reference`` (named ``real_<clip>``), every normal sample first."""
    spec = SyntheticSpec(
        machine_types=("ToyCar",),
        dev_ids=(1, 2, 3, 4),
        train_clips=0,
        test_normal_clips=normal,
        test_anomaly_clips=anomaly,
        seed=5,
    )
    write_dataset(folder / "data", spec, dev=True, workers=os.cpu_count() or 1)
    test_dir = folder / "data" / "dev_data" / "ToyCar" / "test"
    real = folder / "real"
    real.mkdir(parents=True, exist_ok=True)
    for clip in REAL_CLIPS:
        link = real / f"real_{clip}"
        if reference is not None and not link.is_symlink():
            link.symlink_to(reference / clip)
    clips = sorted(test_dir.glob("*.wav")) + sorted(real.glob("*.wav"))
    clips.sort(key=lambda path: "anomaly" in path.name)  # normal samples first, as in ad01
    labels = [int("anomaly" in path.name) for path in clips]
    feature = FeatureConfig()
    features = extract_log_mels(clips, feature, workers=os.cpu_count() or 1, progress=False)
    (folder / "ad01").mkdir(exist_ok=True)
    write_samples(features, labels, folder / "ad01", feature)
    return folder / "ad01"


def steady_rate(log: Path, windows: int) -> tuple[float, float]:
    """Windows per second between the runner's first and last ``Loading file`` line, and
    those seconds (the log's times have 1 s resolution: for a run of minutes)."""
    stamps = [m.group(1) for line in log.read_text().splitlines() if (m := _LOADING.match(line))]
    first, last = (datetime.strptime(stamp, "%m%d.%H%M%S") for stamp in (stamps[0], stamps[-1]))
    seconds = (last - first).total_seconds()
    return (windows - 1) / seconds, seconds


def machine() -> dict:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    commit = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "-C", str(REPO), "status", "--porcelain"], capture_output=True, text=True
    ).stdout.strip()
    versions = {name: metadata.version(name) for name in LIBRARIES}
    return {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "cpu_model": cpu,
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "commit": commit + ("-dirty" if dirty else ""),
        "libraries": versions,
    }


def read_rows(path: Path) -> list[dict]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def record_runner(report: dict, *, record_dir: Path) -> None:
    """The record ``official-runner``: the runner's rate and the full set's extrapolated
    time, its AUC and top-1 beside the host emulation's."""
    before, after = (
        ", ".join(f"{load:.2f}" for load in report["load_average_1_5_15_min"][when])
        for when in ("before", "after")
    )
    full = report["extrapolated_full_set_seconds"]
    measurements.write_record(
        "official-runner",
        title="MLCommons' runner against the host DUT",
        figures=[
            (
                "files (normal + anomalous)",
                f"{report['files']} ({report['labels']['normal']} + {report['labels']['anomaly']})",
            ),
            ("windows", f"{report['windows']:,}"),
            ("rehearsal command", f"{report['command_seconds']:.1f} s"),
            ("runner's steady rate", f"{report['windows_per_second']:.1f} windows/s"),
            ("per window", f"{report['ms_per_window']:.2f} ms"),
            ("fixed (start-up)", f"{report['fixed_seconds']:.1f} s"),
            (
                f"full ad01 set ({report['full_set_windows']:,} windows), "
                + (
                    "measured"
                    if report["windows"] == report["full_set_windows"]
                    else "extrapolated"
                ),
                f"{full:,} s ({full / 60:.1f} min)",
            ),
            (
                "max file score difference, runner vs host",
                f"{report['max_file_score_difference']:.2e}",
            ),
            ("load average 1/5/15 min", f"before {before}; after {after}"),
        ],
        tables=[
            {
                "title": "The runner's figures beside the host emulation's",
                "columns": ["figure", "official runner (results.txt)", "host (TFLM)"],
                "rows": [
                    ["AUC", f"{report['runner_results_txt_auc']:.4f}", f"{report['host_auc']:.4f}"],
                    [
                        "top-1 accuracy",
                        f"{report['runner_results_txt_top1']:.1f} %",
                        f"{report['host_top1']:.1f} %",
                    ],
                ],
            }
        ],
        notes=[
            f"eembc_accuracy.py --official-runner on {report['samples']} with {report['model']}; "
            "the runner and the DUT answer each other in turn, so other load slows the rate."
        ],
        raw=report,
        record_dir=record_dir,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, required=True, help="an int8 _intio .tflite model")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--samples", type=Path, help="an exported set (y_labels.csv, samples)")
    source.add_argument("--build-set", action="store_true", help="synthetic + real clips")
    parser.add_argument("--normal", type=int, default=18, help="normal clips per ID")
    parser.add_argument("--anomaly", type=int, default=14, help="anomalous clips per ID")
    parser.add_argument("--reference-dir", type=Path, default=REPO.parent / "shared" / "reference")
    parser.add_argument("--runner-dir", type=Path)
    parser.add_argument("--output", type=Path, default=REPO / "benchmarks" / "output")
    parser.add_argument(
        "--record-dir",
        type=Path,
        default=measurements.RECORD_DIR,
        help="folder of the measurement record official-runner.json (default %(default)s)",
    )
    args = parser.parse_args()

    work = args.output / "official_runner"
    samples = args.samples
    if args.build_set:
        reference = args.reference_dir if (args.reference_dir / REAL_CLIPS[0]).is_file() else None
        samples = build_set(work / "set", args.normal, args.anomaly, reference)
    listed = read_labels(samples / "y_labels.csv")
    windows = 0
    for sample in listed:
        size = (samples / sample.name).stat().st_size
        windows += (size - sample.window_bytes) // sample.stride_bytes + 1
    command = [sys.executable, str(REPO / "eembc_accuracy.py"), "--samples", str(samples)]
    command += ["--model", str(args.model), "--output", str(work / "result")]
    command.append("--official-runner")
    if args.runner_dir is not None:
        command += ["--runner-dir", str(args.runner_dir)]
    print(f"{len(listed)} files, {windows:,} windows: {' '.join(command)}", flush=True)
    facts = machine()  # the commit and versions the run starts with
    load_before = os.getloadavg()
    started = time.monotonic()
    run = subprocess.run(command, env={**os.environ, "PYTHONPATH": str(REPO)})
    seconds = time.monotonic() - started
    load_after = os.getloadavg()
    if run.returncode != 0:
        raise SystemExit(f"the rehearsal failed (exit status {run.returncode})")

    sessions = sorted((work / "result" / "official_runner" / "sessions").iterdir())
    rate, runner_seconds = steady_rate(sessions[-1] / "log.txt", windows)
    rows = {row["source"]: row for row in read_rows(work / "result" / "eembc_accuracy.csv")}
    printed = read_results_text(sessions[-1] / "results.txt")
    compared = read_rows(work / "result" / "device_vs_host.csv")
    differences = [abs(float(r["official runner"]) - float(r["host"])) for r in compared]
    overhead = seconds - windows / rate
    report = {
        **facts,
        "load_average_1_5_15_min": {"before": load_before, "after": load_after},
        "command": " ".join(command),
        "model": str(args.model),
        "samples": str(samples),
        "files": len(listed),
        "labels": {
            "normal": sum(s.label == 0 for s in listed),
            "anomaly": sum(s.label for s in listed),
        },
        "windows": windows,
        "command_seconds": round(seconds, 1),
        "runner_window_seconds": runner_seconds,
        "windows_per_second": round(rate, 1),
        "ms_per_window": round(1e3 / rate, 2),
        "fixed_seconds": round(overhead, 1),
        "extrapolated_full_set_seconds": round(overhead + FULL_SET_WINDOWS / rate),
        "full_set_windows": FULL_SET_WINDOWS,
        "host_auc": float(rows["host (TFLM)"]["runner_auc"]),
        "host_top1": float(rows["host (TFLM)"]["top1"]),
        "runner_results_txt_auc": printed.auc,
        "runner_results_txt_top1": printed.top1,
        "max_file_score_difference": max(differences),
        "session": str(sessions[-1]),
    }
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "official_runner_benchmark.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    record_runner(report, record_dir=args.record_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
