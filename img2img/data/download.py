"""``img2img data download NAME``: the standard public data sets, in the layout the tasks read.

Each set is fetched from the address its reference code downloads it from (the pix2pix and
CycleGAN repositories' download scripts, the DIV2K site, EDSR's benchmark archive, the MNIST
mirror torchvision uses) and unpacked so that ``--data ROOT/NAME`` works as it is:

- pix2pix sets: ``NAME/train/``, ``NAME/val/`` (facades also ``test/``) of aligned A|B images;
- CycleGAN sets: ``NAME/trainA/``, ``trainB/``, ``testA/``, ``testB/``;
- DIV2K: ``div2k/train/`` (800 HR images) and ``div2k/val/`` (100);
- Set5, Set14: a flat folder of HR images (what ``img2img eval`` takes for SR);
- MNIST: the four IDX files.

What a download guarantees:

- **progress** on the terminal (bytes, rate, time left) while it runs;
- **resumable**: the transfer goes to ``ROOT/.downloads/FILE.part``; run the command again
  after an interruption and it asks the server for the rest (HTTP ``Range``), starting over
  only when the server does not support ranges;
- **checked**: against the published checksum where there is one (MNIST's md5). The other
  archives have none published; their sha256 and size are then recorded in
  ``NAME/download.json`` and printed, so that two machines can compare what they got;
- **all or nothing**: archives are unpacked into a hidden staging folder beside the target
  and moved into place in one rename once everything has been extracted; a corrupt archive,
  a wrong checksum or an archive member pointing outside its folder raises
  :class:`DownloadError` and leaves no partial folder behind (the bad archive is deleted, so
  the next run fetches it afresh).
"""

from __future__ import annotations

import hashlib
import http.client
import json
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from tqdm import tqdm

PIX2PIX_URL = "http://efrosgans.eecs.berkeley.edu/pix2pix/datasets/{}.tar.gz"
CYCLEGAN_URL = "http://efrosgans.eecs.berkeley.edu/cyclegan/datasets/{}.zip"
DIV2K_URL = "http://data.vision.ee.ethz.ch/cvl/DIV2K/{}.zip"
EDSR_BENCHMARK_URL = "https://cv.snu.ac.kr/research/EDSR/benchmark.tar"
MNIST_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/{}"
RECEIPT = "download.json"
CHUNK = 1 << 20


class DownloadError(RuntimeError):
    """A data set could not be downloaded or unpacked; nothing partial was left in place."""


@dataclass(frozen=True)
class Part:
    """One file to fetch. An archive's members under ``source`` (a folder inside it; "" for
    all) land in ``target`` (a folder inside the data set's; "" for the data set's own
    folder); a plain file is stored as ``target/<its name>``. ``checksum`` is
    ``"md5:HEX"`` or ``"sha256:HEX"`` where one is published, else None."""

    url: str
    source: str = ""
    target: str = ""
    checksum: str | None = None

    @property
    def file_name(self) -> str:
        return self.url.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class PublicDataset:
    name: str
    description: str
    parts: tuple[Part, ...]


def _pix2pix(name: str, description: str) -> PublicDataset:
    return PublicDataset(name, description, (Part(PIX2PIX_URL.format(name), source=name),))


def _cyclegan(name: str, description: str) -> PublicDataset:
    return PublicDataset(name, description, (Part(CYCLEGAN_URL.format(name), source=name),))


def _benchmark(name: str, description: str) -> PublicDataset:
    folder = {"set5": "Set5", "set14": "Set14"}[name]
    return PublicDataset(name, description, (Part(EDSR_BENCHMARK_URL, f"benchmark/{folder}/HR"),))


_MNIST_MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}

