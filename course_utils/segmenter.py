"""The course segmenter: a small FCN that labels facade photos, the judge of the FCN-score and the course's features.

The Pix2Pix paper judged its generated photos with a segmentation network (the "FCN-score": segment the
generated photo, compare with the label map it was made from). The course has no pretrained network and
downloads none, so it trains its own, on first use, from the facades it has (the real ones when cached,
else the synthetic ones), and caches the weights in the data cache.

The network follows FCN (Long, Shelhamer, Darrell, "Fully Convolutional Networks for Semantic Segmentation",
CVPR 2015, arXiv 1411.4038): a strided convolutional encoder of five stages (each halves the size), a 1x1
"score" convolution on each of the last four stages, and the coarse score maps upsampled and SUMMED with the
finer ones (FCN-8s, taken one stage further since our images are small). No decoder and no concatenated
skips: it is not a U-Net. Its five stage activations are also the course's perceptual feature stack
(`course_features`, `perceptual_distance`), used where Pix2PixHD, SRGAN and SPADE use a pretrained VGG.

    python -m course_utils.segmenter segmenter [--size 128] [--retrain]     trains it ahead of time

Cache: <data cache>/segmenter/course_segmenter_<size>px_<full|fast>.pt holds the weights, their SHA-256 and
the settings they were trained with. A file whose settings differ (other steps, other data, ...), whose
checksum fails or that cannot be read is never used: it is retrained and replaced atomically.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import dataclasses
import hashlib
import io
import os
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Dataset, RandomSampler
from torchvision import tv_tensors
from torchvision.transforms import v2
from tqdm.auto import tqdm

from course_utils.data import PairedImageDataset, facades_root
from course_utils.environment import fast_mode, pick, segmenter_dir
from course_utils.synthetic import FACADE_CLASSES, classes_from_colours

SEGMENTER_VERSION = 1  # bump when the network or its training changes: cached weights are then retrained
FILE_FORMAT = 1
N_CLASSES = len(FACADE_CLASSES)
IGNORE_INDEX = 255  # a pixel left out of the loss and the scores
# Pix2PixHD's weights for VGG19's five feature layers, shallow to deep (Wang et al. 2018, arXiv 1711.11585).
PIX2PIXHD_WEIGHTS = (1 / 32, 1 / 16, 1 / 8, 1 / 4, 1.0)


class SegmenterCacheError(RuntimeError):
    """Cached segmenter weights that must not be used: unreadable, corrupt, or trained with other settings."""


# ----------------------------------------------------------------------------------------------------------
# Data: photos with their label maps and exact class maps


class FacadesSegmentation(Dataset):
    """Facades A|B files as (label map, photo, classes): (3, S, S) and (3, S, S) in [-1, 1], and (S, S) int64.

    The label map and the photo are exactly what `PairedImageDataset(root, split, "BtoA", size, jitter)`
    gives. The classes are read from the label map at its stored resolution (nearest palette colour) and
    resized with nearest neighbours, so they hold no blended border colours. jitter: the paper's random
    jitter (resize to 286/256 of the size, one random crop and mirror for all three). Decoded and resized
    files are kept in memory after their first use.
    """

    def __init__(self, root: str | os.PathLike, split: str | None = "test", size: int = 128,
                 jitter: bool = False) -> None:
        paired = PairedImageDataset(root, split, direction="BtoA", size=size, jitter=False)  # validates the files
        self.files, self.size, self.jitter = paired.files, size, jitter
        load = round(size * 286 / 256) if jitter else size  # as PairedImageDataset, so the images match it
        # Resized once, when first decoded; then only the random crop and mirror run per item: the same random
        # numbers and pixels as resizing every time (measured: 9 ms instead of 15 per batch of 8 at 64 px).
        self.resize = v2.Resize((load, load), antialias=True)
        self.geometry = v2.Compose([v2.RandomCrop(size), v2.RandomHorizontalFlip()]) if jitter else v2.Identity()
        self.to_float = v2.Compose([v2.ToDtype(torch.float32, scale=True), v2.Normalize([0.5] * 3, [0.5] * 3)])
        self._decoded: dict[int, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}

    @classmethod
    def like(cls, dataset: PairedImageDataset) -> FacadesSegmentation:
        """The same files, size and jitter as a facades PairedImageDataset (direction 'BtoA'), with classes."""
        if dataset.direction != "BtoA":
            raise ValueError(f"expected a facades dataset with direction 'BtoA' (label map -> photo), got "
                             f"{dataset.direction!r}")
        return cls(dataset.folder, None, dataset.size, dataset.jitter)

    def __len__(self) -> int:
        return len(self.files)

    def _decode(self, index: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if index not in self._decoded:
            with Image.open(self.files[index]) as im:
                pixels = v2.functional.pil_to_tensor(im.convert("RGB"))
            half = pixels.shape[-1] // 2
            photo, label = pixels[:, :, :half], pixels[:, :, half:]
            classes = torch.from_numpy(classes_from_colours(label.permute(1, 2, 0).numpy()))
            self._decoded[index] = self.resize(tv_tensors.Image(label), tv_tensors.Image(photo),
                                               tv_tensors.Mask(classes[None]))  # a Mask is resized with nearest
        return self._decoded[index]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        label, photo, classes = self.geometry(*self._decode(index))
        label, photo = (self.to_float(x).as_subclass(torch.Tensor) for x in (label, photo))
        return label, photo, classes.as_subclass(torch.Tensor)[0].long()


# ----------------------------------------------------------------------------------------------------------
# The network


def _stage(in_channels: int, out_channels: int) -> nn.Sequential:
    # A 3x3 convolution with stride 2 halves the size, a 3x3 one at stride 1 looks around once more.
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
        nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False), nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class CourseSegmenter(nn.Module):
    """An FCN for facades: images (N, 3, H, W) in [-1, 1] -> class scores (N, 12, H, W) (logits).

    stages: five strided stages (1/2 ... 1/32 of the input size), `widths` channels each.
    scores: 1x1 convolutions to the classes on the last four stages; forward upsamples the deepest score map
    (bilinear), adds the next finer one, and so on, then upsamples the sum to the input size.
    Any input size works; it was trained at `size` x `size`.
    """

    def __init__(self, widths: Sequence[int] = (32, 64, 96, 128, 192), n_classes: int = N_CLASSES,
                 size: int = 128) -> None:
        super().__init__()
        if len(widths) != 5:
            raise ValueError(f"expected five stage widths, got {list(widths)}")
        self.size = size
        self.stages = nn.ModuleList(_stage(c_in, c_out) for c_in, c_out in zip([3, *widths[:-1]], widths))
        self.scores = nn.ModuleList(nn.Conv2d(w, n_classes, 1) for w in widths[1:])
        for score in self.scores[:-1]:  # as FCN: the finer score maps start at zero and learn corrections
            nn.init.zeros_(score.weight)
            nn.init.zeros_(score.bias)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The five stage activations, shallow to deep: (N, widths[i], H / 2^(i+1), W / 2^(i+1)), rounded up."""
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"expected images of shape (N, 3, H, W) in [-1, 1], got shape {tuple(x.shape)}")
        found = []
        for stage in self.stages:
            x = stage(x)
            found.append(x)
        return found

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        maps = self.features(x)[1:]
        fused = self.scores[-1](maps[-1])
        for feature, score in zip(reversed(maps[:-1]), reversed(self.scores[:-1])):
            fused = F.interpolate(fused, size=feature.shape[-2:], mode="bilinear", align_corners=False)
            fused = fused + score(feature)
        return F.interpolate(fused, size=x.shape[-2:], mode="bilinear", align_corners=False)

    @torch.no_grad()
    def predict(self, photos: torch.Tensor, size: tuple[int, int] | None = None) -> torch.Tensor:
        """Class indices (N, h, w) of photos (N, 3, H, W) in [-1, 1], segmented at the trained size.

        The photos are resized to size x size first (the segmenter knows that scale), and the scores are
        resized to `size` (default: the photos' own H, W) before the argmax.
        """
        target = tuple(size) if size is not None else tuple(photos.shape[-2:])
        if tuple(photos.shape[-2:]) != (self.size, self.size):
            photos = F.interpolate(photos, size=(self.size, self.size), mode="bilinear", antialias=True,
                                   align_corners=False)
        logits = self(photos)
        if tuple(logits.shape[-2:]) != target:
            logits = F.interpolate(logits, size=target, mode="bilinear", align_corners=False)
        return logits.argmax(1)


