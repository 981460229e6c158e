"""``img2img data download`` against a loopback HTTP server serving small archives the tests
make: the task layout, the recorded checksum, a resumed download (HTTP Range), and failures
(a corrupt archive, a wrong checksum, a broken-off transfer) that leave nothing partial."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from img2img.data import download
from img2img.data.download import DownloadError, Part, PublicDataset, download_dataset

FILES = {"train/0.png": b"a" * 3000, "train/1.png": b"b" * 3000, "test/0.png": b"c" * 3000}


class Server:
    """Serves ``files`` (URL path -> bytes) on 127.0.0.1, honouring ``Range: bytes=N-``.
    A path in ``break_once`` is cut off half-way the first time it is asked for (the full
    Content-Length is announced, as when a connection drops)."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.break_once: set[str] = set()
        self.ignore_ranges = False
        self.ranges: list[str | None] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                asked = self.headers.get("Range")
                server.ranges.append(asked)
                asked = None if server.ignore_ranges else asked
                start = int(asked.removeprefix("bytes=").rstrip("-")) if asked else 0
                self.send_response(206 if asked else 200)
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                if self.path in server.break_once:
                    server.break_once.discard(self.path)
                    self.wfile.write(body[start : len(body) // 2])
                    self.close_connection = True
                    return
                self.wfile.write(body[start:])

            def log_message(self, *args) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()


@pytest.fixture
def server():
    running = Server()
    yield running
    running.http.shutdown()
    running.http.server_close()


def tar_gz(top: str, files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(f"{top}/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def zip_bytes(top: str, files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("__MACOSX/._junk", b"resource fork")  # outside the folder taken
        for name, data in files.items():
            archive.writestr(f"{top}/{name}", data)
    return buffer.getvalue()


def one_part(server: Server, file: str, body: bytes, **part) -> dict[str, PublicDataset]:
    server.files[f"/{file}"] = body
    return {"toy": PublicDataset("toy", "a toy set", (Part(f"{server.url}/{file}", **part),))}


def leftovers(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


@pytest.mark.parametrize("kind", ["tar.gz", "zip"])
def test_an_archive_lands_in_the_task_layout_with_its_sha256_recorded(
    server: Server, tmp_path: Path, kind: str
) -> None:
    body = tar_gz("toy", FILES) if kind == "tar.gz" else zip_bytes("toy", FILES)
    datasets = one_part(server, f"toy.{kind}", body, source="toy")
    messages: list[str] = []
    folder = download_dataset("toy", tmp_path, datasets, progress=False, log=messages.append)
    assert folder == tmp_path / "toy"
    for name, data in FILES.items():
        assert (folder / name).read_bytes() == data
    receipt = json.loads((folder / "download.json").read_text())
    assert receipt["files"][0]["sha256"] == hashlib.sha256(body).hexdigest()
    assert receipt["files"][0]["bytes"] == len(body)
    assert any("no checksum is published" in m for m in messages)
    assert leftovers(tmp_path) == ["toy"]  # no archive, no staging folder
    assert download_dataset("toy", tmp_path, datasets, log=messages.append) == folder
    assert messages[-1].endswith("already downloaded") and len(server.ranges) == 1


def test_an_interrupted_download_resumes_with_a_range_request(
    server: Server, tmp_path: Path
) -> None:
    body = tar_gz("toy", FILES)
    datasets = one_part(server, "toy.tar.gz", body, source="toy")
    server.break_once.add("/toy.tar.gz")
    with pytest.raises(DownloadError, match="run the command again to resume"):
        download_dataset("toy", tmp_path, datasets, progress=False)
    partial = tmp_path / ".downloads" / "toy.tar.gz.part"
    assert partial.stat().st_size == len(body) // 2 and not (tmp_path / "toy").exists()
    download_dataset("toy", tmp_path, datasets, progress=False, log=lambda _: None)
    assert server.ranges == [None, f"bytes={len(body) // 2}-"]
    assert (tmp_path / "toy" / "test" / "0.png").read_bytes() == FILES["test/0.png"]


def test_a_server_without_ranges_sends_the_whole_file_again(server: Server, tmp_path: Path) -> None:
    body = zip_bytes("toy", FILES)
    datasets = one_part(server, "toy.zip", body, source="toy")
    server.break_once.add("/toy.zip")
    with pytest.raises(DownloadError, match="run the command again to resume"):
        download_dataset("toy", tmp_path, datasets, progress=False)
    server.ignore_ranges = True
    messages: list[str] = []
    download_dataset("toy", tmp_path, datasets, progress=False, log=messages.append)
    assert "does not resume downloads; starting over" in messages[0]
    assert (tmp_path / "toy" / "train" / "1.png").read_bytes() == FILES["train/1.png"]


@pytest.mark.parametrize("kind", ["tar.gz", "zip"])
def test_a_corrupt_archive_is_refused_and_nothing_is_left_behind(
    server: Server, tmp_path: Path, kind: str
) -> None:
    good = tar_gz("toy", FILES) if kind == "tar.gz" else zip_bytes("toy", FILES)
    corrupt = good[: len(good) // 2] + bytes(len(good) - len(good) // 2)  # damaged second half
    datasets = one_part(server, f"toy.{kind}", corrupt, source="toy")
    with pytest.raises(DownloadError, match=rf"toy\.{kind} .*damaged archive.*deleted"):
        download_dataset("toy", tmp_path, datasets, progress=False)
    assert leftovers(tmp_path) == []  # no archive, no staging folder, no target


def test_a_file_that_fails_its_published_checksum_is_refused(
    server: Server, tmp_path: Path
) -> None:
    datasets = one_part(server, "t10k.gz", b"not what was published", checksum="md5:" + "0" * 32)
    with pytest.raises(DownloadError, match="does not match the published 0000"):
        download_dataset("toy", tmp_path, datasets, progress=False)
    assert leftovers(tmp_path) == []
    right = "md5:" + hashlib.md5(b"not what was published").hexdigest()
    datasets = one_part(server, "t10k.gz", b"not what was published", checksum=right)
    folder = download_dataset("toy", tmp_path, datasets, progress=False, log=lambda _: None)
    assert (folder / "t10k.gz").read_bytes() == b"not what was published"  # plain files: as is


def test_a_member_outside_the_archive_folder_is_refused(server: Server, tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("../evil.txt", b"x")
    datasets = one_part(server, "evil.zip", buffer.getvalue())
    with pytest.raises(DownloadError, match="points outside the archive"):
        download_dataset("toy", tmp_path, datasets, progress=False)
    assert not (tmp_path.parent / "evil.txt").exists() and leftovers(tmp_path) == []


def test_the_command_downloads_refuses_an_existing_folder_and_names_the_sets(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    from img2img.cli import main

    monkeypatch.setattr(
        download, "DATASETS", one_part(server, "toy.zip", zip_bytes("toy", FILES), source="toy")
    )
    (tmp_path / "mine" / "toy").mkdir(parents=True)
    with pytest.raises(SystemExit, match=r"toy exists but is not a finished download"):
        main(["data", "download", "toy", "--root", str(tmp_path / "mine")])
    main(["data", "download", "toy", "--root", str(tmp_path / "data")])
    assert f"--data {tmp_path / 'data' / 'toy'}" in capsys.readouterr().out
    with pytest.raises(SystemExit, match=r"'nope': no such data set; available: toy"):
        main(["data", "download", "nope", "--root", str(tmp_path / "data")])
    main(["data", "download", "--list"])
    assert "a toy set" in capsys.readouterr().out
