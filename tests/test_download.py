"""get_dataset.sh's downloader against a local HTTP server on 127.0.0.1."""

import hashlib
import zipfile

from anomaly_detection.data import download, transfer
from conftest import REPO, RangeHandler


def make_zip(path, members):
    with zipfile.ZipFile(path, "w") as bundle:
        for name, data in members.items():
            bundle.writestr(name, data)
    return hashlib.md5(path.read_bytes()).hexdigest()


def serve_toycar(root, dev_members=None, extra=b""):
    dev_members = dev_members or {
        "ToyCar/train/normal_id_01_00000000.wav": b"RIFF" + b"a" * 5000,
        "ToyCar/test/anomaly_id_01_00000000.wav": b"RIFF" + b"b" * 50,
    }
    sums = {
        "dev_data_ToyCar.zip": make_zip(root / "dev_data_ToyCar.zip", dev_members),
        "eval_data_train_ToyCar.zip": make_zip(
            root / "eval_data_train_ToyCar.zip", {"ToyCar/train/normal_id_05_00000000.wav": b"c"}
        ),
    }
    (root / "dev_data_ToyCar.zip").write_bytes((root / "dev_data_ToyCar.zip").read_bytes() + extra)
    checksums = root.parent / "checksums.txt"
    checksums.write_text("".join(f"{md5}  {name}\n" for name, md5 in sums.items()))
    return checksums


def run(tmp_path, base_url, checksums, *extra):
    return download.main(
        [
            "--base-url",
            base_url,
            "--checksums",
            str(checksums),
            "--download-dir",
            str(tmp_path / "downloads"),
            "--output",
            str(tmp_path / "out"),
            *extra,
        ]
    )


def test_published_checksums_cover_every_archive():
    names = {archive.name for archive in download.archives_for(download.MACHINE_TYPES, True)}
    assert names | set(download.PRETRAINED) == set(download.PUBLISHED_MD5)
    assert download.PUBLISHED_MD5["dev_data_ToyCar.zip"] == "4dec75ca8d9f666aa9e4c1894a740501"
    assert "get_dataset.sh" in (REPO / "README.md").read_text()


def test_correct_archives_are_verified_and_unpacked(tmp_path, server, capsys):
    root, url = server
    checksums = serve_toycar(root)
    assert run(tmp_path, url, checksums) == 0
    train = tmp_path / "out" / "dev_data" / "ToyCar" / "train"
    assert sorted(path.name for path in train.iterdir()) == [
        "normal_id_01_00000000.wav",
        "normal_id_05_00000000.wav",
    ]
    assert not list((tmp_path / "downloads").iterdir())  # archives removed after unpacking


def test_corrupt_archive_is_refused(tmp_path, server, capsys):
    root, url = server
    checksums = serve_toycar(root, extra=b"tampered")
    assert run(tmp_path, url, checksums) == 1
    error = capsys.readouterr().err
    assert "dev_data_ToyCar.zip: MD5" in error and "does not match the published" in error
    assert not (tmp_path / "out").exists()


def test_member_escaping_the_folder_is_refused(tmp_path, server, capsys):
    root, url = server
    checksums = serve_toycar(root, {"ToyCar/train/ok.wav": b"x", "../../escaped.txt": b"owned"})
    assert run(tmp_path, url, checksums) == 1
    assert "member '../../escaped.txt' would be written outside" in capsys.readouterr().err
    assert not (tmp_path / "escaped.txt").exists() and not (tmp_path / "out" / "dev_data").exists()


def test_interrupted_download_resumes(tmp_path, server):
    root, url = server
    checksums = serve_toycar(root)
    whole = (root / "dev_data_ToyCar.zip").read_bytes()
    partial_file = tmp_path / "downloads" / "dev_data_ToyCar.zip.part"
    partial_file.parent.mkdir(parents=True)
    partial_file.write_bytes(whole[:1000])
    assert run(tmp_path, url, checksums, "--keep-archives") == 0
    assert RangeHandler.ranges == ["bytes=1000-"]
    assert (tmp_path / "downloads" / "dev_data_ToyCar.zip").read_bytes() == whole


def test_free_space_is_checked_first(tmp_path, server, monkeypatch, capsys):
    root, url = server
    checksums = serve_toycar(root)
    monkeypatch.setattr(
        transfer.shutil, "disk_usage", lambda path: type("Usage", (), {"free": 10})()
    )
    assert run(tmp_path, url, checksums) == 1
    assert "GB free" in capsys.readouterr().err
    assert not (tmp_path / "downloads" / "dev_data_ToyCar.zip").exists()


