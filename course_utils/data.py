"""Paired image data for the course: the facades archive, synthetic facades, and a dataset of A|B images.

Every paired data set of the Pix2Pix paper (facades, maps, edges2shoes, ...) stores one pair per file:
one RGB image twice as wide as it is high, image A on the left half and image B on the right half.
`PairedImageDataset` reads any folder in that layout.

Facades (CMP Facade Database, 606 building fronts) come from the pix2pix archive, cached in `data_dir()`:
`$COURSE_DATA`, else ~/.cache/pix2pix-course. Because the archive's server is known to go down, and
classrooms may be offline, there are three ways to supply it (a mirror URL, a local archive, or the
extracted folder placed in the cache), and a procedural generator of synthetic facades in the same
layout and label colours, which `facades_root()` falls back to. Fast mode always uses synthetic data.

Command line (errors: one line on stderr, exit status 2):

    python -m course_utils.data facades [--archive PATH] [--url URL]
    python -m course_utils.data synthetic --n N --size S --out DIR [--seed K]
    python -m course_utils.data pairs --kind edges|grey --src DIR --out DIR [--size S]
"""

from __future__ import annotations

import argparse
import errno
import gzip
import http.client
import json
import math
import os
import re
import shutil
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
import warnings
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import cv2
import numpy as np
import torch
from PIL import Image
from skimage.color import rgb2gray
from skimage.feature import canny
from torch.utils.data import Dataset
from torchvision import tv_tensors
from torchvision.datasets.utils import USER_AGENT
from torchvision.transforms import v2

from course_utils.environment import (
    FACADES_ARCHIVE_ENV,
    FACADES_URL_ENV,
    data_dir,
    facades_archive,
    facades_url,
    fast_mode,
    pick,
)
from course_utils.synthetic import SYNTHETIC_VERSION, render_synthetic_facade

# ----------------------------------------------------------------------------------------------------------
# The facades archive

FACADES_URL = "http://efrosgans.eecs.berkeley.edu/pix2pix/datasets/facades.tar.gz"
SPLITS = ("train", "val", "test")
# What the official archive holds: JPEG counts per split and the size (width, height) of every image.
FACADES_COUNTS = {"train": 400, "val": 100, "test": 106}
FACADES_IMAGE_SIZE = (512, 256)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
_MARKER = ".verified.json"  # written inside a folder once it has passed verification


class FacadesUnavailable(RuntimeError):
    """The facades data set could not be obtained (offline, server down, bad or unsafe archive)."""


def _unavailable(reason: str) -> FacadesUnavailable:
    # One message for every way of failing, so a learner always reads how to get the data anyway.
    return FacadesUnavailable(
        f"Facades data set unavailable: {reason}. To supply it: set {FACADES_URL_ENV} to the URL of a mirror of "
        "facades.tar.gz; or give a local copy of the archive (archive=PATH, --archive PATH, or "
        f"{FACADES_ARCHIVE_ENV}); "
        f"or place the extracted 'facades' folder (with train/, val/, test/) in {data_dir()}. "
        f"Without it, use synthetic facades: synthetic_facades(...), which facades_root() falls back to."
    )


def _natural_key(path: Path) -> list:
    # "2.jpg" before "10.jpg", as the archive numbers its files.
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", path.name)]


def _image_files(folder: Path, suffixes: Sequence[str] = IMAGE_SUFFIXES) -> list[Path]:
    return sorted((p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in suffixes), key=_natural_key)


