"""Estimators overfit tiny real batches; Grad-CAM matches MONAI and passes the randomisation test."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.base import clone

from medkit.core.errors import DataError, NotFittedError
from medkit.imaging.classifier import ImageClassifier
from medkit.interpret.gradcam import grad_cam, randomisation_check, smooth_grad


def test_classifier_overfits_16_br35h_images(tiny_classifier: ImageClassifier, br35h_16) -> None:  # noqa: ANN001
    x, y, _ = br35h_16
    assert (tiny_classifier.predict(x) == y).mean() == 1.0
    assert tiny_classifier.history_[-1]["train_loss"] < 0.05
    p = tiny_classifier.predict_proba(x)
    np.testing.assert_allclose(p.sum(1), 1.0, atol=1e-6)


def test_classifier_is_an_sklearn_estimator(br35h_16) -> None:  # noqa: ANN001
    est = ImageClassifier(width=8, epochs=2)
    assert clone(est).get_params()["width"] == 8
    with pytest.raises(NotFittedError):
        est.predict(br35h_16[0])
    with pytest.raises(DataError, match="labels"):
        est.fit(br35h_16[0], br35h_16[1][:3])


def test_classifier_same_seed_same_numbers(br35h_16) -> None:  # noqa: ANN001
    x, y, _ = br35h_16
    a = ImageClassifier(width=4, epochs=2, seed=1).fit(x, y).predict_proba(x)
    b = ImageClassifier(width=4, epochs=2, seed=1).fit(x, y).predict_proba(x)
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_unet_overfits_one_drive_patch(shared_data: Path) -> None:
    from medkit.data import load_dataset
    from medkit.imaging.metrics import dice
    from medkit.imaging.prep import fundus_input
    from medkit.imaging.segmenter import UNetSegmenter

    case = load_dataset("drive", data_dir=shared_data, split="train").data["train"][0]
    img = fundus_input(case.image, case.fov)[:, 200:264, 200:264]  # (1, 64, 64) patch in the FOV
    mask = case.mask[200:264, 200:264]
    assert 0.05 < mask.mean() < 0.5
    seg = UNetSegmenter(channels=(8, 16, 32), patch_size=64, patches_per_image=8, roi_size=64, epochs=60,
                        batch_size=8, lr=1e-2, augment=False, fg_fraction=0.0)
    seg.fit([img], [mask])
    assert dice(seg.predict([img])[0], mask) > 0.9

    # A time budget ends training early and keeps the last epoch's weights (the Trainer's on_time_out).
    short = UNetSegmenter(channels=(8, 16, 32), patch_size=64, patches_per_image=8, roi_size=64, epochs=10_000,
                          batch_size=8, lr=1e-2, augment=False, fg_fraction=0.0, max_seconds=1.0)
    short.fit([img], [mask], val=([img], [mask], None))
    assert short.stopped_by_time_ and len(short.history_) < 10_000
    assert short.best_epoch_ == len(short.history_) - 1


def test_gradcam_matches_monai() -> None:
    from monai.networks.nets import ResNet
    from monai.visualize import GradCAM

    torch.manual_seed(0)
    net = ResNet(block="basic", layers=(1, 1, 1, 1), block_inplanes=[8, 16, 32, 64], spatial_dims=2,
                 n_input_channels=1, num_classes=2).eval()
    x = torch.randn(3, 1, 64, 64)
    ours = grad_cam(net, x, target_layer="layer3")
    # MONAI's default normaliser maps the maximum to 0 (for its colour maps), hence 1 - ref.
    ref = 1 - GradCAM(nn_module=net, target_layers="layer3")(x)[:, 0].detach().numpy()
    np.testing.assert_allclose(ours, ref, atol=1e-5)


def test_gradcam_randomisation_sanity(tiny_classifier: ImageClassifier, br35h_16) -> None:  # noqa: ANN001
    x = torch.from_numpy(br35h_16[0][:8, None])
    res = randomisation_check(tiny_classifier.model_, x, target_layer="net.layer3", class_idx=1)
    assert res.passed, res.spearman
    # Control: comparing the trained model with itself must give rho = 1 (the check can fail).
    same = grad_cam(tiny_classifier.model_, x, target_layer="net.layer3", class_idx=1)
    again = grad_cam(tiny_classifier.model_, x, target_layer="net.layer3", class_idx=1)
    np.testing.assert_allclose(same, again)
    sg = smooth_grad(tiny_classifier.model_, x[:2], n_samples=4)
    assert sg.shape == (2, 64, 64) and 0.0 <= sg.min() and sg.max() <= 1.0


def test_classifier_keeps_the_lowest_validation_loss_epoch(br35h_16) -> None:  # noqa: ANN001
    from medkit.core.errors import ConfigError

    x, y, _ = br35h_16
    # Validation labels are the training labels flipped, so the better the model fits, the worse its validation
    # loss: the kept epoch must be an early one, not the last (which the fitted weights would otherwise be).
    yv = 1 - y
    clf = ImageClassifier(width=4, epochs=5, batch_size=8, augment=False, patience=None, seed=0).fit(x, y, x, yv)
    losses = [h["val_loss"] for h in clf.history_]
    assert clf.best_epoch_ == int(np.argmin(losses)) < len(losses) - 1
    # The restored weights are that epoch's: recomputing the validation loss reproduces its logged value.
    p = clf.predict_proba(x)[:, 1]
    ce = -np.mean(np.where(yv == 1, np.log(p), np.log(1 - p)))
    assert ce == pytest.approx(losses[clf.best_epoch_], rel=1e-4)
    with pytest.raises(ConfigError, match="monitor"):
        ImageClassifier(width=4, epochs=1, monitor="val_f1").fit(x, y, x, y)