# ----------------------------------------------------------------------------------------------------------
# Settings and training


@dataclass(frozen=True)
class SegmenterSettings:
    """Everything the trained weights depend on; a cached file trained with other settings is retrained."""

    size: int
    steps: int
    batch_size: int
    lr: float
    widths: tuple[int, ...]
    data: str  # which facades: "real:<folder>" or "synthetic:<folder>"
    seed: int = 0
    version: int = SEGMENTER_VERSION

    def differences(self, other: dict[str, Any]) -> list[str]:
        """'name: theirs -> ours' for every setting that differs from a stored settings dict."""
        ours = dataclasses.asdict(self)
        return [f"{k}: {other.get(k)!r} -> {v!r}" for k, v in ours.items() if _plain(other.get(k)) != _plain(v)]


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, (tuple, list)) else value


def default_settings(size: int | None = None, data_root: Path | None = None, synthetic: bool | None = None
                     ) -> SegmenterSettings:
    """The segmenter's settings: 128 px (fast mode: 64 px and a few steps), on `data_root` or facades_root()."""
    if data_root is None:
        facades = facades_root(synthetic=synthetic, download=False)  # cached real facades, never the network
        data_root, kind = facades.root, ("synthetic" if facades.synthetic else "real")
    else:
        kind = "folder"
    return SegmenterSettings(
        size=int(size or pick(128, 64)),
        steps=pick(1000, 12),
        batch_size=pick(8, 4),
        lr=2e-3,
        widths=pick((32, 64, 96, 128, 192), (8, 16, 16, 32, 32)),
        data=f"{kind}:{Path(data_root).resolve()}",
    )