def _verify_facades_folder(folder: Path, strict: bool) -> dict[str, int]:
    """Check the split folders and every JPEG's header (mode and size; no pixel decoding). Return the counts.

    strict: the official archive, so the counts and the 512x256 size must match exactly. Otherwise (a mirror,
    a local archive, a folder someone placed) any A|B layout is accepted, with a warning on other counts.
    """
    counts = {}
    for split in SPLITS:
        split_dir = folder / split
        if not split_dir.is_dir():
            raise _unavailable(f"{folder} has no '{split}' folder (expected facades/train, facades/val, facades/test)")
        files = _image_files(split_dir, (".jpg", ".jpeg"))
        if not files:
            raise _unavailable(f"{split_dir} holds no JPEG images")
        for path in files:
            try:
                with Image.open(path) as im:  # reads the header only
                    mode, (w, h) = im.mode, im.size
            except OSError as e:
                raise _unavailable(f"{path} is not a readable image ({e})") from e
            if mode != "RGB":
                raise _unavailable(f"{path} has mode {mode}, expected RGB")
            if strict and (w, h) != FACADES_IMAGE_SIZE:
                raise _unavailable(f"{path} is {w}x{h}, expected {FACADES_IMAGE_SIZE[0]}x{FACADES_IMAGE_SIZE[1]}")
            if w != 2 * h:
                raise _unavailable(f"{path} is {w}x{h}, expected an A|B pair with width = 2 x height")
        counts[split] = len(files)
    expected = FACADES_COUNTS
    if counts != expected:
        text = f"{folder} holds {counts}, the pix2pix facades archive holds {expected}"
        if strict:
            raise _unavailable(text)
        warnings.warn(text, stacklevel=3)
    return counts


def _download(url: str, dest: Path, timeout: float) -> None:
    """Stream `url` into `dest`; raise FacadesUnavailable if unreachable or if fewer bytes arrive than announced.

    torchvision.datasets.utils.download_url writes straight to its final path and accepts a connection that
    closes early, so we stream ourselves (with torchvision's user agent) into a temporary file and compare
    the byte count with Content-Length: a truncated download is an error, never a cached file.
    """
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response, open(dest, "wb") as f:
            announced = response.headers.get("Content-Length")
            shutil.copyfileobj(response, f, 1 << 20)
            received = f.tell()
    except (urllib.error.URLError, http.client.HTTPException, OSError) as e:
        raise _unavailable(f"could not download {url} ({e})") from e
    if announced is not None and received != int(announced):
        raise _unavailable(f"the download of {url} was cut short ({received} of {announced} bytes)")


def _safe_extract(archive: Path, dest: Path) -> None:
    """Extract a tar archive, refusing absolute paths, '..', links and anything not a file or a folder.

    Every member is checked before the first byte is written; tarfile's 'data' filter (Python >= 3.11.4,
    3.10.12) is applied too, as a second line of defence. A truncated or corrupt archive fails before
    anything is extracted: a gzip stream is read to its end first, where its CRC and length are checked
    (tarfile stops reading at the end-of-archive block and would miss a corrupt tail).
    """
    try:
        with open(archive, "rb") as f:
            gzipped = f.read(2) == b"\x1f\x8b"
        if gzipped:
            with gzip.open(archive, "rb") as f:
                while f.read(1 << 22):
                    pass
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()  # reads the whole archive
            for m in members:
                parts = PurePosixPath(m.name).parts
                if m.name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", m.name) or ".." in parts:
                    raise _unavailable(f"{archive} has an unsafe member path {m.name!r}")
                if not (m.isreg() or m.isdir()):
                    raise _unavailable(f"{archive} has a member that is not a regular file or folder: {m.name!r}")
            extra = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
            tar.extractall(dest, members=members, **extra)
    except (tarfile.TarError, EOFError, zlib.error, OSError) as e:
        raise _unavailable(f"{archive} is not a readable tar archive ({type(e).__name__}: {e})") from e


def _remove_stale_temporaries(folder: Path, prefix: str, age_s: float = 3600.0) -> None:
    # A process killed outright (no finally) leaves its hidden temporary folder behind; it is never read,
    # but it takes space. Remove those over an hour old: a younger one may belong to a running process.
    if folder.is_dir():
        for tmp in folder.glob(f"{prefix}*"):
            if tmp.is_dir() and time.time() - tmp.stat().st_mtime > age_s:
                shutil.rmtree(tmp, ignore_errors=True)