def serve_evaluation(root, checksums, list_text):
    """Add the evaluation archives and a label list to what serve_toycar serves."""
    md5 = make_zip(
        root / "eval_data_test_ToyCar.zip",
        {"ToyCar/test/id_05_00000000.wav": b"d", "ToyCar/test/id_05_00000001.wav": b"e"},
    )
    (root / "eval_data_list.csv").write_text(list_text)
    with open(checksums, "a") as handle:
        handle.write(f"{md5}  eval_data_test_ToyCar.zip\n")


LABELS = (
    "ToyCar\nid_05_00000000.wav,normal_id_05_00000000.wav,0\n"
    "id_05_00000001.wav,anomaly_id_05_00000000.wav,1\n"
)


def test_eval_also_fetches_the_label_list(tmp_path, server, capsys):
    root, url = server
    checksums = serve_toycar(root)
    serve_evaluation(root, checksums, LABELS)
    assert run(tmp_path, url, checksums, "--eval") == 0
    out = tmp_path / "out"
    assert (out / "eval_data_list.csv").read_text() == LABELS
    assert sorted(p.name for p in (out / "eval_data" / "ToyCar" / "test").iterdir()) == [
        "id_05_00000000.wav",
        "id_05_00000001.wav",
    ]
    assert "eval_data_list.csv: installed (2 labelled test files)" in capsys.readouterr().out


def test_a_damaged_label_list_is_refused(tmp_path, server, capsys):
    root, url = server
    checksums = serve_toycar(root)
    serve_evaluation(root, checksums, LABELS.replace(",1\n", ",x\n"))
    assert run(tmp_path, url, checksums, "--eval") == 1
    error = capsys.readouterr().err
    assert "eval_data_list.csv:3: label 'x' of id_05_00000001.wav is not 0 or 1" in error
    assert not (tmp_path / "out" / "eval_data_list.csv").exists()


def test_a_label_list_without_the_machine_type_or_with_a_given_md5_mismatch(
    tmp_path, server, capsys
):
    root, url = server
    checksums = serve_toycar(root)
    serve_evaluation(root, checksums, LABELS.replace("ToyCar", "fan"))
    assert run(tmp_path, url, checksums, "--eval") == 1
    assert "eval_data_list.csv: no labels for ToyCar" in capsys.readouterr().err
    (root / "eval_data_list.csv").write_text(LABELS)
    with open(checksums, "a") as handle:
        handle.write(f"{'0' * 32}  eval_data_list.csv\n")
    (tmp_path / "downloads" / "eval_data_list.csv").unlink()
    assert run(tmp_path, url, checksums, "--eval") == 1
    assert "eval_data_list.csv: MD5" in capsys.readouterr().err


class DroppingHandler(RangeHandler):
    """Sends the development archive's headers and half its bytes, once, then hangs up."""

    dropped: list = []

    def do_GET(self):
        if self.headers.get("Range") or "dev_data" not in self.path or type(self).dropped:
            return super().do_GET()
        type(self).dropped.append(self.path)
        with open(self.translate_path(self.path), "rb") as handle:
            data = handle.read()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data[: len(data) // 2])
        self.close_connection = True


def test_a_dropped_connection_keeps_the_part_and_the_next_run_resumes(tmp_path, capsys):
    import http.server
    import threading
    from functools import partial

    root = tmp_path / "served"
    root.mkdir()
    checksums = serve_toycar(root)
    DroppingHandler.dropped, DroppingHandler.ranges = [], []
    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), partial(DroppingHandler, directory=str(root))
    )
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        whole = (root / "dev_data_ToyCar.zip").read_bytes()
        assert run(tmp_path, url, checksums, "--keep-archives") == 1
        error = capsys.readouterr().err
        assert f"the connection ended at {len(whole) // 2:,} of {len(whole):,} bytes" in error
        assert not (tmp_path / "downloads" / "dev_data_ToyCar.zip").exists()
        part = tmp_path / "downloads" / "dev_data_ToyCar.zip.part"
        assert part.stat().st_size == len(whole) // 2
        assert run(tmp_path, url, checksums, "--keep-archives") == 0  # resumed, then checked
        assert DroppingHandler.ranges[0] == f"bytes={len(whole) // 2}-"
        assert (tmp_path / "downloads" / "dev_data_ToyCar.zip").read_bytes() == whole
    finally:
        httpd.shutdown()


