"""KID and precision/recall: known answers worked out by hand, and their behaviour on samples."""

from __future__ import annotations

import numpy as np
import pytest

from facegan.runtime.errors import UsageError
from facegan.train.scores import kid, mmd2_unbiased, precision_recall


def test_mmd2_known_answer_by_hand():
    # d = 1, k(a, b) = (a*b + 1)^3. x = {0, 1}, y = {2, 3}:
    # k_xx off-diagonal: k(0,1) = 1 (twice); k_yy: k(2,3) = 7^3 = 343 (twice);
    # k_xy: k(0,2) = 1, k(0,3) = 1, k(1,2) = 27, k(1,3) = 64 -> mean 93/4.
    # MMD^2 = (2*1)/(2*1) + (2*343)/(2*1) - 2 * 93/4 = 1 + 343 - 46.5 = 297.5
    x = np.array([[0.0], [1.0]])
    y = np.array([[2.0], [3.0]])
    assert mmd2_unbiased(x, y) == pytest.approx(297.5)
    assert kid(x, y, num_subsets=3)[0] == pytest.approx(297.5)  # subsets of all of each: the same value


def test_kid_is_about_zero_for_one_distribution_and_grows_with_the_shift():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((600, 16)), rng.standard_normal((600, 16))
    same, spread = kid(a, b, num_subsets=20, subset_size=300)
    assert abs(same) < 3 * spread + 1e-3
    shifted = [kid(a, b + s, num_subsets=20, subset_size=300)[0] for s in (0.25, 0.5, 1.0)]
    assert same < shifted[0] < shifted[1] < shifted[2]


def test_kid_does_not_drift_with_the_sample_count():
    # The point of KID: unbiased, so small samples estimate the same value (FID would grow).
    rng = np.random.default_rng(1)
    real, fake = rng.standard_normal((2000, 8)), rng.standard_normal((2000, 8)) + 0.5
    small = kid(real, fake, num_subsets=50, subset_size=100)[0]
    large = kid(real, fake, num_subsets=10, subset_size=1000)[0]
    assert small == pytest.approx(large, rel=0.15)


def test_precision_recall_known_answer_by_hand():
    # 1-D, k = 1. real = {0, 1, 2, 10}: nearest-neighbour radii 1, 1, 1, 8.
    # fake = {0.5, 5, 30, 31}: radii 4.5, 4.5, 1, 1.
    # precision: 0.5 is within 1 of 0 (yes); 5 is within 8 of 10 (yes); 30, 31 no -> 2/4.
    # recall: 0 within 4.5 of 0.5 (yes); 1, 2 (yes); 10 within 4.5 of 5? no (5 > 4.5) -> 3/4.
    real = np.array([[0.0], [1.0], [2.0], [10.0]])
    fake = np.array([[0.5], [5.0], [30.0], [31.0]])
    assert precision_recall(real, fake, k=1) == (0.5, 0.75)


def test_precision_recall_of_a_set_with_itself_and_of_a_collapsed_set():
    rng = np.random.default_rng(2)
    real = rng.standard_normal((400, 4))
    assert precision_recall(real, real) == (1.0, 1.0)
    collapsed = real[:1].repeat(400, axis=0) + 1e-3 * rng.standard_normal((400, 4))  # one mode
    precision, recall = precision_recall(real, collapsed)
    assert precision == 1.0 and recall < 0.05  # realistic but covers nothing


def test_bad_features_are_usage_errors():
    with pytest.raises(UsageError, match="features"):
        kid(np.zeros(5), np.zeros((5, 2)))
    with pytest.raises(UsageError, match="sizes differ"):
        kid(np.zeros((5, 2)), np.zeros((5, 3)))
    with pytest.raises(UsageError, match="more than 3"):
        precision_recall(np.zeros((3, 2)), np.zeros((9, 2)))