def fetch_facades(archive: str | os.PathLike | None = None, url: str | None = None, timeout: float = 30.0,
                  download: bool = True) -> Path:
    """Return the verified facades folder in the cache, obtaining it if needed.

    The cache is data_dir(): $COURSE_DATA, default ~/.cache/pix2pix-course; the folder is <cache>/facades.

    Sources, first found wins: the folder already in the cache (used without any network access); the local
    `archive` (or $COURSE_FACADES_ARCHIVE); facades.tar.gz kept in the cache by an earlier download; the
    download from `url` (or $COURSE_FACADES_URL, else the pix2pix server). Downloads and extraction happen in
    a temporary folder inside the cache, renamed into place only after verification, so a failure (offline,
    interrupted, corrupt or unsafe archive) leaves the cache as it was. With download=False the network is
    never used. Raises FacadesUnavailable.
    """
    cache = data_dir()
    final = cache / "facades"
    if final.is_dir():
        marker = final / _MARKER
        if marker.is_file():
            return final
        # A folder a person placed here: check it once, then remember that it passed.
        counts = _verify_facades_folder(final, strict=False)
        marker.write_text(json.dumps({"source": "placed in the cache", "counts": counts}))
        return final

    archive = archive or facades_archive()
    url = url or facades_url() or FACADES_URL
    kept_archive = cache / "facades.tar.gz"
    if archive is None and kept_archive.is_file():
        archive = kept_archive
    if archive is not None and not Path(archive).is_file():
        raise _unavailable(f"the archive {archive} does not exist")
    if archive is None and not download:
        raise _unavailable(f"they are not in the cache {cache} and downloading was turned off")
    strict = archive is None and url == FACADES_URL  # only the official archive has known counts and sizes

    cache.mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(cache, ".facades-tmp-")
    with tempfile.TemporaryDirectory(dir=cache, prefix=".facades-tmp-") as tmp:
        tmp = Path(tmp)
        if archive is None:
            print(f"Downloading the facades archive (about 30 MB) from {url}")
            source = tmp / "facades.tar.gz"
            _download(url, source, timeout)
        else:
            source = Path(archive)
        _safe_extract(source, tmp / "extracted")
        # The pix2pix archive holds a top folder 'facades'; a mirror may hold the split folders directly.
        folder = tmp / "extracted" / "facades"
        if not folder.is_dir():
            folder = tmp / "extracted"
        counts = _verify_facades_folder(folder, strict=strict)
        (folder / _MARKER).write_text(json.dumps({"source": str(archive or url), "counts": counts}))
        try:
            os.rename(folder, final)  # atomic: the folder appears complete, or not at all
        except OSError:
            if not (final / _MARKER).is_file():  # not another process that got there first
                raise
        if archive is None:
            os.replace(source, kept_archive)  # keep the archive: instructors can copy it to offline machines
    return final


# ----------------------------------------------------------------------------------------------------------
# The dataset of A|B pairs


