"""IASM training: the loss, augmentations that move fixations with the pixels, exact resume."""

import random

import numpy as np
import pytest
import torch

from asemllm.saliency.train import TrainConfig, augment, saliency_loss, targets, train


def test_loss_is_best_for_the_target_itself():
    dens, fix = targets([np.array([[10.5, 20.5], [40.2, 30.7]])], [3.0], 64)
    assert dens.sum().item() == pytest.approx(1.0, abs=1e-5) and fix.sum().item() == 2
    perfect = torch.log(dens.clamp(min=1e-30))
    uniform = torch.full_like(dens, -np.log(64 * 64))
    loss_good, good = saliency_loss(perfect, dens, fix)
    loss_flat, flat = saliency_loss(uniform + 1e-4 * torch.randn_like(uniform), dens, fix)
    assert good["kld"] == pytest.approx(0.0, abs=1e-4) and good["cc"] == pytest.approx(1.0, abs=1e-4)
    assert loss_good < loss_flat and flat["cc"] < 0.1


def test_augmentation_moves_fixations_with_the_pixels():
    """Bright dots drawn at the fixations stay under the moved fixations after augmentation."""
    S = 96
    pts = np.array([[20.5, 30.5], [70.5, 60.5], [48.5, 15.5]])
    img = torch.zeros(3, S, S, dtype=torch.uint8)
    for x, y in pts.astype(int):
        img[:, y - 1:y + 2, x - 1:x + 2] = 255
    for seed in range(20):
        x, moved = augment(img, pts, random.Random(seed))
        for px, py in moved:
            i, j = int(py), int(px)
            assert x[:, max(i - 2, 0):i + 3, max(j - 2, 0):j + 3].mean(0).max() > 0.5, (seed, px, py)


@pytest.mark.slow
def test_training_resumes_exactly(shared_data, tmp_path):
    """Two epochs in one go equal one epoch, a stop, and a resumed second epoch."""
    nus = str(shared_data / "saliency" / "nus_scene")
    cfg = dict(data=nus, epochs=2, batch_size=4, limit=8)
    full = train(TrainConfig(out=str(tmp_path / "a"), **cfg), log=lambda *_: None)
    with pytest.raises(KeyboardInterrupt):  # killed right after epoch 1's checkpoint
        train(TrainConfig(out=str(tmp_path / "b"), **cfg), log=_kill_after_epoch_1)
    resumed = train(TrainConfig(out=str(tmp_path / "b"), **cfg), log=lambda *_: None)
    assert [h["cc"] for h in resumed["history"]] == [h["cc"] for h in full["history"]]
    a = torch.load(tmp_path / "a" / "last.pt", weights_only=False)["model"]
    b = torch.load(tmp_path / "b" / "last.pt", weights_only=False)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert (tmp_path / "a" / "best.safetensors").is_file()


def _kill_after_epoch_1(line):
    if line.startswith('{"epoch": 1,'):
        raise KeyboardInterrupt
