"""Tests of course_utils.evaluation: pixel metrics, the FCN-score, KID in course features, diversity, results page."""

from __future__ import annotations

import re

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from course_utils.evaluation import (
    confusion_matrix,
    diversity,
    evaluate,
    fcn_score,
    kid_course_features,
    label_classes,
    plot_diversity,
    segmentation_scores,
    write_results_page,
)
from course_utils.segmenter import CourseFeatures, CourseSegmenter
from course_utils.synthetic import FACADE_PALETTE


def test_evaluate_scores_a_perfect_generator_and_uses_eval_mode():
    x = torch.rand(4, 3, 16, 16) * 2 - 1
    loader = DataLoader(TensorDataset(x, x.clone()), batch_size=2)
    perfect = nn.Sequential(nn.Dropout(0.9))  # the identity in eval mode only
    perfect.train()
    metrics = evaluate(perfect, loader, "cpu")
    assert metrics["L1"] == 0 and metrics["PSNR"] == float("inf") and metrics["SSIM"] == pytest.approx(1.0, abs=1e-6)
    assert perfect.training  # mode given back

    class Noisy(nn.Module):
        def forward(self, t: torch.Tensor) -> torch.Tensor:
            return t + 0.2 * torch.randn_like(t)

    noisy = evaluate(Noisy(), loader, "cpu")
    assert 0.05 < noisy["L1"] < 0.15 and 10 < noisy["PSNR"] < 30 and noisy["SSIM"] < 0.95


def test_results_page_has_metrics_images_and_escapes_html(tmp_path):
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    history = {"step": [1, 2, 3], "G": [1.0, 0.8, 0.7], "D": [0.7, 0.69, 0.68]}
    title = "Facades <b>labels</b> & photos"
    page = write_results_page(tmp_path, (x, x * 0.5, x), {"PSNR": 21.25, "L1 <raw>": 0.125}, history, title,
                              captions=["first", "<second>"])
    assert page == tmp_path / "index.html"
    text = page.read_text()
    assert "Facades &lt;b&gt;labels&lt;/b&gt; &amp; photos" in text and "<b>labels</b>" not in text
    assert "21.2500" in text and "L1 &lt;raw&gt;" in text and "0.1250" in text
    assert "&lt;second&gt;" in text and "<second>" not in text
    links = re.findall(r'<img src="([^"]+)"', text)
    assert len(links) == 2 * 3 + 1 and "losses.png" in links
    assert all((tmp_path / link).is_file() for link in links)


# ---------------------------------------------------------------------------------------------------------
# The FCN-score's numbers, on hand-built cases

TRUTH = torch.tensor([0] * 6 + [1] * 3 + [2])  # 10 pixels of three classes; classes 3 to 11 never appear


def _scores(predicted, truth=TRUTH):
    return segmentation_scores(confusion_matrix(torch.as_tensor(predicted), truth))


def test_a_perfect_prediction_scores_one():
    assert _scores(TRUTH) == {"per-pixel acc": 1.0, "per-class acc": 1.0, "class IoU": 1.0}


def test_a_constant_prediction_scores_what_we_compute_by_hand():
    # All "1": 3 of 10 pixels right; per class 0/6, 3/3, 0/1; IoU 0/6, 3/(3 + 10 - 3), 0/1. The nine classes
    # absent from truth and prediction are left out of both means (not counted as 0, nor as 1).
    scores = _scores(torch.ones(10, dtype=torch.long))
    assert scores["per-pixel acc"] == pytest.approx(0.3)
    assert scores["per-class acc"] == pytest.approx((0 + 1 + 0) / 3)
    assert scores["class IoU"] == pytest.approx((0 + 0.3 + 0) / 3)


def test_a_class_predicted_but_never_true_counts_in_the_iou_only():
    truth, predicted = torch.zeros(4, dtype=torch.long), torch.tensor([0, 0, 5, 5])
    scores = _scores(predicted, truth)
    assert scores["per-pixel acc"] == 0.5 and scores["per-class acc"] == 0.5  # class 5 has no pixel to get right
    assert scores["class IoU"] == pytest.approx((2 / 4 + 0) / 2)


def test_confusion_matrix_counts_rows_of_truth_and_skips_ignored_pixels():
    truth, predicted = torch.tensor([[0, 1], [255, 1]]), torch.tensor([[0, 2], [3, 1]])
    counts = confusion_matrix(predicted, truth, n_classes=4)
    assert counts.sum() == 3 and counts[0, 0] == 1 and counts[1, 2] == 1 and counts[1, 1] == 1
    with pytest.raises(ValueError, match="class indices from 0 to 3"):
        confusion_matrix(torch.tensor([7]), torch.tensor([0]), n_classes=4)
    with pytest.raises(ValueError, match="differ in shape"):
        confusion_matrix(torch.zeros(2, 2), torch.zeros(4))
    with pytest.raises(ValueError, match="empty"):
        segmentation_scores(torch.zeros(3, 3))


def _colour_maps(classes: torch.Tensor) -> torch.Tensor:
    """Class maps (N, H, W) as colour label maps (N, 3, H, W) in [-1, 1]."""
    return torch.from_numpy(FACADE_PALETTE[classes.numpy()]).permute(0, 3, 1, 2).float() / 127.5 - 1


