"""Tests of course_utils.data: offline (a local HTTP server on 127.0.0.1), small images, a few seconds."""

from __future__ import annotations

import http.server
import io
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from torchvision import tv_tensors
from torchvision.transforms import v2

from course_utils import data
from course_utils.data import (
    FacadesUnavailable,
    PairedImageDataset,
    facades_root,
    fetch_facades,
    write_synthetic_facades,
)
from course_utils.synthetic import render_synthetic_facade

ROOT = Path(__file__).resolve().parents[1]
SMALL_COUNTS = {"train": 3, "val": 2, "test": 2}


# ----------------------------------------------------------------------------------------------------------
# Helpers: tiny archives and a local server


def jpeg_bytes(width: int = 16, height: int = 8, mode: str = "RGB", seed: int = 0) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, len(mode)), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels.squeeze(), mode).save(buf, format="JPEG" if mode in ("RGB", "L") else "PNG")
    return buf.getvalue()


def add_file(tar: tarfile.TarFile, name: str, payload: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(payload)
    tar.addfile(info, io.BytesIO(payload))


def archive_bytes(counts=SMALL_COUNTS, size=(16, 8), top="facades", extra=()) -> bytes:
    """A tar.gz in the pix2pix layout: top/<split>/<i>.jpg, plus `extra` TarInfo members (name, kind, link)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for split, n in counts.items():
            for i in range(n):
                add_file(tar, f"{top}/{split}/{i + 1}.jpg", jpeg_bytes(*size, seed=i))
        for name, kind, link in extra:
            if kind == "file":
                add_file(tar, name, b"evil")
            else:
                info = tarfile.TarInfo(name)
                info.type, info.linkname = kind, link
                tar.addfile(info)
    return buf.getvalue()


class Server:
    """A local HTTP server in a thread. routes: path -> (body, how); how is 'ok', 'half' (announces the full
    Content-Length, sends half, closes) or 'half-unannounced' (no Content-Length, half the body)."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[bytes, str]] = {}
        routes = self.routes

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                if self.path not in routes:
                    self.send_error(404)
                    return
                body, how = routes[self.path]
                self.send_response(200)
                if how != "half-unannounced":
                    self.send_header("Content-Length", str(len(body)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(body if how == "ok" else body[: len(body) // 2])
                self.close_connection = True

            def log_message(self, *args) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = Server()
    yield s
    s.stop()


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "cache"
    monkeypatch.setenv("COURSE_DATA", str(path))
    for name in ("COURSE_FAST", "COURSE_FACADES_URL", "COURSE_FACADES_ARCHIVE"):
        monkeypatch.delenv(name, raising=False)
    return path


@pytest.fixture
def official(monkeypatch, server):
    """Make the local server the 'official' URL, with the official checks scaled down to tiny files."""
    monkeypatch.setattr(data, "FACADES_URL", server.url + "/facades.tar.gz")
    monkeypatch.setattr(data, "FACADES_COUNTS", dict(SMALL_COUNTS))
    monkeypatch.setattr(data, "FACADES_IMAGE_SIZE", (16, 8))
    return server


def contents(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*")) if folder.exists() else []


# ----------------------------------------------------------------------------------------------------------
# The downloader


def test_download_verifies_and_caches(cache, official):
    official.routes["/facades.tar.gz"] = (archive_bytes(), "ok")
    root = fetch_facades()
    assert root == cache / "facades"
    assert {s: len(list((root / s).glob("*.jpg"))) for s in data.SPLITS} == SMALL_COUNTS
    assert sorted(p.name for p in cache.iterdir()) == ["facades", "facades.tar.gz"]  # no temporary left over


def test_download_false_never_touches_the_network(cache, official, monkeypatch):
    official.routes["/facades.tar.gz"] = (archive_bytes(), "ok")
    monkeypatch.setattr(data.urllib.request, "urlopen", lambda *a, **k: pytest.fail("the network was used"))
    with pytest.raises(FacadesUnavailable, match="downloading was turned off"):
        fetch_facades(download=False)
    assert contents(cache) == []
    chosen = data.facades_root(download=False, n=6, size=64)
    assert chosen.synthetic and "unavailable" in chosen.note


def test_stale_temporaries_are_removed(cache, official):
    old, young = cache / ".facades-tmp-old", cache / ".facades-tmp-young"
    old.mkdir(parents=True)
    young.mkdir()
    os.utime(old, (0, 0))
    official.routes["/facades.tar.gz"] = (archive_bytes(), "ok")
    fetch_facades()
    assert not old.exists() and young.exists()


def test_official_archive_with_wrong_counts_is_rejected(cache, official):
    official.routes["/facades.tar.gz"] = (archive_bytes({"train": 2, "val": 2, "test": 2}), "ok")
    with pytest.raises(FacadesUnavailable, match="holds"):
        fetch_facades()
    assert contents(cache) == []


def test_official_archive_with_wrong_image_size_is_rejected(cache, official):
    official.routes["/facades.tar.gz"] = (archive_bytes(size=(20, 10)), "ok")
    with pytest.raises(FacadesUnavailable, match="20x10"):
        fetch_facades()
    assert contents(cache) == []


def test_mirror_with_other_counts_warns_but_works(cache, server, monkeypatch):
    server.routes["/mirror.tgz"] = (archive_bytes(size=(20, 10)), "ok")
    monkeypatch.setenv("COURSE_FACADES_URL", server.url + "/mirror.tgz")
    with pytest.warns(UserWarning, match="holds"):
        root = fetch_facades()
    assert (root / "train" / "1.jpg").is_file()


def test_mirror_with_non_pair_images_is_rejected(cache, server):
    server.routes["/mirror.tgz"] = (archive_bytes(size=(16, 16)), "ok")
    with pytest.raises(FacadesUnavailable, match="width = 2 x height"):
        fetch_facades(url=server.url + "/mirror.tgz")
    assert contents(cache) == []


@pytest.mark.parametrize("how", ["half", "half-unannounced"])
def test_truncated_download_leaves_cache_clean(cache, official, how):
    official.routes["/facades.tar.gz"] = (archive_bytes(), how)
    with pytest.raises(FacadesUnavailable):
        fetch_facades()
    assert contents(cache) == []


def test_garbage_download_leaves_cache_clean(cache, official):
    official.routes["/facades.tar.gz"] = (b"<html>server error</html>" * 50, "ok")
    with pytest.raises(FacadesUnavailable, match="not a readable tar archive"):
        fetch_facades()
    assert contents(cache) == []


def test_corrupt_gzip_leaves_cache_clean(cache, official):
    body = bytearray(archive_bytes())
    for i in range(len(body) // 2, len(body) // 2 + 16):
        body[i] ^= 0xFF
    official.routes["/facades.tar.gz"] = (bytes(body), "ok")
    with pytest.raises(FacadesUnavailable):
        fetch_facades()
    assert contents(cache) == []


def test_http_error_is_unavailable(cache, server):
    with pytest.raises(FacadesUnavailable, match="404"):
        fetch_facades(url=server.url + "/missing.tar.gz")
    assert contents(cache) == []


def test_offline_raises_one_clear_error(cache, monkeypatch):
    with socket.socket() as sock:  # a port that was free a moment ago: connection refused
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("COURSE_FACADES_URL", f"http://127.0.0.1:{port}/facades.tar.gz")
    with pytest.raises(FacadesUnavailable) as err:
        fetch_facades(timeout=5)
    message = str(err.value)
    for needed in ("COURSE_FACADES_URL", "COURSE_FACADES_ARCHIVE", "synthetic_facades", str(cache)):
        assert needed in message
    assert contents(cache) == []


def test_cached_copy_is_reused_without_network(cache, official, monkeypatch):
    official.routes["/facades.tar.gz"] = (archive_bytes(), "ok")
    first = fetch_facades()
    official.stop()

    def no_network(*args, **kwargs):
        raise AssertionError("the network was used")

    monkeypatch.setattr(data.urllib.request, "urlopen", no_network)
    assert fetch_facades() == first
    # Even with the folder gone, the kept archive is enough.
    shutil.rmtree(first)
    assert fetch_facades() == first and (first / "val" / "2.jpg").is_file()


@pytest.mark.parametrize(
    "extra",
    [
        [("../evil.jpg", "file", "")],
        [("facades/../../evil.jpg", "file", "")],
        [("/tmp/evil_abs_course_test.jpg", "file", "")],
        [("facades/train/link.jpg", tarfile.SYMTYPE, "/etc/passwd")],
        [("facades/train/hard.jpg", tarfile.LNKTYPE, "facades/train/1.jpg")],
        [("facades/train/fifo", tarfile.FIFOTYPE, "")],
    ],
    ids=["dotdot", "nested-dotdot", "absolute", "symlink", "hardlink", "fifo"],
)
def test_unsafe_archive_members_are_refused(cache, tmp_path, extra):
    archive = tmp_path / "work" / "facades.tar.gz"
    archive.parent.mkdir()
    archive.write_bytes(archive_bytes(extra=extra))
    with pytest.raises(FacadesUnavailable, match="unsafe member|not a regular file"):
        fetch_facades(archive=archive)
    assert contents(cache) == []
    assert not (tmp_path / "evil.jpg").exists() and not (tmp_path / "work" / "evil.jpg").exists()
    assert not Path("/tmp/evil_abs_course_test.jpg").exists()


def test_unsafe_member_over_http_is_refused(cache, server):
    server.routes["/f.tgz"] = (archive_bytes(extra=[("../evil.jpg", "file", "")]), "ok")
    with pytest.raises(FacadesUnavailable, match="unsafe member"):
        fetch_facades(url=server.url + "/f.tgz")
    assert contents(cache) == [] and not (cache.parent / "evil.jpg").exists()


def test_local_archive_from_env_and_missing_archive(cache, tmp_path, monkeypatch):
    missing = tmp_path / "nowhere.tar.gz"
    with pytest.raises(FacadesUnavailable, match="does not exist"):
        fetch_facades(archive=missing)
    archive = tmp_path / "facades.tar.gz"
    archive.write_bytes(archive_bytes(counts={"train": 2, "val": 1, "test": 1}))
    monkeypatch.setenv("COURSE_FACADES_ARCHIVE", str(archive))
    with pytest.warns(UserWarning):
        root = fetch_facades()
    assert len(list((root / "train").glob("*.jpg"))) == 2
    assert not (cache / "facades.tar.gz").exists()  # a local archive is not copied into the cache


def test_folder_placed_in_cache_is_used(cache):
    for split in data.SPLITS:
        (cache / "facades" / split).mkdir(parents=True)
        (cache / "facades" / split / "1.jpg").write_bytes(jpeg_bytes())
    with pytest.warns(UserWarning):
        assert fetch_facades(url="http://127.0.0.1:9/never") == cache / "facades"


def test_facades_root_falls_back_to_synthetic(cache, monkeypatch):
    monkeypatch.setattr(data, "fetch_facades", lambda *a, **k: (_ for _ in ()).throw(data._unavailable("offline")))
    got = facades_root(size=64, n=6)
    assert got.synthetic and "unavailable" in got.note and str(got.root) in got.note
    assert len(PairedImageDataset(got.root, "train", size=64)) == 4
    with pytest.raises(FacadesUnavailable):
        facades_root(synthetic=False)


def test_facades_root_fast_mode_is_synthetic_and_small(cache, monkeypatch):
    monkeypatch.setenv("COURSE_FAST", "1")
    monkeypatch.setattr(data, "fetch_facades", lambda *a, **k: pytest.fail("fast mode must not fetch"))
    got = facades_root()
    assert got.synthetic and "fast mode" in got.note
    assert {s: len(list((got.root / s).glob("*.jpg"))) for s in data.SPLITS} == {"train": 16, "val": 4, "test": 4}
    assert Image.open(got.root / "train" / "1.jpg").size == (128, 64)
    assert facades_root().root == got.root  # reused, not regenerated
    assert [p.name for p in cache.iterdir()] == [got.root.name]  # no temporary left over


def test_facades_root_real_when_available(cache, tmp_path):
    archive = tmp_path / "f.tar.gz"
    archive.write_bytes(archive_bytes())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = facades_root(archive=archive)
    assert not got.synthetic and got.root == cache / "facades" and "pix2pix archive" in got.note


# ----------------------------------------------------------------------------------------------------------
# The dataset


def save_pair(path: Path, a: np.ndarray, b: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate([a, b], axis=1)).save(path)
    return path


@pytest.fixture(scope="module")
def synthetic_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("syn") / "facades"
    write_synthetic_facades(root, n=6, size=64, seed=1)
    return root


def test_dataset_shapes_and_range(synthetic_root):
    for split, jitter in [("train", None), ("val", None), ("train", False)]:
        ds = PairedImageDataset(synthetic_root, split, size=64, jitter=jitter)
        x, y = ds[0]
        assert x.shape == y.shape == (3, 64, 64) and x.dtype == y.dtype == torch.float32
        assert type(x) is torch.Tensor  # plain tensors, not tv_tensors
        assert -1 <= x.min() and x.max() <= 1 and -1 <= y.min() and y.max() <= 1
        assert x.min() < -0.5 and x.max() > 0.5  # the full range is used, not [0, 1]
    assert PairedImageDataset(synthetic_root, "train").jitter and not PairedImageDataset(synthetic_root, "val").jitter
    loader = torch.utils.data.DataLoader(PairedImageDataset(synthetic_root, "train", size=96), batch_size=2)
    x, y = next(iter(loader))
    assert x.shape == y.shape == (2, 3, 96, 96)


def test_the_resize_cache_changes_no_item(synthetic_root):
    # The cached resize gives what the paper's jitter gives in one go on a freshly decoded file, with the same
    # random draws; the second epoch reads the cache; a split too big for CACHE_BYTES is decoded every time.
    ds = PairedImageDataset(synthetic_root, "train", size=64, jitter=True)
    paper = v2.Compose([v2.Resize((72, 72), antialias=True), v2.RandomCrop(64), v2.RandomHorizontalFlip(),
                        v2.ToDtype(torch.float32, scale=True), v2.Normalize([0.5] * 3, [0.5] * 3)])
    for epoch in range(2):
        for index, path in enumerate(ds.files):
            pixels = v2.functional.pil_to_tensor(Image.open(path))
            half = pixels.shape[-1] // 2
            torch.manual_seed(10 * epoch + index)
            label_map, photo = ds[index]
            torch.manual_seed(10 * epoch + index)
            a, b = paper(tv_tensors.Image(pixels[..., :half]), tv_tensors.Image(pixels[..., half:]))
            assert torch.equal(label_map, b) and torch.equal(photo, a), (epoch, path.name)
        assert sorted(ds._cache) == list(range(len(ds)))
    small = type("SmallCache", (PairedImageDataset,), {"CACHE_BYTES": 6 * 72 * 72 * len(ds) - 1})
    uncached = small(synthetic_root, "train", size=64, jitter=True)
    torch.manual_seed(0)
    first = uncached[0]
    torch.manual_seed(0)
    assert uncached._cache is None and all(torch.equal(u, c) for u, c in zip(first, ds[0]))


def test_direction_swaps_halves(tmp_path):
    red = np.zeros((16, 16, 3), np.uint8)
    red[..., 0] = 255
    blue = np.zeros((16, 16, 3), np.uint8)
    blue[..., 2] = 255
    save_pair(tmp_path / "val" / "1.png", red, blue)
    x, y = PairedImageDataset(tmp_path, "val", direction="AtoB", size=64)[0]
    assert torch.allclose(x[0], torch.ones(64, 64)) and torch.allclose(x[2], -torch.ones(64, 64))  # A: red
    assert torch.allclose(y[2], torch.ones(64, 64))  # B: blue
    x2, y2 = PairedImageDataset(tmp_path, "val", direction="BtoA", size=64)[0]
    assert torch.equal(x2, y) and torch.equal(y2, x)


def test_dataset_natural_file_order(tmp_path):
    img = np.zeros((8, 8, 3), np.uint8)
    for i in (10, 2, 1):
        save_pair(tmp_path / "test" / f"{i}.png", img, img)
    assert [p.name for p in PairedImageDataset(tmp_path, "test", size=64).files] == ["1.png", "2.png", "10.png"]


@pytest.mark.parametrize(
    "name, make, match",
    [
        ("grey.jpg", lambda p: Image.new("L", (32, 16)).save(p), "mode L"),
        ("alpha.png", lambda p: Image.new("RGBA", (32, 16)).save(p), "mode RGBA"),
        ("odd.png", lambda p: Image.new("RGB", (33, 16)).save(p), "33x16"),
        ("wide.png", lambda p: Image.new("RGB", (48, 16)).save(p), "48x16"),
        ("garbage.jpg", lambda p: p.write_bytes(b"not a jpeg at all" * 20), "not a readable image"),
    ],
)
def test_bad_images_name_the_file(tmp_path, name, make, match):
    (tmp_path / "train").mkdir()
    make(tmp_path / "train" / name)
    with pytest.raises(ValueError, match=match) as err:
        PairedImageDataset(tmp_path, "train")
    assert name in str(err.value) and ("RGB" in str(err.value))


def test_truncated_jpeg_names_the_file(tmp_path):
    (tmp_path / "train").mkdir()
    good = jpeg_bytes(64, 32)
    (tmp_path / "train" / "cut.jpg").write_bytes(good[: len(good) // 2])
    ds = PairedImageDataset(tmp_path, "train", size=64)  # the header is fine
    with pytest.raises(ValueError, match="cut.jpg.*cannot decode"):
        ds[0]


def test_empty_or_missing_folder(tmp_path):
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "notes.txt").write_text("no images here")
    with pytest.raises(FileNotFoundError, match="no images found") as err:
        PairedImageDataset(tmp_path, "train")
    assert "train" in str(err.value)
    with pytest.raises(FileNotFoundError, match="val"):
        PairedImageDataset(tmp_path, "val")
    with pytest.raises(ValueError, match="split"):
        PairedImageDataset(tmp_path, "training")
    with pytest.raises(ValueError, match="direction"):
        PairedImageDataset(tmp_path, "train", direction="A2B")
    with pytest.raises(ValueError, match="size"):
        PairedImageDataset(tmp_path, "train", size=32)


PERM = [2, 0, 1]  # B is A with its channels rotated: a colour map that commutes with any spatial operation


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), half=st.integers(8, 48), size=st.sampled_from([64, 80, 128]))
def test_jitter_never_misaligns_a_pair(seed, half, size):
    a = np.random.default_rng(seed).integers(0, 256, (half, half, 3), dtype=np.uint8)
    with tempfile.TemporaryDirectory() as tmp:
        save_pair(Path(tmp) / "train" / "1.png", a, a[..., PERM])  # PNG: lossless, so B is exactly A[PERM]
        ds = PairedImageDataset(tmp, "train", direction="BtoA", size=size, jitter=True)
        torch.manual_seed(seed)
        x, y = ds[0]  # x = B, y = A after the same jitter
    assert x.shape == (3, size, size)
    assert torch.equal(x, y[PERM])


def test_the_alignment_check_catches_independent_jitter():
    # The property above can fail: jittering the halves in two calls (two crops, two flips) breaks it.
    a = tv_tensors.Image(torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8))
    b = tv_tensors.Image(a[PERM])
    jitter = v2.Compose([v2.Resize((80, 80)), v2.RandomCrop(64), v2.RandomHorizontalFlip()])
    torch.manual_seed(0)
    separate = [torch.equal(jitter(b), jitter(a)[PERM]) for _ in range(5)]
    joint = [torch.equal(xb, xa[PERM]) for xb, xa in (jitter(b, a) for _ in range(5))]
    assert not any(separate) and all(joint)


# ----------------------------------------------------------------------------------------------------------
# Synthetic facades written in the archive's layout (the renderer: test_synthetic.py)


def test_written_synthetic_layout(tmp_path):
    counts = write_synthetic_facades(tmp_path / "syn", n=24, size=64, seed=3)
    assert counts == {"train": 16, "val": 4, "test": 4}
    names = sorted(p.name for p in (tmp_path / "syn" / "val").iterdir())
    assert names == ["1.jpg", "2.jpg", "3.jpg", "4.jpg"]
    with Image.open(tmp_path / "syn" / "train" / "1.jpg") as im:
        assert im.size == (128, 64) and im.mode == "RGB"
        pair = np.asarray(im)
    label, photo = render_synthetic_facade(3, 0, 64)
    assert np.abs(pair[:, :64].astype(int) - photo).mean() < 6  # A = photo (left), up to JPEG loss
    assert np.abs(pair[:, 64:].astype(int) - label).mean() < 6  # B = label map (right)
    x, y = PairedImageDataset(tmp_path / "syn", "test", size=64)[0]
    assert x.shape == y.shape == (3, 64, 64)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["syn"]  # no temporary left over
    with pytest.raises(FileExistsError):
        write_synthetic_facades(tmp_path / "syn", n=3, size=64)


def test_a_writer_that_finishes_second_leaves_the_first_ones_folder(tmp_path, monkeypatch):
    """Two processes (two graded kernels, two test workers) may write the same synthetic set at once: the one
    that finishes second gets FileExistsError, which synthetic_facades() takes as "already there"."""
    write = data.write_synthetic_facades
    written = {}

    def racing(folder, *args, **kwargs):
        late = data._atomic_dir(folder)  # this writer starts while the folder does not exist yet ...
        write(folder, *args, **kwargs)  # ... and another one finishes first
        written["first"] = sorted(p.relative_to(folder) for p in folder.rglob("*"))
        (late / "train").mkdir()
        try:
            data._publish(late, folder)
        finally:
            shutil.rmtree(late, ignore_errors=True)

    monkeypatch.setattr(data, "data_dir", lambda: tmp_path)
    monkeypatch.setattr(data, "write_synthetic_facades", racing)
    folder = data.synthetic_facades(n=3, size=64)  # no error for the caller
    assert sorted(p.relative_to(folder) for p in folder.rglob("*")) == written["first"] != []
    with pytest.raises(FileExistsError, match="completed by another process"):
        racing(tmp_path / "again", n=3, size=64)


# ----------------------------------------------------------------------------------------------------------
# Pairs from photos, and the command line


def test_pair_builders_validate_input():
    photo = np.random.default_rng(0).integers(0, 256, (32, 40, 3), dtype=np.uint8)
    edges, same = data._edges_pair(photo)
    assert edges.shape == photo.shape and edges.dtype == np.uint8 and same is photo
    assert set(np.unique(edges)) <= {0, 255}
    grey, _ = data._grey_pair(photo)
    assert grey.shape == photo.shape and np.array_equal(grey[..., 0], grey[..., 2])
    for bad in (photo.astype(np.float32), photo[..., 0], photo[..., :2], "photo.jpg"):
        with pytest.raises(ValueError, match=r"expected a uint8 RGB array of shape \(H, W, 3\), got"):
            data._edges_pair(bad)
        with pytest.raises(ValueError, match="got"):
            data._grey_pair(bad)


def test_cli_pairs(tmp_path, capsys):
    src = tmp_path / "photos"
    src.mkdir()
    for i in range(2):
        _, photo = render_synthetic_facade(0, i, 96)
        Image.fromarray(photo[:, :80]).save(src / f"p{i}.png")  # not square: centre-cropped
    assert data.main(["pairs", "--kind", "edges", "--src", str(src), "--out", str(tmp_path / "out"), "--size",
                      "64"]) == 0
    files = sorted((tmp_path / "out").iterdir())
    assert [f.name for f in files] == ["p0.jpg", "p1.jpg"]
    ds = PairedImageDataset(tmp_path / "out", split=None, direction="AtoB", size=64)
    x, _ = ds[0]
    assert x.shape == (3, 64, 64) and (x > 0.5).float().mean() > 0.5  # black edges on mostly white


def test_cli_synthetic_writes_files(tmp_path):
    # The real entry point, once (a subprocess pays for importing torch again).
    out = tmp_path / "syn"
    run = subprocess.run(
        [sys.executable, "-m", "course_utils.data", "synthetic", "--n", "6", "--size", "64", "--out", str(out),
         "--seed", "2"],
        capture_output=True, text=True, cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    assert run.returncode == 0, run.stderr
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*.jpg")) == [
        "test/1.jpg", "train/1.jpg", "train/2.jpg", "train/3.jpg", "train/4.jpg", "val/1.jpg",
    ]  # fmt: skip
    assert run.stdout.strip() == f"{out}: train 4, val 1, test 1"


@pytest.mark.parametrize(
    "argv, match",
    [
        (["synthetic", "--n", "3", "--size", "20", "--out", "{tmp}/x"], "size must be"),
        (["pairs", "--kind", "edges", "--src", "{tmp}/nowhere", "--out", "{tmp}/y"], "no photos found"),
        (["pairs", "--kind", "sketch", "--src", "{tmp}", "--out", "{tmp}/y"], "invalid choice"),
        (["facades", "--archive", "{tmp}/missing.tar.gz"], "COURSE_FACADES_URL"),
        ([], "required"),
        (["synthetic", "--n", "many", "--out", "{tmp}/x"], "--n"),
    ],
)
def test_cli_errors_in_process(tmp_path, capsys, cache, argv, match):
    with pytest.raises(SystemExit) as exit_:
        data.main([a.format(tmp=tmp_path) for a in argv])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and match in err
    assert contents(cache) == []


def test_cli_facades_from_archive(tmp_path, cache, capsys):
    archive = tmp_path / "f.tar.gz"
    archive.write_bytes(archive_bytes())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert data.main(["facades", "--archive", str(archive)]) == 0
    assert capsys.readouterr().out.strip() == str(cache / "facades")
