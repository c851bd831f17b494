"""Tests of course_utils.segmenter: the network, its data, the cache (checksum, settings, atomic writes), features.

Everything runs in fast mode on the tiny synthetic facades, in a temporary data cache.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from course_utils import segmenter as seg
from course_utils.data import PairedImageDataset, synthetic_facades
from course_utils.synthetic import FACADE_PALETTE, classes_from_colours


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """A temporary data cache in fast mode, with the segmenter trained once in it."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COURSE_DATA", str(tmp_path_factory.mktemp("data")))
        mp.setenv("COURSE_FAST", "1")
        model = seg.course_segmenter(progress=False)
        yield model


def _tiny(settings: seg.SegmenterSettings, **changes) -> seg.SegmenterSettings:
    return dataclasses.replace(settings, steps=3, **changes)


def test_the_network_is_an_fcn_that_sums_score_maps():
    model = seg.CourseSegmenter((8, 8, 16, 16, 16), size=64).eval()
    for h, w in ((64, 64), (72, 40)):  # any size, not only multiples of 32
        x = torch.rand(2, 3, h, w) * 2 - 1
        assert model(x).shape == (2, seg.N_CLASSES, h, w)
        shapes = [tuple(f.shape) for f in model.features(x)]
        assert [s[1] for s in shapes] == [8, 8, 16, 16, 16]
        assert [s[2] for s in shapes] == [-(-h // 2**i) for i in range(1, 6)]
    assert model.predict(torch.zeros(1, 3, 32, 32)).shape == (1, 32, 32)  # segmented at 64, scored at 32
    assert model.predict(torch.zeros(1, 3, 64, 64), size=(16, 8)).shape == (1, 16, 8)
    # A fresh FCN starts from the deepest scores only: the finer score layers are zero until trained.
    assert all(torch.count_nonzero(s.weight) == 0 for s in model.scores[:-1])
    with pytest.raises(ValueError, match=r"expected images of shape \(N, 3, H, W\)"):
        model(torch.zeros(1, 1, 64, 64))


def test_segmentation_data_matches_the_paired_dataset_and_has_exact_classes(cache):
    root = synthetic_facades()
    paired = PairedImageDataset(root, "test", size=64)
    data = seg.FacadesSegmentation.like(paired)
    label, photo, classes = data[1]
    want_label, want_photo = paired[1]
    assert torch.equal(label, want_label) and torch.equal(photo, want_photo)
    assert classes.shape == (64, 64) and classes.dtype == torch.int64
    colours = ((label + 1) * 127.5).round().clamp(0, 255).byte().permute(1, 2, 0).numpy()
    assert (classes_from_colours(colours) == classes.numpy()).mean() > 0.95  # JPEG noise moves a few border pixels
    jittered = seg.FacadesSegmentation(root, "train", 64, jitter=True)
    label, _, classes = jittered[0]
    nearest = classes_from_colours(((label + 1) * 127.5).round().byte().permute(1, 2, 0).numpy(), 40)
    clear = nearest != 255  # resizing blends the colours along borders: compare the other pixels
    assert (nearest[clear] == classes.numpy()[clear]).mean() > 0.9  # the same crop and mirror for both
    with pytest.raises(ValueError, match="direction 'BtoA'"):
        seg.FacadesSegmentation.like(PairedImageDataset(root, "test", "AtoB", size=64))


def test_classes_from_colours_takes_the_nearest_palette_colour_and_can_ignore_blends():
    label = FACADE_PALETTE[None, :, :].copy()  # one pixel per class
    assert classes_from_colours(label).tolist() == [list(range(12))]
    noisy = np.clip(label.astype(int) + 12, 0, 255).astype(np.uint8)
    assert classes_from_colours(noisy).tolist() == [list(range(12))]
    blend = ((FACADE_PALETTE[2].astype(int) + FACADE_PALETTE[5]) // 2).astype(np.uint8)[None, None]
    assert classes_from_colours(blend, max_distance=20).item() == 255
    with pytest.raises(ValueError, match="uint8 colour label map"):
        classes_from_colours(np.zeros((4, 4, 3), np.float32))
    # Every pixel, ties included, as the plain per-pixel distance in integers says (first palette colour wins).
    rng = np.random.default_rng(0)
    near_palette = FACADE_PALETTE.repeat(3, 0) + rng.integers(-9, 10, (36, 3))
    midpoints = (FACADE_PALETTE[:-1].astype(int) + FACADE_PALETTE[1:]) // 2
    pixels = np.concatenate([rng.integers(0, 256, (5000, 3)), near_palette, midpoints]).clip(0, 255)
    image = pixels.astype(np.uint8).reshape(1, -1, 3)
    distances = ((pixels[:, None, :] - FACADE_PALETTE[None].astype(int)) ** 2).sum(-1)
    assert (classes_from_colours(image)[0] == distances.argmin(1)).all()
    far = distances.min(1) > 30**2
    expected = np.where(far, 255, distances.argmin(1))
    assert far.any() and (classes_from_colours(image, max_distance=30)[0] == expected).all()


def test_training_is_deterministic_and_leaves_the_callers_random_state_alone(cache):
    settings = _tiny(seg.default_settings())
    before = torch.get_rng_state()
    a, scores = seg.train_segmenter(settings, progress=False)
    assert torch.equal(torch.get_rng_state(), before)
    b, _ = seg.train_segmenter(settings, progress=False)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    c, _ = seg.train_segmenter(dataclasses.replace(settings, seed=1), progress=False)
    assert not torch.equal(a.stages[0][0].weight, c.stages[0][0].weight)
    assert set(scores) == {"per-pixel acc", "per-class acc", "class IoU"}


def test_the_cache_is_reused_and_a_changed_setting_retrains(cache, monkeypatch, capsys):
    path = seg.segmenter_file(cache.size)
    assert path.is_file() and cache.metrics == seg.load_segmenter(path, seg.default_settings())[1]
    trained = []
    real_train = seg.train_segmenter
    monkeypatch.setattr(seg, "train_segmenter", lambda s, progress=True: trained.append(s) or real_train(s, False))
    again = seg.course_segmenter()
    assert trained == [] and all(torch.equal(x, y) for x, y in zip(again.state_dict().values(),
                                                                   cache.state_dict().values()))
    changed = _tiny(seg.default_settings())
    seg.course_segmenter(settings=changed, progress=False)
    assert trained == [changed] and "trained with other settings (steps: 12 -> 3)" in capsys.readouterr().out
    assert torch.load(path, weights_only=True)["settings"]["steps"] == 3
    seg.course_segmenter(settings=changed)
    assert len(trained) == 1  # now cached with those settings


@pytest.mark.parametrize("damage", ["truncate", "flip a weight byte", "not a torch file"])
def test_a_damaged_file_is_refused_and_retrained(cache, monkeypatch, capsys, damage):
    settings = _tiny(seg.default_settings(), seed=7)
    path = seg.segmenter_file(settings.size)
    seg.course_segmenter(settings=settings, progress=False)
    data = bytearray(path.read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "flip a weight byte":
        payload = torch.load(path, weights_only=True)
        weights = payload["weights"].numpy().tobytes()
        at = data.find(weights[100:140])  # the stored weights sit uncompressed in the file
        assert at > 0
        data[at + 5] ^= 0xFF
    else:
        data = bytearray(b"this is not a checkpoint")
    path.write_bytes(bytes(data))
    with pytest.raises(seg.SegmenterCacheError, match="unreadable|checksum"):
        seg.load_segmenter(path, settings)
    model = seg.course_segmenter(settings=settings, progress=False)
    assert "Not using the cached segmenter" in capsys.readouterr().out
    seg.load_segmenter(path, settings)  # replaced by a sound file
    assert model.metrics


def test_an_interrupted_save_keeps_the_old_file(cache, monkeypatch):
    path = seg.segmenter_file(cache.size)
    seg.course_segmenter()  # make sure the file holds the default settings
    before = path.read_bytes()
    real_save = torch.save

    def crash(obj, f, *args, **kwargs):
        if isinstance(obj, dict) and "sha256" in obj:
            f.write(b"half a file")
            raise KeyboardInterrupt
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        seg.save_segmenter(cache, seg.default_settings(), {}, path)
    assert path.read_bytes() == before
    assert [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")] == []


def test_course_features_are_frozen_and_let_gradients_reach_the_input(cache):
    features = seg.course_features()
    features.train()  # a parent module switching to training must not change the batch-norm statistics
    assert not any(m.training for m in features.modules())
    assert not any(p.requires_grad for p in features.parameters())
    x = (torch.rand(2, 3, 48, 48) * 2 - 1).requires_grad_()
    maps = features(x)
    assert len(maps) == 5 and [m.shape[-1] for m in maps] == [24, 12, 6, 3, 2]
    maps[-1].sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    model = seg.CourseSegmenter((8, 8, 8, 8, 8))
    seg.CourseFeatures(model)
    assert all(p.requires_grad for p in model.parameters())  # a segmenter still being trained stays trainable


def test_perceptual_distance_weights_layers_and_spares_the_real_image(cache):
    features = seg.course_features()
    real = (torch.rand(2, 3, 64, 64) * 2 - 1).requires_grad_()
    fake = (real.detach() + 0.3 * torch.randn_like(real)).clamp(-1, 1).requires_grad_()
    assert seg.perceptual_distance(real.detach(), real.detach(), features=features).item() == 0
    d = seg.perceptual_distance(fake, real, features=features)
    d.backward()
    assert d.item() > 0 and fake.grad.abs().sum() > 0 and real.grad is None
    maps_f, maps_r = features(fake), features(real)
    by_hand = sum(w * (f - r).abs().mean() for w, f, r in zip(seg.PIX2PIXHD_WEIGHTS, maps_f, maps_r))
    assert d.item() == pytest.approx(by_hand.item(), rel=1e-5)
    only_last = seg.perceptual_distance(fake, real, weights=(0, 0, 0, 0, 1), features=features)
    assert only_last.item() == pytest.approx((maps_f[-1] - maps_r[-1]).abs().mean().item(), rel=1e-5)
    with pytest.raises(ValueError, match="expected 5 weights"):
        seg.perceptual_distance(fake, real, weights=(1, 1), features=features)
    assert seg.perceptual_distance(fake, real).item() == pytest.approx(d.item(), rel=1e-5)  # default: the cache's


def test_command_line_trains_ahead_of_time_and_prints_its_scores(cache, capsys):
    assert seg.main(["segmenter"]) == 0
    out = capsys.readouterr().out
    assert str(seg.segmenter_file(cache.size)) in out and "per-pixel acc" in out
    with pytest.raises(SystemExit):
        seg.main(["nonsense"])