def test_label_classes_reads_palette_colours_and_ignores_border_blends():
    classes = torch.arange(12).reshape(1, 3, 4)
    assert torch.equal(label_classes(_colour_maps(classes)), classes)
    blend = (_colour_maps(torch.tensor([[[2]]])) + _colour_maps(torch.tensor([[[5]]]))) / 2
    assert label_classes(blend).item() == 255 and label_classes(blend, max_distance=None).item() != 255


class ColourReader(nn.Module):
    """A stand-in segmenter that reads each pixel's palette colour: it labels a label map perfectly."""

    def predict(self, images: torch.Tensor, size=None) -> torch.Tensor:
        return label_classes(images, max_distance=None)


class Constant(nn.Module):
    """A generator that paints every pixel in the colour of one class, whatever its input."""

    def __init__(self, cls: int) -> None:
        super().__init__()
        self.colour = nn.Parameter(_colour_maps(torch.tensor([[[cls]]]))[0, :, 0, 0], requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.colour[None, :, None, None].expand(len(x), 3, *x.shape[-2:])


def test_fcn_score_of_hand_built_generators_and_the_real_row():
    classes = torch.tensor([0] * 32 + [1] * 24 + [2] * 8).reshape(1, 8, 8).repeat(2, 1, 1)
    labels = _colour_maps(classes)
    photos = _colour_maps(torch.ones_like(classes))  # "real photos" that the reader sees as all class 1
    data = [(labels, photos)]
    copy = nn.Sequential(nn.Identity(), nn.Dropout(0.5))  # copies the label map in eval mode only
    copy.train()
    scores = fcn_score(copy, data, ColourReader())
    assert scores["generated"] == {"per-pixel acc": 1.0, "per-class acc": 1.0, "class IoU": 1.0}
    assert copy.training  # mode given back
    # The real row reads all "1": 24 of 64 right; per class 0, 1, 0; IoU 0, 24/64, 0.
    assert scores["real"]["per-pixel acc"] == pytest.approx(24 / 64)
    assert scores["real"]["per-class acc"] == pytest.approx(1 / 3)
    assert scores["real"]["class IoU"] == pytest.approx(24 / 64 / 3)
    constant = fcn_score(Constant(0), [(labels, photos, classes)], ColourReader())["generated"]
    assert constant == pytest.approx({"per-pixel acc": 0.5, "per-class acc": 1 / 3, "class IoU": 0.5 / 3})
    with pytest.raises(ValueError, match="no batch"):
        fcn_score(copy, [], ColourReader())
    with pytest.raises(ValueError, match=r"expected batches of \(label maps, photos\)"):
        fcn_score(copy, [(labels,)], ColourReader())


def test_fcn_score_reads_a_facades_dataset_with_exact_classes(tmp_path):
    from course_utils.data import PairedImageDataset, write_synthetic_facades

    write_synthetic_facades(tmp_path / "facades", 8, size=64, splits={"test": 1})
    copy = nn.Sequential(nn.Identity())
    scores = fcn_score(copy, PairedImageDataset(tmp_path / "facades", "test", size=64), ColourReader())
    assert scores["generated"]["per-pixel acc"] > 0.97  # only JPEG noise on the label maps' borders


# ---------------------------------------------------------------------------------------------------------
# KID in course features, and diversity


def test_kid_in_course_features_is_labelled_repeatable_and_grows_with_the_gap():
    torch.manual_seed(0)
    features = CourseFeatures(CourseSegmenter((8, 8, 8, 8, 8), size=32).eval())
    labels, photos = torch.rand(24, 3, 32, 32) * 2 - 1, torch.rand(24, 3, 32, 32) * 2 - 1
    data = [(labels[i:i + 8], photos[i:i + 8]) for i in range(0, 24, 8)]
    same = nn.Sequential(nn.Identity())
    close = kid_course_features(same, [(p, p) for _, p in data], features, subsets=20)
    far = kid_course_features(Constant(3), data, features, subsets=20)
    assert set(close) == {"KID (course features)", "KID (course features) std"}
    assert not any("FID" in key for key in close)
    assert abs(close["KID (course features)"]) < 1e-6 < far["KID (course features)"]
    assert kid_course_features(Constant(3), data, features, subsets=20) == far  # the subsets come from `seed`
    with pytest.raises(ValueError, match="at least 2 images"):
        kid_course_features(same, [(labels[:1], photos[:1])], features)


def test_diversity_with_dropout_on_and_off():
    generator = nn.Sequential(nn.Conv2d(3, 3, 3, padding=1), nn.BatchNorm2d(3), nn.Dropout(0.5), nn.Tanh())
    generator.train()
    inputs = torch.rand(2, 3, 16, 16) * 2 - 1
    result = diversity(generator, inputs, n_samples=10)
    assert result.dropout_on > 0.05 and result.dropout_off == 0.0
    assert result.samples_on.shape == (10, 3, 16, 16) and result.std_on.shape == (16, 16)
    assert generator.training and generator[1].training  # modes given back
    assert diversity(generator, inputs, n_samples=10).dropout_on == result.dropout_on  # seeded
    fig = plot_diversity(result)
    titles = [ax.get_title() for ax in fig.axes]
    assert "input" in titles and any("dropout on" in t for t in titles) and any("dropout off" in t for t in titles)
    with pytest.raises(ValueError, match="at least 2"):
        diversity(generator, inputs, n_samples=1)