DATASETS: dict[str, PublicDataset] = {
    dataset.name: dataset
    for dataset in (
        _pix2pix("facades", "pix2pix: CMP facades, photo | labels (400 train, 100 val, 106 test)"),
        _pix2pix("cityscapes", "pix2pix: street photo | label map (2975 train, 500 val)"),
        _pix2pix("maps", "pix2pix: aerial photo | map (1096 train, 1098 val)"),
        _pix2pix("edges2shoes", "pix2pix: edges | shoe photo (50k train, 200 val)"),
        _pix2pix("edges2handbags", "pix2pix: edges | handbag photo (137k train, 200 val)"),
        _pix2pix("night2day", "pix2pix: night | day webcam photos (17.8k train)"),
        _cyclegan("horse2zebra", "CycleGAN: horses <-> zebras (ImageNet)"),
        _cyclegan("apple2orange", "CycleGAN: apples <-> oranges (ImageNet)"),
        _cyclegan("summer2winter_yosemite", "CycleGAN: Yosemite in summer <-> winter"),
        _cyclegan("monet2photo", "CycleGAN: Monet paintings <-> photos"),
        _cyclegan("cezanne2photo", "CycleGAN: Cezanne paintings <-> photos"),
        _cyclegan("ukiyoe2photo", "CycleGAN: ukiyo-e prints <-> photos"),
        _cyclegan("vangogh2photo", "CycleGAN: Van Gogh paintings <-> photos"),
        _cyclegan("iphone2dslr_flower", "CycleGAN: phone <-> DSLR flower photos"),
        PublicDataset(
            "div2k",
            "SR training: DIV2K HR images (800 train, 100 val; 3.5 GB)",
            (
                Part(DIV2K_URL.format("DIV2K_train_HR"), "DIV2K_train_HR", "train"),
                Part(DIV2K_URL.format("DIV2K_valid_HR"), "DIV2K_valid_HR", "val"),
            ),
        ),
        _benchmark("set5", "SR evaluation: Set5 HR images (from EDSR's benchmark archive)"),
        _benchmark("set14", "SR evaluation: Set14 HR images (from EDSR's benchmark archive)"),
        PublicDataset(
            "mnist",
            "GANs: MNIST digits, the four IDX files (60k train, 10k test)",
            tuple(Part(MNIST_URL.format(f), checksum=f"md5:{h}") for f, h in _MNIST_MD5.items()),
        ),
    )
}


def download_dataset(
    name: str,
    root: str | Path = "data",
    datasets: dict[str, PublicDataset] | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> Path:
    """Download and unpack the data set ``name`` into ``ROOT/NAME`` (see the module
    docstring) and return that folder. A folder a previous download completed is returned
    as it is; any other existing folder of that name is refused rather than overwritten."""
    datasets = DATASETS if datasets is None else datasets
    if name not in datasets:
        raise DownloadError(f"{name!r}: no such data set; available: {', '.join(datasets)}")
    dataset, root = datasets[name], Path(root)
    target = root / name
    if (target / RECEIPT).is_file():
        log(f"{target}: already downloaded")
        return target
    if target.exists():
        raise DownloadError(
            f"{target} exists but is not a finished download of {name}; move it away (or pass "
            "another --root) and run the command again"
        )
    root.mkdir(parents=True, exist_ok=True)
    downloads = root / ".downloads"
    try:
        archives = [_fetch(part, downloads, progress, log) for part in dataset.parts]
    except BaseException:
        _remove_if_empty(downloads)  # an unfinished .part stays, to be resumed
        raise
    staging = Path(tempfile.mkdtemp(prefix=f".{name}.partial-", dir=root))
    try:
        receipt = []
        for part, (archive, sha256) in zip(dataset.parts, archives, strict=True):
            _unpack(part, archive, staging / part.target)
            receipt.append(
                {
                    "url": part.url,
                    "bytes": archive.stat().st_size,
                    "sha256": sha256,
                    "published_checksum": part.checksum,
                }
            )
        (staging / RECEIPT).write_text(json.dumps({"dataset": name, "files": receipt}, indent=2))
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        _remove_if_empty(downloads)  # a damaged archive was deleted; good ones stay for reuse
        raise
    for archive, _ in archives:
        archive.unlink()
    _remove_if_empty(downloads)
    for part, (_, sha256) in zip(dataset.parts, archives, strict=True):
        if part.checksum is None:
            log(
                f"{part.file_name}: no checksum is published; recorded sha256 {sha256} in "
                f"{target / RECEIPT}"
            )
    log(f"{name} -> {target}")
    return target


def _remove_if_empty(folder: Path) -> None:
    if folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()


def _fetch(
    part: Part, folder: Path, progress: bool, log: Callable[[str], None]
) -> tuple[Path, str]:
    """The file of ``part`` in ``folder``, downloaded (or its download resumed) and checked;
    returns (path, its sha256). A file failing its checksum is deleted."""
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / part.file_name
    if not final.is_file():
        partial = final.with_name(final.name + ".part")
        _transfer(part.url, partial, progress, log)
        partial.rename(final)
    digests = _digests(final)
    if part.checksum:
        kind, expected = part.checksum.split(":", 1)
        if digests[kind] != expected:
            final.unlink()
            raise DownloadError(
                f"{part.url}: {kind} {digests[kind]} does not match the published {expected} "
                "(a damaged or changed file; it was deleted, run the command again to retry)"
            )
    return final, digests["sha256"]


def _transfer(url: str, partial: Path, progress: bool, log: Callable[[str], None]) -> None:
    """Download ``url`` to ``partial``, continuing from its current size with an HTTP Range
    request when it exists; a server answering 200 instead of 206 sends the whole file."""
    done = partial.stat().st_size if partial.is_file() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "img2img"})
    if done:
        request.add_header("Range", f"bytes={done}-")
    try:
        response = urllib.request.urlopen(request, timeout=60)
    except urllib.error.HTTPError as err:
        if err.code == 416 and done:  # the range starts at the end: the file is complete
            return
        raise DownloadError(f"{url}: the server answered {err.code} {err.reason}") from None
    except OSError as err:  # URLError, timeouts, refused connections
        raise DownloadError(f"{url}: cannot download ({err}); check the network") from None
    with response:
        resumed = done > 0 and response.status == 206
        if done and not resumed:
            log(f"{url}: the server does not resume downloads; starting over")
            done = 0
        length = response.headers.get("Content-Length")
        total = done + int(length) if length else None
        bar = tqdm(
            total=total,
            initial=done,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=partial.name.removesuffix(".part"),
            disable=not progress,
        )
        with bar, partial.open("ab" if resumed else "wb") as out:
            try:
                while chunk := response.read(CHUNK):
                    out.write(chunk)
                    bar.update(len(chunk))
            except (OSError, http.client.HTTPException) as err:
                raise DownloadError(
                    f"{url}: the download broke off at {out.tell()} bytes ({err}); run the "
                    "command again to resume it"
                ) from None
    if total is not None and partial.stat().st_size != total:
        raise DownloadError(
            f"{url}: got {partial.stat().st_size} of {total} bytes; run the command again to "
            "resume the download"
        )