def _data_root(settings: SegmenterSettings) -> Path:
    return Path(settings.data.split(":", 1)[1])


def _batches(dataset: Dataset, settings: SegmenterSettings, generator: torch.Generator):
    """Endless shuffled batches of (photos, classes), in an order fixed by the generator."""
    sampler = RandomSampler(dataset, generator=generator)
    loader = DataLoader(dataset, batch_size=settings.batch_size, sampler=sampler, drop_last=len(dataset) >=
                        settings.batch_size)
    while True:
        for _, photos, classes in loader:
            yield photos, classes


def train_segmenter(settings: SegmenterSettings, progress: bool = True) -> tuple[CourseSegmenter, dict[str, float]]:
    """Train a segmenter with `settings` on the train split; return it (eval mode, CPU) and its val scores.

    Deterministic for the settings: the initialisation, the data order and the jitter come from settings.seed,
    in a forked random state, so the caller's random numbers are untouched.
    """
    train_set = FacadesSegmentation(_data_root(settings), "train", settings.size, jitter=True)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(settings.seed)
        model = CourseSegmenter(settings.widths, size=settings.size)
        optimizer = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=1e-4)
        schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, settings.lr, total_steps=settings.steps,
                                                       pct_start=0.15)
        batches = _batches(train_set, settings, torch.Generator().manual_seed(settings.seed))
        model.train()
        bar = tqdm(range(settings.steps), desc="Training the course segmenter", disable=not progress)
        for _ in bar:
            photos, classes = next(batches)
            loss = F.cross_entropy(model(photos), classes, ignore_index=IGNORE_INDEX)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            bar.set_postfix(loss=f"{loss.item():.3f}")
        model.eval()
        scores = validation_scores(model, _data_root(settings), settings.size)  # a DataLoader draws a seed too
    return model, scores