def test_bad_paths_are_one_line(tmp_path, server, capsys):
    root, url = server
    checksums = serve_toycar(root)
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    for option, expected in (
        (["--checksums", str(tmp_path / "missing.txt")], "missing.txt: cannot read the checksums"),
        (["--download-dir", str(a_file)], f"{a_file}: --download-dir names a file, not a folder"),
        (["--output", str(a_file)], f"{a_file}: --output names a file, not a folder"),
    ):
        arguments = ["--base-url", url, "--checksums", str(checksums), *option]
        assert download.main(arguments) == 1
        assert expected in capsys.readouterr().err


def test_relative_paths_are_the_callers(tmp_path, server):
    import os
    import subprocess

    root, url = server
    checksums = serve_toycar(root)
    caller = tmp_path / "caller"
    caller.mkdir()
    os.rename(checksums, caller / "sums.txt")
    run = subprocess.run(
        [str(REPO / "get_dataset.sh"), "--base-url", url, "--checksums", "sums.txt",
         "--output", "mydata", "--download-dir", "dl"],
        cwd=caller, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert (caller / "mydata" / "dev_data" / "ToyCar" / "train").is_dir()
    assert (caller / "dl").is_dir() and not (REPO / "mydata").exists()


def test_a_later_year_fetches_its_archives_checked_against_given_md5s(tmp_path, server, capsys):
    root, url = server
    sums = {
        "dev_fan.zip": make_zip(
            root / "dev_fan.zip", {"fan/train/section_00_source_train_normal_0000_a.wav": b"d"}
        ),
        "eval_data_fan_train.zip": make_zip(
            root / "eval_data_fan_train.zip",
            {"fan/train/section_03_source_train_normal_0000_a.wav": b"e"},
        ),
        "eval_data_fan_test.zip": make_zip(
            root / "eval_data_fan_test.zip", {"fan/test/section_03_0000.wav": b"f"}
        ),
    }
    checksums = tmp_path / "sums.txt"
    checksums.write_text("".join(f"{md5}  {name}\n" for name, md5 in sums.items()))
    options = ["--year", "2022", "--machine-types", "fan", "--eval"]
    assert run(tmp_path, url, checksums, *options) == 0
    out = tmp_path / "out"
    assert (
        out / "dev_data/fan/train/section_00_source_train_normal_0000_a.wav"
    ).read_bytes() == b"d"
    assert (out / "eval_data/fan/test/section_03_0000.wav").read_bytes() == b"f"
    assert not (out / "eval_data_list.csv").exists()  # 2020's label list only

    checksums.write_text(f"{sums['dev_fan.zip']}  dev_fan.zip\n")
    capsys.readouterr()
    assert run(tmp_path, url, checksums, *options) == 1
    error = capsys.readouterr().err.strip()
    assert error.startswith("error: no MD5 known for eval_data_fan_train.zip, eval_data_fan_test")
    assert "\n" not in error
    assert run(tmp_path, url, checksums, "--year", "2022", "--machine-types", "pump") == 1
    assert "--year 2022 has no machine type pump" in capsys.readouterr().err
    assert run(tmp_path, url, checksums, "--year", "2019") == 1
    assert capsys.readouterr().err == (
        "error: --year 2019 is not a registered DCASE year "
        "(registered: 2020, 2021, 2022, 2023, 2024, 2025, 2026)\n"
    )


def test_every_registered_year_names_its_archives():
    from anomaly_detection.data.download import Archive, year_archives
    from anomaly_detection.registry.years import registered_years

    assert year_archives(2026, ["ToyCar"], evaluation=False) == [
        Archive("dev_ToyCar_r2.zip", "19336329", ("dev_data",))
    ]
    assert year_archives(2021, ["ToyTrain"], evaluation=True) == [
        Archive("dev_data_ToyTrain.zip", "4562016", ("dev_data",)),
        Archive("eval_data_ToyTrain_train.zip", "4660992", ("eval_data",)),
        Archive("eval_data_ToyTrain_test.zip", "4884786", ("eval_data",)),
    ]
    assert year_archives(2024, ["RoboticArm"], evaluation=True) == [
        Archive("eval_data_RoboticArm_train_r2.zip", "11259435", ("eval_data",)),
        Archive("eval_data_RoboticArm_test.zip", "11363076", ("eval_data",)),
    ]
    assert registered_years() == (2020, 2021, 2022, 2023, 2024, 2025, 2026)