class PairedImageDataset(Dataset):
    """A folder of A|B images (A left half, B right half) as (input, target) tensors in [-1, 1], (3, size, size).

    root: the data set folder, holding one folder per split (or the images themselves when split is None).
    direction: 'BtoA' (facades: label map -> photo) or 'AtoB' (input is the left half).
    jitter: the paper's random jitter (resize to size*286/256, one random size x size crop and one random
    horizontal mirror, the same for input and target); default on for 'train' only. Without it: a resize.
    Every image must be RGB with width = 2 x height; anything else raises ValueError naming the file.
    The first resize is the same every epoch, so its result (uint8) is kept in memory after a file's first use,
    as long as the whole split fits in CACHE_BYTES; only the random crop and mirror are redrawn.
    """

    CACHE_BYTES = 1 << 30  # the 400 training facades take 13 MB at 64 px, 49 MB at 128 px, 196 MB at 256 px

    def __init__(
        self,
        root: str | os.PathLike,
        split: str | None = "train",
        direction: str = "BtoA",
        size: int = 256,
        jitter: bool | None = None,
    ) -> None:
        if split is not None and split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS} or None, got {split!r}")
        if direction not in ("AtoB", "BtoA"):
            raise ValueError(f"direction must be 'AtoB' or 'BtoA', got {direction!r}")
        if not (isinstance(size, int) and 64 <= size <= 512):
            raise ValueError(f"size must be an int from 64 to 512, got {size!r}")
        self.folder = Path(root) / split if split is not None else Path(root)
        if not self.folder.is_dir():
            raise FileNotFoundError(f"{self.folder}: folder not found (expected {Path(root)}/<split> holding A|B "
                                    "images)")
        self.files = _image_files(self.folder)
        if not self.files:
            raise FileNotFoundError(f"{self.folder}: no images found (expected .jpg or .png files of A|B pairs)")
        for path in self.files:  # headers only: a wrong file is reported now, not in the middle of training
            try:
                with Image.open(path) as im:
                    self._check(path, im)
            except OSError as e:
                raise ValueError(f"{path}: not a readable image ({e}); expected an RGB JPEG or PNG of an A|B "
                                 "pair") from e
        self.direction, self.size = direction, size
        self.jitter = (split == "train") if jitter is None else jitter
        load = round(size * 286 / 256) if self.jitter else size
        # One transform called on both halves at once: v2 draws the crop and the flip once per call and applies
        # them to every image passed, so input and target cannot drift apart. The resize draws nothing, so
        # it runs once per file (see _resized) and the rest on every call.
        self.resize = v2.Resize((load, load), antialias=True)
        random_geometry = [v2.RandomCrop(size), v2.RandomHorizontalFlip()] if self.jitter else []
        self.transform = v2.Compose(
            random_geometry + [v2.ToDtype(torch.float32, scale=True), v2.Normalize(mean=[0.5] * 3, std=[0.5] * 3)]
        )
        self._cache: dict[int, tuple[torch.Tensor, torch.Tensor]] | None = (
            {} if len(self.files) * 2 * 3 * load * load <= self.CACHE_BYTES else None)

    @staticmethod
    def _check(path: Path, im: Image.Image) -> None:
        expected = "expected an RGB image with A and B side by side (width = 2 x height)"
        if im.mode != "RGB":
            raise ValueError(f"{path}: found mode {im.mode}, {expected}; convert it first, e.g. with PIL's "
                             ".convert('RGB')")
        w, h = im.size
        if w != 2 * h:
            raise ValueError(f"{path}: found {w}x{h} (width x height), {expected}")

    def __len__(self) -> int:
        return len(self.files)

    def _resized(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        # The two halves of file `index`, decoded and resized (uint8 Images), from the cache when there.
        if self._cache is not None and index in self._cache:
            return self._cache[index]
        path = self.files[index]
        try:
            with Image.open(path) as im:
                self._check(path, im)
                im.load()  # full decode: a truncated or corrupt file fails here
                pixels = v2.functional.pil_to_tensor(im)
        except OSError as e:
            raise ValueError(f"{path}: cannot decode the image ({e}); expected a valid RGB JPEG or PNG") from e
        half = pixels.shape[-1] // 2
        pair = self.resize(tv_tensors.Image(pixels[..., :half]), tv_tensors.Image(pixels[..., half:]))
        if self._cache is not None:
            self._cache[index] = pair
        return pair

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        a, b = self.transform(*self._resized(index))
        a, b = a.as_subclass(torch.Tensor), b.as_subclass(torch.Tensor)
        return (b, a) if self.direction == "BtoA" else (a, b)


# ----------------------------------------------------------------------------------------------------------
# Synthetic facades in the archive's layout (the drawing itself is course_utils.synthetic)


def _split_counts(n: int, splits: Mapping[str, float]) -> dict[str, int]:
    # Largest remainder: n images shared in proportion to the weights, summing to exactly n.
    total = sum(splits.values())
    exact = {k: n * w / total for k, w in splits.items()}
    counts = {k: math.floor(v) for k, v in exact.items()}
    for k in sorted(exact, key=lambda k: exact[k] - counts[k], reverse=True)[: n - sum(counts.values())]:
        counts[k] += 1
    return counts


def _atomic_dir(out_dir: Path) -> Path:
    # A temporary sibling folder, renamed onto out_dir when complete (see _publish).
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise FileExistsError(f"{out_dir} already exists and is not an empty folder")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}-tmp-"))