def validation_scores(model: CourseSegmenter, root: Path, size: int) -> dict[str, float]:
    """The segmenter's FCN-score numbers on the real photos of the val split (the test split if there is none)."""
    from course_utils.evaluation import confusion_matrix, segmentation_scores

    split = "val" if (Path(root) / "val").is_dir() else "test"
    confusion = torch.zeros(N_CLASSES, N_CLASSES, dtype=torch.int64)
    for _, photos, classes in DataLoader(FacadesSegmentation(root, split, size), batch_size=16):
        confusion += confusion_matrix(model.predict(photos), classes, N_CLASSES)
    return segmentation_scores(confusion)


# ----------------------------------------------------------------------------------------------------------
# The cache: one file per size and mode, with a checksum and the settings, written atomically


def segmenter_file(size: int) -> Path:
    """The cache file of the segmenter trained at `size` px in the current mode (full or fast)."""
    return segmenter_dir() / f"course_segmenter_{size}px_{'fast' if fast_mode() else 'full'}.pt"


def save_segmenter(model: CourseSegmenter, settings: SegmenterSettings, metrics: dict[str, float],
                   path: Path) -> None:
    """Write the weights, their SHA-256, the settings and the scores to a temporary file, then rename it."""
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    weights = buffer.getvalue()
    payload = {"format": FILE_FORMAT, "settings": {k: _plain(v) for k, v in dataclasses.asdict(settings).items()},
               "sha256": hashlib.sha256(weights).hexdigest(), "weights": torch.frombuffer(bytearray(weights),
                                                                                           dtype=torch.uint8),
               "metrics": dict(metrics)}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)  # the old file stays whole until this line
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def load_segmenter(path: Path, settings: SegmenterSettings) -> tuple[CourseSegmenter, dict[str, float]]:
    """The cached segmenter at `path` and its scores; SegmenterCacheError if it must not be used (and why)."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        weights = payload["weights"].numpy().tobytes()
        stored, digest, metrics = payload["settings"], payload["sha256"], payload["metrics"]
    except Exception as e:  # truncated, not a torch file, or not ours: all mean "do not use"
        raise SegmenterCacheError(f"{path} is unreadable ({type(e).__name__}: {e})") from e
    if payload.get("format") != FILE_FORMAT:
        raise SegmenterCacheError(f"{path} has format {payload.get('format')}, expected {FILE_FORMAT}")
    if hashlib.sha256(weights).hexdigest() != digest:
        raise SegmenterCacheError(f"{path} fails its checksum (the weights were changed or damaged)")
    changed = settings.differences(stored)
    if changed:
        raise SegmenterCacheError(f"{path} was trained with other settings ({'; '.join(changed)})")
    model = CourseSegmenter(settings.widths, size=settings.size)
    model.load_state_dict(torch.load(io.BytesIO(weights), map_location="cpu", weights_only=True))
    return model.eval(), dict(metrics)


def course_segmenter(size: int | None = None, *, settings: SegmenterSettings | None = None, retrain: bool = False,
                     progress: bool = True) -> CourseSegmenter:
    """The course segmenter (eval mode, CPU): loaded from the cache, or trained first (a few minutes on a CPU).

    size: the image size it is trained at (default 128 px; 64 in fast mode). settings: all of them (see
    `default_settings`). A cached file is used only when its checksum holds and its settings match;
    otherwise it is retrained (saying why) and replaced. `model.metrics` holds its own scores on real photos.
    """
    settings = settings or default_settings(size)
    path = segmenter_file(settings.size)
    if path.exists() and not retrain:
        try:
            model, metrics = load_segmenter(path, settings)
            model.metrics = metrics
            return model
        except SegmenterCacheError as e:
            print(f"Not using the cached segmenter: {e}. Retraining it.")
    print(f"Training the course segmenter at {settings.size} px on {settings.data} (once; cached in {path})")
    model, metrics = train_segmenter(settings, progress=progress)
    save_segmenter(model, settings, metrics, path)
    model.metrics = metrics
    return model


# ----------------------------------------------------------------------------------------------------------
# The course's feature network


class CourseFeatures(nn.Module):
    """The segmenter's five encoder stages, frozen: forward(images) -> a list of five activations, shallow first.

    Images (N, 3, H, W) in [-1, 1], any size. The weights never train and batch norm always uses its stored
    statistics (`train()` keeps it in eval mode), but gradients flow to the input: a perceptual loss.
    """

    def __init__(self, segmenter: CourseSegmenter) -> None:
        super().__init__()
        self.stages = copy.deepcopy(segmenter.stages)  # freezing them leaves the segmenter itself as it was
        self.requires_grad_(False)
        super().train(False)

    def train(self, mode: bool = True) -> CourseFeatures:
        return self  # frozen: a parent's .train() must not switch batch norm to batch statistics

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"expected images of shape (N, 3, H, W) in [-1, 1], got shape {tuple(images.shape)}")
        found = []
        for stage in self.stages:
            images = stage(images)
            found.append(images)
        return found


def course_features(size: int | None = None, device: str | torch.device | None = None) -> CourseFeatures:
    """The course's perceptual feature network (a frozen `CourseFeatures`), from `course_segmenter(size)`."""
    features = CourseFeatures(course_segmenter(size, progress=False))
    return features.to(device) if device is not None else features


