"""get_dataset.sh --pretrained against a loopback server: the reference's models, fetched,
checked and installed where 01_test.py and 03_tflite_test.py score them."""

import hashlib
import shutil

import pytest

from anomaly_detection.data import download
from conftest import RangeHandler, reference_dir, run_script, write_config

# Its module-scoped fixture trains or converts models: its tests stay on one pytest-xdist
# worker (./run_tests.sh runs -n auto --dist loadgroup), so that the fixture runs once.
pytestmark = pytest.mark.xdist_group("test_pretrained")

CLIPS = ("normal_id_01_00000000.wav", "normal_id_01_00000001.wav", "anomaly_id_01_00000000.wav")


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """The files the MLCommons Tiny repository serves: the real golden ad01.h5 and, standing
    in for its TFLite conversions, this project's conversions of it (with their MD5s as a
    --checksums file; ad01.h5 is checked against the published MD5)."""
    reference = reference_dir()
    work = tmp_path_factory.mktemp("pretrained_models")
    for folder in ("train", "test"):
        target = work / "data" / "dev_data" / "ToyCar" / folder
        target.mkdir(parents=True)
        for clip in CLIPS:
            shutil.copy(reference / clip, target / clip)
    (work / "model").mkdir()
    shutil.copy(reference / "ad01.h5", work / "model" / "model_ToyCar.hdf5")
    config = write_config(work, work / "data")
    convert = run_script("02_convert.py", "-d", "--config", str(config), cwd=work)
    assert convert.returncode == 0, convert.stderr[-2000:]
    files = {
        "ad01.h5": reference / "ad01.h5",
        "ad01_fp32.tflite": work / "model" / "model_ToyCar.tflite",
        "ad01_int8.tflite": work / "model" / "model_ToyCar_quant_fullint_micro_intio.tflite",
    }
    checksums = work / "checksums.txt"
    checksums.write_text(
        "".join(
            f"{hashlib.md5(files[name].read_bytes()).hexdigest()}  {name}\n"
            for name in ("ad01_fp32.tflite", "ad01_int8.tflite")
        )
    )
    return work, files, checksums


def fetch(tmp_path, url, checksums, *extra):
    return download.main(
        [
            "--pretrained",
            "--base-url",
            url,
            "--checksums",
            str(checksums),
            "--download-dir",
            str(tmp_path / "downloads"),
            "--output",
            str(tmp_path / "out"),
            *extra,
        ]
    )


def serve(root, files):
    for name, path in files.items():
        shutil.copy(path, root / name)


def test_the_published_md5_of_the_golden_model():
    reference = reference_dir()
    assert (
        hashlib.md5((reference / "ad01.h5").read_bytes()).hexdigest()
        == (download.PUBLISHED_MD5["ad01.h5"])
    )
    assert set(download.PRETRAINED) <= set(download.PUBLISHED_MD5)
    assert len(download.TINY_COMMIT) == 40 and download.TINY_COMMIT in download.TINY_MODELS_URL


def test_models_are_installed_and_scored_by_01_and_03(tmp_path, server, models, capsys):
    root, url = server
    work, files, checksums = models
    serve(root, files)
    assert fetch(tmp_path, url, checksums) == 0
    out = tmp_path / "out"
    installed = {
        "ad01.h5": out / "model" / "model_ToyCar.hdf5",
        "ad01_fp32.tflite": out / "pretrained" / "model_ToyCar.tflite",
        "ad01_int8.tflite": out / "pretrained" / "model_ToyCar_quant_fullint_micro_intio.tflite",
    }
    for name, path in installed.items():
        assert path.read_bytes() == files[name].read_bytes(), name
    assert not list((tmp_path / "downloads").iterdir())
    config = write_config(tmp_path, work / "data", model_directory=str(out / "model"))
    keras = run_script("01_test.py", "-d", "--config", str(config), cwd=tmp_path)
    assert keras.returncode == 0, keras.stderr[-2000:]
    tflite = run_script(
        "03_tflite_test.py",
        "-d",
        "--model-directory",
        str(out / "pretrained"),
        "--config",
        str(config),
        cwd=tmp_path,
    )
    assert tflite.returncode == 0, tflite.stderr[-2000:]
    assert (
        "ToyCar: scoring model_ToyCar.tflite, model_ToyCar_quant_fullint_micro_intio.tflite"
        in tflite.stderr
    )
    result = tmp_path / "result"
    for prefix in ("", "tflite_", "tflite_quant_fullint_micro_intio_"):
        rows = (result / f"{prefix}anomaly_score_ToyCar_id_01.csv").read_text().splitlines()
        assert [row.split(",")[0] for row in rows] == list(CLIPS)
    assert not (result / "tflite_quant_anomaly_score_ToyCar_id_01.csv").exists()
    summary = (result / "summary.md").read_text()
    assert "| ToyCar | tflite | model_ToyCar.tflite |" in summary


def test_a_corrupted_model_is_refused(tmp_path, server, models, capsys):
    root, url = server
    _, files, checksums = models
    serve(root, files)
    data = bytearray((root / "ad01_int8.tflite").read_bytes())
    data[100] ^= 0xFF
    (root / "ad01_int8.tflite").write_bytes(bytes(data))
    assert fetch(tmp_path, url, checksums) == 1
    error = capsys.readouterr().err
    assert "ad01_int8.tflite: MD5" in error and "does not match the published" in error
    assert not (
        tmp_path / "out" / "pretrained" / "model_ToyCar_quant_fullint_micro_intio.tflite"
    ).exists()


def test_an_interrupted_transfer_resumes(tmp_path, server, models):
    root, url = server
    _, files, checksums = models
    serve(root, files)
    whole = files["ad01.h5"].read_bytes()
    part = tmp_path / "downloads" / "ad01.h5.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(whole[:100_000])
    assert fetch(tmp_path, url, checksums) == 0
    assert RangeHandler.ranges == ["bytes=100000-"]
    assert (tmp_path / "out" / "model" / "model_ToyCar.hdf5").read_bytes() == whole


def test_an_existing_model_is_replaced_only_with_force(tmp_path, server, models, capsys):
    root, url = server
    _, files, checksums = models
    serve(root, files)
    own = tmp_path / "out" / "model" / "model_ToyCar.hdf5"
    own.parent.mkdir(parents=True)
    own.write_bytes(b"my own model")
    assert fetch(tmp_path, url, checksums) == 1
    assert "model_ToyCar.hdf5: exists and differs from ad01.h5; keeping it (pass --force" in (
        capsys.readouterr().err
    )
    assert own.read_bytes() == b"my own model"
    assert fetch(tmp_path, url, checksums, "--force") == 0
    assert own.read_bytes() == files["ad01.h5"].read_bytes()
    assert fetch(tmp_path, url, checksums) == 0  # the same bytes again: nothing to replace
    assert "ad01.h5: already installed" in capsys.readouterr().out
