"""get_dataset.sh's downloader against a local HTTP server on 127.0.0.1."""

import hashlib
import http.server
import threading
import zipfile
from functools import partial

import pytest

from anomaly_detection import download
from conftest import REPO


class RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Static files with ``Range: bytes=N-`` support; records the ranges asked for."""

    ranges: list = []

    def log_message(self, *args):
        pass

    def do_GET(self):
        requested = self.headers.get("Range")
        path = self.translate_path(self.path)
        if not requested:
            return super().do_GET()
        type(self).ranges.append(requested)
        start = int(requested.split("=")[1].rstrip("-"))
        with open(path, "rb") as handle:
            data = handle.read()
        self.send_response(206)
        self.send_header("Content-Length", str(len(data) - start))
        self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.end_headers()
        self.wfile.write(data[start:])


@pytest.fixture()
def server(tmp_path):
    root = tmp_path / "served"
    root.mkdir()
    RangeHandler.ranges = []
    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), partial(RangeHandler, directory=str(root))
    )
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


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
    assert names == set(download.PUBLISHED_MD5)
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
        download.shutil, "disk_usage", lambda path: type("Usage", (), {"free": 10})()
    )
    assert run(tmp_path, url, checksums) == 1
    assert "GB free" in capsys.readouterr().err
    assert not (tmp_path / "downloads" / "dev_data_ToyCar.zip").exists()
