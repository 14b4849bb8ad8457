"""DiffAugment: each operation does what it says, per image, and lets gradients through."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from facegan.runtime.errors import UsageError  # noqa: E402
from facegan.train.augment import cutout, diff_augment, translation  # noqa: E402
from facegan.train.config import TrainConfig  # noqa: E402


def test_the_policy_is_checked_and_stored_canonically():
    from facegan.train.config import resolve

    _, cfg = resolve("dcgan", {}, {"diffaug": "color, translation,cutout"})
    assert cfg.diffaug == "color,translation,cutout"
    with pytest.raises(UsageError, match="unknown augmentation flip"):
        resolve("dcgan", {}, {"diffaug": "color,flip"})
    with pytest.raises(UsageError, match="unknown augmentation"):
        TrainConfig(diffaug="blur").validate()


def test_translation_shifts_whole_images_and_fills_with_zeros():
    torch.manual_seed(0)
    x = torch.rand(64, 3, 16, 16) + 1.0  # no zeros inside
    y = translation(x)
    for i in range(len(x)):
        # Every output pixel is either padding (0) or an input pixel moved by one common shift.
        nonzero = y[i].abs().sum(0) > 0
        rows, cols = nonzero.nonzero(as_tuple=True)
        top, left = int(rows.min()), int(cols.min())
        h, w = int(rows.max()) - top + 1, int(cols.max()) - left + 1
        assert h >= 16 - 2 and w >= 16 - 2  # shift at most 16/8 = 2 pixels
        dy = 0 if top == 0 and h == 16 else (top if top > 0 else -(16 - h))
        dx = 0 if left == 0 and w == 16 else (left if left > 0 else -(16 - w))
        expected = torch.roll(x[i], shifts=(dy, dx), dims=(1, 2))
        assert torch.equal(y[i][:, nonzero], expected[:, nonzero])
        assert int(nonzero.sum()) == h * w
    shifted = sum(not torch.equal(y[i], x[i]) for i in range(len(x)))
    assert shifted > 40  # 24 of 25 shifts move the image


def test_cutout_zeros_one_square_of_half_the_side_per_image():
    torch.manual_seed(1)
    x = torch.ones(64, 3, 16, 16)
    y = cutout(x)
    erased = (y[:, 0] == 0)
    assert torch.equal(erased.unsqueeze(1).expand_as(y), y == 0)  # the same pixels in every channel
    counts = erased.flatten(1).sum(1)
    assert counts.max() == 64 and counts.min() > 0  # 8x8 at most; clipped at the border
    assert len(set(counts.tolist())) > 3  # the position differs per image


def test_diff_augment_passes_gradients_and_is_seeded():
    x = torch.rand(8, 3, 16, 16, requires_grad=True)
    torch.manual_seed(2)
    y = diff_augment(x, "color,translation,cutout")
    y.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    torch.manual_seed(2)
    assert torch.equal(diff_augment(x.detach(), "color,translation,cutout"), y.detach())
    assert torch.equal(diff_augment(x.detach(), ""), x.detach())