_DEFAULT_FEATURES: dict[str, CourseFeatures] = {}


def perceptual_distance(fake: torch.Tensor, real: torch.Tensor, weights: Sequence[float] = PIX2PIXHD_WEIGHTS,
                        features: nn.Module | None = None) -> torch.Tensor:
    """sum_i weights[i] * mean |f_i(fake) - f_i(real)| over the course features f_1..f_5 (a scalar tensor).

    As Pix2PixHD's VGG loss, with the course's features in place of VGG19's. fake, real: (N, 3, H, W) in
    [-1, 1]; gradients flow to `fake`, never to `real`. weights: one per layer, shallow first (default
    1/32, 1/16, 1/8, 1/4, 1); a zero drops a layer. features: default `course_features()`, loaded once.
    """
    if fake.shape != real.shape:
        raise ValueError(f"fake and real must have the same shape, got {tuple(fake.shape)} and {tuple(real.shape)}")
    if features is None:
        key = str(fake.device)
        if key not in _DEFAULT_FEATURES:
            _DEFAULT_FEATURES[key] = course_features(device=fake.device)
        features = _DEFAULT_FEATURES[key]
    fake_maps, real_maps = features(fake), features(real)
    if len(weights) != len(fake_maps):
        raise ValueError(f"expected {len(fake_maps)} weights (one per feature layer), got {len(weights)}")
    terms = [w * (f - r.detach()).abs().mean() for w, f, r in zip(weights, fake_maps, real_maps) if w != 0]
    return torch.stack(terms).sum() if terms else fake.new_zeros(())


# ----------------------------------------------------------------------------------------------------------
# Command line


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_utils.segmenter",
                                     description="The course segmenter (FCN-score, course features).")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("segmenter", help="train the course segmenter ahead of time (or check the cached one)")
    p.add_argument("--size", type=int, default=None, help="image size it is trained at (default 128; fast mode 64)")
    p.add_argument("--retrain", action="store_true", help="train again even if a valid cached file exists")
    args = parser.parse_args(argv)
    try:
        model = course_segmenter(args.size, retrain=args.retrain)
    except (ValueError, OSError) as e:
        parser.exit(2, f"{parser.prog}: error: {' '.join(str(e).split())}\n")
    print(f"{segmenter_file(model.size)}")
    print("its scores on real photos: " + ", ".join(f"{k} {v:.3f}" for k, v in model.metrics.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