def _publish(tmp: Path, out_dir: Path) -> None:
    try:
        if out_dir.is_dir():
            out_dir.rmdir()  # empty, checked by _atomic_dir
        os.rename(tmp, out_dir)
    except OSError as e:  # another process wrote the same folder meanwhile and published it first
        if e.errno in (errno.ENOTEMPTY, errno.EEXIST):
            raise FileExistsError(f"{out_dir} was completed by another process meanwhile") from e
        raise


def write_synthetic_facades(
    out_dir: str | os.PathLike,
    n: int,
    size: int = 256,
    seed: int = 0,
    splits: Mapping[str, float] = FACADES_COUNTS,
) -> dict[str, int]:
    """Write n synthetic pairs in the archive's layout: out_dir/<split>/1.jpg, 2.jpg, ... Return the counts.

    Each file is photo (A, left) | label map (B, right), size x 2*size, JPEG quality 95, so
    PairedImageDataset reads it like the archive (direction 'BtoA': labels -> photo). `splits` are weights
    (default: the archive's 400/100/106). The folder appears only when complete (written to a temporary
    sibling, then renamed).
    """
    out_dir = Path(out_dir)
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    counts = _split_counts(n, splits)
    tmp = _atomic_dir(out_dir)
    try:
        index = 0  # runs on across splits, so no two files hold the same building
        for split, count in counts.items():
            (tmp / split).mkdir()
            for i in range(count):
                label, photo = render_synthetic_facade(seed, index, size)
                # 4:4:4 chroma keeps the label colours' edges crisp.
                Image.fromarray(np.concatenate([photo, label], axis=1)).save(
                    tmp / split / f"{i + 1}.jpg", quality=95, subsampling=0
                )
                index += 1
        _publish(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return counts


def synthetic_facades(n: int | None = None, size: int | None = None, seed: int = 0) -> Path:
    """The folder of a synthetic facades set in the cache, generated on first use (atomically), then reused.

    Defaults: 606 pairs at 256 px (split like the archive, 400/100/106); in fast mode 24 pairs (16/4/4) at 64 px.
    """
    n = pick(606, 24) if n is None else n
    size = pick(256, 64) if size is None else size
    name = f"synthetic_facades_v{SYNTHETIC_VERSION}_{size}_{n}" + (f"_seed{seed}" if seed else "")
    folder = data_dir() / name
    if not folder.is_dir():
        _remove_stale_temporaries(data_dir(), f".{name}-tmp-")
        try:
            write_synthetic_facades(folder, n, size=size, seed=seed)
        except FileExistsError:  # another process finished first; its folder is complete
            pass
    return folder


@dataclass(frozen=True)
class FacadesData:
    """Which facades a notebook trains on: `root` (holds train/val/test), `synthetic`, and a one-line `note`."""

    root: Path
    synthetic: bool
    note: str


def facades_root(
    synthetic: bool | None = None,
    archive: str | os.PathLike | None = None,
    url: str | None = None,
    size: int | None = None,
    n: int | None = None,
    download: bool = True,
) -> FacadesData:
    """The facades to train on: the real archive when it can be had, else (and always in fast mode) synthetic.

    synthetic: None = real if available, else synthetic; True = synthetic; False = real or FacadesUnavailable.
    archive, url, download: passed to fetch_facades (download=False: the cache or a local archive only).
    size, n: of the synthetic set (see synthetic_facades).
    """
    if fast_mode() or synthetic:
        why = "fast mode" if fast_mode() and not synthetic else "as asked"
        root = synthetic_facades(n, size)
        return FacadesData(root, True, f"Synthetic facades ({why}): {root}")
    try:
        root = fetch_facades(archive, url, download=download)
    except FacadesUnavailable as e:
        if synthetic is False:
            raise
        root = synthetic_facades(n, size)
        return FacadesData(root, True, f"Synthetic facades, because the real ones are unavailable ({e}): {root}")
    return FacadesData(root, False, f"CMP facades from the pix2pix archive: {root}")


# ----------------------------------------------------------------------------------------------------------
# Paired data from plain photos (instructor tool; notebook 01 has learners write their own with cv2.Canny)


def _check_photo(photo: np.ndarray) -> None:
    if not (isinstance(photo, np.ndarray) and photo.dtype == np.uint8 and photo.ndim == 3 and photo.shape[2] == 3):
        got = f"{photo.dtype} array of shape {photo.shape}" if isinstance(photo, np.ndarray) else type(photo).__name__
        raise ValueError(f"expected a uint8 RGB array of shape (H, W, 3), got {got}")


def _edges_pair(photo: np.ndarray, sigma: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    """(edges, photo): edges drawn black on white, as in edges2shoes, as a uint8 (H, W, 3) image.

    scikit-image's Canny with Gaussian smoothing (sigma) keeps outlines and drops fine texture, closer to the
    HED edges of the paper's edges2shoes than plain Canny; notebook 01 has learners build their own with OpenCV.
    """
    _check_photo(photo)
    edges = canny(rgb2gray(photo), sigma=sigma)
    return np.where(edges[..., None], 0, 255).repeat(3, axis=2).astype(np.uint8), photo


def _grey_pair(photo: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(grey, photo): the photo's luminance repeated on 3 channels, for grey -> colour."""
    _check_photo(photo)
    grey = cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY)
    return np.repeat(grey[..., None], 3, axis=2), photo


def _photos_to_pairs(src: Path, out_dir: Path, kind: str, size: int = 256) -> int:
    """Turn every photo in src into an A|B pair (A = edges or grey, B = photo; use direction 'AtoB').

    Photos are centre-cropped to a square and resized to size x size, so the pairs are 2*size x size.
    """
    make = {"edges": _edges_pair, "grey": _grey_pair}[kind]
    photos = _image_files(src) if src.is_dir() else []
    if not photos:
        raise FileNotFoundError(f"{src}: no photos found (expected .jpg or .png files)")
    tmp = _atomic_dir(out_dir)
    try:
        for path in photos:
            with Image.open(path) as im:
                im = im.convert("RGB")  # an instructor's photo collection: any mode is fine here
            w, h = im.size
            side = min(w, h)
            im = im.crop(((w - side) // 2, (h - side) // 2, (w - side) // 2 + side, (h - side) // 2 + side))
            photo = np.asarray(im.resize((size, size), Image.Resampling.BICUBIC))
            a, b = make(photo)
            Image.fromarray(np.concatenate([a, b], axis=1)).save(tmp / f"{path.stem}.jpg", quality=95)
        _publish(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return len(photos)


# ----------------------------------------------------------------------------------------------------------
# Command line


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, not argparse's usage block
        self.exit(2, f"{self.prog}: error: {message}\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _Parser(prog="python -m course_utils.data", description="Paired data for the Pix2Pix course.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("facades", help="download or verify the facades archive; print its folder")
    p.add_argument("--archive", help="a local copy of facades.tar.gz")
    p.add_argument("--url", help="a mirror of facades.tar.gz")
    p = sub.add_parser("synthetic", help="write a synthetic facades set")
    p.add_argument("--n", type=int, required=True, help="number of pairs, shared 400:100:106 by train/val/test")
    p.add_argument("--size", type=int, default=256, help="side of each half in pixels (64..512)")
    p.add_argument("--out", required=True, help="output folder (new or empty)")
    p.add_argument("--seed", type=int, default=0)
    p = sub.add_parser("pairs", help="turn a folder of photos into A|B pairs (A = edges or grey)")
    p.add_argument("--kind", choices=["edges", "grey"], required=True)
    p.add_argument("--src", required=True, help="folder of photos")
    p.add_argument("--out", required=True, help="output folder (new or empty)")
    p.add_argument("--size", type=int, default=256)
    args = parser.parse_args(argv)
    try:
        if args.command == "facades":
            print(fetch_facades(args.archive, args.url))
        elif args.command == "synthetic":
            counts = write_synthetic_facades(args.out, args.n, size=args.size, seed=args.seed)
            print(f"{args.out}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
        else:
            n = _photos_to_pairs(Path(args.src), Path(args.out), args.kind, args.size)
            print(f"{args.out}: {n} {args.kind} pairs (A = {args.kind}, B = photo: use direction 'AtoB')")
    except (FacadesUnavailable, ValueError, OSError) as e:
        parser.error(" ".join(str(e).split()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
