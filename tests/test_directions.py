"""The attribute judge, InterFaceGAN directions and facegan-directions, on tiny models and toy faces."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from cli_output import one_error_line  # noqa: E402
from conftest import write_checkpoint  # noqa: E402

from facegan.runtime import latents  # noqa: E402
from facegan.runtime.errors import UsageError  # noqa: E402
from facegan.train.checkpoint import load_checkpoint, save_checkpoint, sha256_file  # noqa: E402
from facegan.train.config import ModelConfig  # noqa: E402
from facegan.train.data import DataSpec, load_data, load_labels  # noqa: E402
from facegan.train.directions import find_directions, fit_boundary, measure_edits  # noqa: E402
from facegan.train.judge import Judge, train_judge  # noqa: E402

TOY = 400  # toy faces in the judge's data


@pytest.fixture(scope="module")
def toy():
    spec = DataSpec("toy-faces", 32, cache_dir=None, toy_faces=TOY, workers=0)
    data = load_data(spec)
    labels = load_labels(spec, data)
    return data.take(range(len(data))), labels


def test_judge_is_seeded_and_reads_uint8_and_float_alike(toy):
    images, labels = toy
    names = ["Eyeglasses", "Bald", "Dark_Skin"]
    cols = [labels.names.index(n) for n in names]
    a = train_judge(images, labels.values[:, cols], names, seed=3, steps=20)
    b = train_judge(images, labels.values[:, cols], names, seed=3, steps=20)
    assert a.names == tuple(names) and set(a.accuracy) == set(names) and a.holdout == 40
    assert all(0.0 <= v <= 1.0 for v in [*a.accuracy.values(), *a.balanced_accuracy.values()])
    pa, pb = a.predict(images[:16]), b.predict(images[:16])
    assert pa.shape == (16, 3) and pa.dtype == np.float32
    np.testing.assert_array_equal(pa, pb)
    as_float = images[:16].float() / 255.0  # the same pixels in [0, 1]
    np.testing.assert_allclose(a.predict(as_float, value_range=(0.0, 1.0)), pa, atol=1e-5)
    assert a.features(images[:4]).shape == (4, 128)
    assert set(a.read(images[:16]).ravel().tolist()) <= {0, 1}


def test_judge_learns_an_easy_attribute(toy):
    images, labels = toy
    j = labels.names.index("Dark_Skin")
    judge = train_judge(images, labels.values[:, [j]], ["Dark_Skin"], seed=0, steps=100)
    assert judge.accuracy["Dark_Skin"] >= 0.85, judge.accuracy
    assert judge.reliable(0.85) == ["Dark_Skin"] and judge.reliable(1.01) == []


def test_judge_refuses_mismatched_labels(toy):
    images, labels = toy
    with pytest.raises(UsageError, match="labels must be"):
        train_judge(images, labels.values, ["Smiling"], steps=1)
    with pytest.raises(UsageError, match="images but"):
        train_judge(images[:100], labels.values[:, :1], ["Smiling"], steps=1)


def test_fit_boundary_recovers_a_linear_rule():
    rng = np.random.default_rng(0)
    z = rng.standard_normal((2000, 20))
    w0 = rng.standard_normal(20)
    y = (z @ w0 + 0.3 > 0).astype(np.uint8)
    w, b = fit_boundary(z, y)
    cos = w @ w0 / (np.linalg.norm(w) * np.linalg.norm(w0))
    assert cos > 0.97
    assert ((z @ w + b > 0) == y).mean() > 0.97


class BrightnessJudge(Judge):
    """Reads "Bright" when a face's mean value is above the median of a reference batch: a linear-ish
    function of z for a tiny generator, so a boundary fits and an edit along it flips the reading."""

    def __init__(self, threshold: float):
        self.names, self.accuracy, self.threshold = ("Bright", "Top_Bright"), {"Bright": 1.0, "Top_Bright": 1.0}, threshold

    def read(self, images, value_range=(-1.0, 1.0)):
        x = torch.as_tensor(images).float()
        return np.stack([(x.mean((1, 2, 3)) > self.threshold).numpy(),
                         (x[:, :, :4].mean((1, 2, 3)) > 10.0).numpy()], axis=1).astype(np.uint8)


class LinearGenerator(torch.nn.Module):
    """tanh(W z) as a (3, 8, 8) image: its mean brightness is close to linear in z, so a boundary fits."""

    def __init__(self, dim: int = 16):
        super().__init__()
        self.linear = torch.nn.Linear(dim, 3 * 8 * 8)
        with torch.no_grad():
            self.linear.weight.copy_(torch.randn(3 * 8 * 8, dim, generator=torch.Generator().manual_seed(0)) * 0.1)
            self.linear.bias.zero_()

    def forward(self, z):
        return torch.tanh(self.linear(z)).reshape(-1, 3, 8, 8)


@pytest.fixture(scope="module")
def tiny_generator():
    cfg = dataclasses.replace(ModelConfig(), latent_dim=16)
    return LinearGenerator(cfg.latent_dim), cfg


def test_directions_of_a_readable_attribute_fit_and_edit(tiny_generator):
    g, cfg = tiny_generator
    with torch.no_grad():
        threshold = float(g(torch.from_numpy(latents(9, 400, cfg.latent_dim))).mean((1, 2, 3)).median())
    judge = BrightnessJudge(threshold)
    found = find_directions(g, cfg, judge, samples=400, seed=0)
    d = found.directions
    assert d["names"] == ["Bright"] and d["method"] == "interfacegan" and d["samples"] == 400
    assert "Top_Bright" in found.skipped and "too few" in found.skipped["Top_Bright"]
    assert abs(np.linalg.norm(np.asarray(d["vectors"][0], dtype=np.float64)) - 1.0) < 1e-12
    assert len(d["vectors"][0]) == cfg.latent_dim and d["accuracy"] == [1.0]
    assert d["boundary_accuracy"][0] > 0.8, d
    assert 0.3 < found.generated_share["Bright"] < 0.7
    edits = measure_edits(g, cfg, judge, d, latents(5, 100, cfg.latent_dim), alpha=3.0)
    assert edits["Bright"]["flip"] > 0.6 and edits["Bright"]["identity"] == 1.0 and edits["Bright"]["faces"] == 100
    again = find_directions(g, cfg, judge, samples=400, seed=0)
    assert again.directions == d  # seeded: the same vectors, bit for bit
    with pytest.raises(UsageError, match="reads no attribute"):
        find_directions(g, cfg, judge, names=["Smiling"], samples=400)


# ---------------------------------------------------------------------------------------------
# facegan-directions


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory):
    """runs/tiny: a tiny checkpoint trained (notionally) on 400 toy faces at 32 px."""
    root = tmp_path_factory.mktemp("runs")
    last = root / "tiny" / "checkpoints" / "last.pt"
    last.parent.mkdir(parents=True)
    write_checkpoint(last, ema=True)
    state = load_checkpoint(last)
    state["train_config"] = {**state["train_config"], "data": "toy-faces", "toy_faces": TOY, "workers": 0,
                             "cache_dir": str(root / ".cache")}
    save_checkpoint(state, last)
    return root / "tiny"


@pytest.fixture
def cli():
    from typer.testing import CliRunner

    from facegan.train import directions_cli

    def invoke(*args):
        return CliRunner().invoke(directions_cli.app, [*map(str, args)])

    return invoke


def test_cli_writes_directions_json_and_a_table(cli, toy_run):
    result = cli(toy_run, "--attributes", "Dark_Skin,Pale_Skin", "--samples", "100", "--judge-steps", "30")
    assert result.exit_code == 0, result.output
    written = toy_run / "directions.json"
    doc = json.loads(written.read_text())
    assert set(doc) == {"checkpoint_sha256", "weights", "directions"}
    assert doc["checkpoint_sha256"] == sha256_file(toy_run / "checkpoints" / "last.pt") and doc["weights"] == "ema"
    d = doc["directions"]
    assert set(d) == {"names", "vectors", "accuracy", "boundary_accuracy", "samples", "method"}
    assert set(d["names"]) <= {"Dark_Skin", "Pale_Skin"} and d["samples"] == 100
    for v in d["vectors"]:
        assert abs(np.linalg.norm(np.asarray(v)) - 1.0) < 1e-9
    assert "Dark_Skin" in result.stdout and "boundary accuracy" in result.stdout and f"wrote {written}" in result.stdout


def test_cli_raw_weights_and_an_out_file(cli, toy_run, tmp_path):
    out = tmp_path / "d.json"
    result = cli(toy_run / "checkpoints" / "last.pt", "--attributes", "Dark_Skin", "--samples", "100",
                 "--judge-steps", "5", "--weights", "raw", "--out", out)
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["weights"] == "raw"


def test_cli_mistakes_exit_2_with_one_line(cli, toy_run):
    result = cli(toy_run, "--attributes", "Smiling,Wings", "--samples", "100", "--judge-steps", "1")
    assert result.exit_code == 2
    assert "unknown attribute Wings" in one_error_line(result, "facegan-directions")
    result = cli(toy_run, "--attributes", " , ", "--judge-steps", "1")
    assert result.exit_code == 2 and "--attributes is empty" in one_error_line(result, "facegan-directions")


def test_cli_runtime_failures_exit_1(cli, toy_run, tmp_path):
    folder = tmp_path / "plain"
    folder.mkdir()
    from PIL import Image

    for i in range(3):
        Image.new("RGB", (32, 32), (i * 40, 0, 0)).save(folder / f"{i}.png")
    result = cli(toy_run, "--data", folder, "--judge-steps", "1")
    assert result.exit_code == 1
    assert "needs --labels" in one_error_line(result, "facegan-directions")
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a checkpoint")
    result = cli(broken)
    assert result.exit_code == 1 and "not a readable checkpoint" in one_error_line(result, "facegan-directions")