def _digests(path: Path) -> dict[str, str]:
    sha256, md5 = hashlib.sha256(), hashlib.md5()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            sha256.update(chunk)
            md5.update(chunk)
    return {"sha256": sha256.hexdigest(), "md5": md5.hexdigest()}


def _unpack(part: Part, archive: Path, target: Path) -> None:
    """Extract the members of ``archive`` under ``part.source`` into ``target`` (a plain
    file is copied there). A corrupt archive is deleted and raises DownloadError."""
    target.mkdir(parents=True, exist_ok=True)
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as opened:
                members = [(m.filename, m.is_dir(), opened.open, m) for m in opened.infolist()]
                _extract(members, part, target, archive)
        elif part.file_name.endswith((".tar", ".tar.gz", ".tgz")):
            with tarfile.open(archive) as opened:
                members = [
                    (m.name, m.isdir(), opened.extractfile, m)
                    for m in opened.getmembers()
                    if m.isfile() or m.isdir()  # links and devices are never extracted
                ]
                _extract(members, part, target, archive)
        elif part.file_name.endswith(".zip"):
            raise zipfile.BadZipFile("not a zip file")
        else:
            shutil.copyfile(archive, target / part.file_name)
    except DownloadError:
        archive.unlink(missing_ok=True)
        raise
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError, zlib.error) as err:
        archive.unlink(missing_ok=True)
        reason = " ".join(str(err).split())  # tarfile's reasons span lines
        raise DownloadError(
            f"{archive.name} ({part.url}): a damaged archive ({reason}); it was deleted and "
            "nothing was unpacked; run the command again to download it afresh"
        ) from None


def _extract(members: list, part: Part, target: Path, archive: Path) -> None:
    prefix = PurePosixPath(part.source) if part.source else None
    found = False
    for name, is_dir, open_member, member in members:
        path = PurePosixPath(name)
        if path.is_absolute() or ".." in path.parts:
            raise DownloadError(f"{archive.name}: member {name!r} points outside the archive")
        if prefix is not None:
            if path == prefix or prefix not in path.parents:
                continue
            path = path.relative_to(prefix)
        found = True
        destination = target.joinpath(*path.parts)
        if is_dir:
            destination.mkdir(parents=True, exist_ok=True)
            continue
        destination.parent.mkdir(parents=True, exist_ok=True)
        with open_member(member) as source, destination.open("wb") as out:
            shutil.copyfileobj(source, out, CHUNK)
    if not found:
        raise DownloadError(f"{archive.name}: has no {part.source or 'files'}/ to unpack")
