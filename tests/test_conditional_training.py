"""Conditional training end to end: --condition and --labels, the checkpoint's attributes, the
attribute grids, exact resume, and the export of a conditional model (two inputs, version 2)."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from typer.testing import CliRunner

from facegan.runtime.attributes import attribute_vectors
from facegan.runtime.errors import UsageError
from facegan.train.checkpoint import TRAINED_WITHOUT, load_checkpoint
from facegan.train.cli import app
from facegan.train.conditioning import conditioning
from facegan.train.data.labels import Labels
from facegan.train.toyface_params import ATTRIBUTES, toy_face_attributes

CONDITION = "Smiling,Eyeglasses,Bald,Blond_Hair"
TINY = ["--data", "toy-faces", "--toy-faces", "64", "--image-size", "32", "--ngf", "8", "--ndf", "8",
        "--batch-size", "16", "--workers", "0", "--quiet", "--log-every", "1"]
runner = CliRunner()


def run_cli(*args):
    return runner.invoke(app, [str(a) for a in args])


def _train(tmp_path: Path, *args, name: str = "run") -> Path:
    result = run_cli(*TINY, "--out", tmp_path, "--name", name, *args)
    assert result.exit_code == 0, result.output
    return tmp_path / name


def _labels() -> Labels:
    values = np.array([[1, 0, 0], [1, 1, 0], [0, 0, 1], [1, 0, 0]], dtype=np.uint8)
    return Labels(("A", "B", "C"), values, "labels.csv")


def test_conditioning_picks_columns_in_the_order_asked():
    cond = conditioning("C,A", _labels())
    assert cond.names == ("C", "A")
    assert cond.values.tolist() == [[0, 1], [0, 1], [1, 0], [0, 1]]
    assert cond.summary["names"] == ["C", "A"] and cond.summary["frequencies"] == [0.25, 0.75]
    assert cond.summary["prior"] == {"vectors": ["01", "10"], "counts": [3, 1]}
    assert cond.batch([2, 0]).tolist() == [[1.0, 0.0], [0.0, 1.0]]
    assert conditioning("all", _labels()).names == ("A", "B", "C")
    assert conditioning("", _labels()) is None


@pytest.mark.parametrize("condition, message", [("A,Z", "no attribute Z"), ("A,A", "twice")])
def test_conditioning_refuses_names_it_cannot_honour(condition, message):
    with pytest.raises(UsageError, match=message):
        conditioning(condition, _labels())


def test_a_conditional_run_records_its_attributes_and_draws_grids(tmp_path):
    run = _train(tmp_path, "--condition", CONDITION, "--epochs", "1")
    ckpt = load_checkpoint(run)
    names = CONDITION.split(",")
    assert ckpt["model_config"]["num_attributes"] == 4
    assert ckpt["attributes"]["names"] == names and ckpt["attributes"]["rows"] == 64
    truth = toy_face_attributes(64, 0)[:, [ATTRIBUTES.index(n) for n in names]]
    assert ckpt["attributes"]["frequencies"] == pytest.approx(truth.mean(axis=0).tolist(), abs=1e-6)
    assert sum(ckpt["attributes"]["prior"]["counts"]) == 64
    assert json.loads((run / "config.json").read_text())["model"]["num_attributes"] == 4
    grid = Image.open(run / "samples" / "attributes-001.png")
    # 8 faces a row, one row per attribute on and one off; torchvision pads 2 px around each face
    assert grid.size == (8 * 34 + 2, 2 * 4 * 34 + 2)
    assert (run / "samples" / "epoch-001.png").is_file() and (run / "morph.gif").is_file()


def test_the_attribute_grid_switches_one_attribute_and_keeps_the_rest(tmp_path):
    """Rows are the runtime's draws with one attribute requested on, then off: the other attributes
    of each face stay as the prior allows, and the pixels follow the attributes."""
    from conftest import TEST_ATTRIBUTES, write_checkpoint
    from facegan.export.generator import load_generator
    from facegan.train.sampling import attribute_grid

    loaded = load_generator(write_checkpoint(tmp_path / "c.pt", preset="facegan", attributes=True))
    space, k = loaded.space, len(TEST_ATTRIBUTES)
    z = torch.from_numpy(np.random.default_rng(0).standard_normal((8, 100), dtype=np.float32))
    grid = attribute_grid(loaded.generator, z, space, loaded.value_range, seed=5)
    assert grid.shape == (2 * k * 8, 3, 32, 32) and 0 <= grid.min() and grid.max() <= 1
    faces = grid.reshape(2 * k, 8, -1)
    for a, name in enumerate(TEST_ATTRIBUTES):
        on, off = attribute_vectors(space, 8, 5, {name: 1}), attribute_vectors(space, 8, 5, {name: 0})
        assert (on[:, a] == 1).all() and (off[:, a] == 0).all()
        changed = (on != off).any(axis=1)
        assert (faces[2 * a][changed] - faces[2 * a + 1][changed]).abs().mean() > 0.01, name
    assert (faces[0, 0] - faces[0, 1]).abs().mean() > 0.01  # columns are different faces


def test_conditional_resume_is_exact(tmp_path):
    straight = _train(tmp_path, "--condition", CONDITION, "--steps", "6", name="straight")
    stopped = _train(tmp_path, "--condition", CONDITION, "--steps", "2", name="stopped")
    result = run_cli("--resume", stopped, "--steps", "6", "--quiet")
    assert result.exit_code == 0, result.output
    a, b = load_checkpoint(straight), load_checkpoint(stopped)
    for key in ("generator", "discriminator"):
        assert all(torch.equal(a[key][k], b[key][k]) for k in a[key]), key
    assert a["attributes"] == b["attributes"]


def test_the_labels_reach_d_and_g(tmp_path, monkeypatch):
    """Every step feeds each image's own labels to D (real and fake) and to G."""
    from facegan.train import step

    seen = []
    real_step = step.train_step

    def spy(s, real_u8, nets=None, attributes=None):
        seen.append(attributes)
        return real_step(s, real_u8, nets, attributes)

    monkeypatch.setattr(step, "train_step", spy)
    _train(tmp_path, "--condition", "Eyeglasses", "--steps", "4")
    assert len(seen) == 4 and all(a.shape == (16, 1) and a.dtype == torch.float32 for a in seen)
    assert torch.cat(seen).sum() > 0  # some faces wear glasses


def test_a_folder_trains_on_its_labels_csv(tmp_path):
    folder = tmp_path / "digits"
    folder.mkdir()
    rows = []
    rng = np.random.default_rng(0)
    for i in range(32):
        Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(folder / f"{i:03d}.png")
        rows.append({"file": f"{i:03d}.png", "label": str(i % 3)})
    with open(tmp_path / "labels.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["file", "label"])
        writer.writeheader()
        writer.writerows(rows)
    run = _train(tmp_path, "--data", folder, "--labels", tmp_path / "labels.csv", "--condition", "all",
                 "--steps", "2", "--batch-size", "8")
    summary = load_checkpoint(run)["attributes"]
    assert summary["names"] == ["label=0", "label=1", "label=2"]
    assert summary["prior"]["vectors"] == ["010", "100", "001"]  # one-hot; 11, 11, 10 rows: ties by string


@pytest.mark.parametrize("args, message", [
    (["--condition", "Smiling,Nope"], "no attribute Nope"),
    (["--labels", "x.csv"], "--labels is read only for --condition"),
])
def test_bad_conditions_exit_2_with_one_line(tmp_path, args, message):
    result = run_cli(*TINY, "--out", tmp_path, "--steps", "1", *args)
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "toy-faces").exists()  # the run directory is never made


def test_resume_refuses_other_attributes(tmp_path):
    run = _train(tmp_path, "--condition", "Smiling", "--steps", "1")
    ckpt = load_checkpoint(run)
    from facegan.train.conditioning import check_resumed

    with pytest.raises(UsageError, match="same --condition"):
        check_resumed(conditioning("Eyeglasses", Labels(("Eyeglasses",), np.zeros((2, 1), np.uint8), "x")), ckpt)


# -- export -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def conditional_onnx(tmp_path_factory):
    from conftest import write_checkpoint
    from facegan.export import export_onnx

    folder = tmp_path_factory.mktemp("conditional")
    ckpt = write_checkpoint(folder / "ckpt.pt", preset="facegan", attributes=True)
    result = export_onnx(ckpt, folder / "c.onnx", output="float")
    return ckpt, result


def test_a_conditional_export_has_two_inputs_and_version_2(conditional_onnx):
    ckpt, result = conditional_onnx
    model = onnx.load(str(result.path))
    inputs = {i.name: [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim] for i in model.graph.input}
    assert list(inputs) == ["z", "attributes"]
    assert inputs["attributes"][1] == 4 and inputs["z"][0] == inputs["attributes"][0]  # one batch axis
    meta = result.metadata
    assert meta["facegan.format_version"] == "2" and meta["facegan.attributes_input"] == "attributes"
    assert json.loads(meta["facegan.attributes"]) == load_checkpoint(ckpt)["attributes"]
    assert "facegan.directions" not in meta


def test_conditional_parity_covers_both_inputs(conditional_onnx, monkeypatch):
    """The parity cases feed attributes; an artifact that ignores them fails."""
    from facegan.export import parity
    from facegan.export.onnx import check, runner

    ckpt, result = conditional_onnx
    assert result.parity["passed"] and result.parity["num_cases"] > 0
    data = result.path.read_bytes()
    real = runner(data)
    monkeypatch.setattr("facegan.export.onnx.runner", lambda d: lambda v, z, a=None: real(v, z, np.zeros_like(a)))
    with pytest.raises(parity.ParityMismatchError):
        check(data, ckpt, artifact="c.onnx", batch_sizes=(3,), seeds=(0,), atol=None)


def test_case_attributes_mix_prior_draws_and_sliders(conditional_onnx):
    from facegan.export.generator import load_generator
    from facegan.export.parity import case_attributes

    space = load_generator(conditional_onnx[0]).space
    rows = case_attributes(space, 5, 3)
    assert np.array_equal(rows[:-1], attribute_vectors(space, 5, 3)[:-1])
    assert ((rows[-1] > 0) & (rows[-1] < 1)).all()


def test_directions_go_into_the_export_only_for_their_weights(tmp_path):
    from conftest import write_checkpoint
    from facegan.export import export_onnx
    from facegan.train.checkpoint import sha256_file

    run = tmp_path / "run"
    ckpt = write_checkpoint(run / "checkpoints" / "last.pt")
    vectors = np.eye(2, 100)
    directions = {"names": ["Smiling", "Bald"], "vectors": vectors.tolist(), "accuracy": [0.99, 0.98],
                  "boundary_accuracy": [0.9, 0.8], "samples": 100, "method": "interfacegan"}
    record = {"checkpoint_sha256": sha256_file(ckpt), "weights": "raw", "directions": directions}
    (run / "directions.json").write_text(json.dumps(record))
    result = export_onnx(run, tmp_path / "a.onnx")
    assert json.loads(result.metadata["facegan.directions"])["names"] == ["Smiling", "Bald"]
    assert result.metadata["facegan.format_version"] == "1" and not result.notes
    (run / "directions.json").write_text(json.dumps({**record, "checkpoint_sha256": "0" * 64}))
    result = export_onnx(run, tmp_path / "b.onnx")
    assert "facegan.directions" not in result.metadata
    assert len(result.notes) == 1 and "facegan-directions again" in result.notes[0]


def test_a_conditional_checkpoint_of_facegan_0_2_0_exports_and_resumes(tmp_path):
    """0.2.0 wrote no conditional_recipe and had neither conditional BatchNorm in G nor D's classifier
    network: such a checkpoint reads as recipe 1, exports with parity, and resumes to the end."""
    from facegan.export import export_onnx
    from facegan.train.checkpoint import save_checkpoint
    from facegan.train.config import ModelConfig, from_dict
    from facegan.train.models import build_models

    run = _train(tmp_path, "--condition", CONDITION, "--steps", "2")
    last = run / "checkpoints" / "last.pt"
    ckpt = load_checkpoint(last)
    assert ckpt["model_config"]["conditional_recipe"] == 2
    old_cfg = {k: v for k, v in ckpt["model_config"].items() if k != "conditional_recipe"}
    g, d = build_models(from_dict(ModelConfig, {**old_cfg, "conditional_recipe": 1}), seed=1)
    assert not any(k.startswith("film.") for k in g.state_dict()) and "classify.weight" in d.state_dict()
    with torch.no_grad():
        g.embed.weight.normal_(0.0, 1.0)  # so the attributes visibly matter
    old_train = {k: v for k, v in ckpt["train_config"].items() if k not in TRAINED_WITHOUT}
    old = {**ckpt, "model_config": old_cfg, "train_config": old_train, "generator": g.state_dict(),
           "generator_ema": None if ckpt["generator_ema"] is None else g.state_dict(),
           "discriminator": d.state_dict(), "facegan_version": "0.2.0",
           "optimizer_g": torch.optim.Adam(g.parameters()).state_dict(),
           "optimizer_d": torch.optim.Adam(d.parameters()).state_dict()}
    save_checkpoint(old, last)
    loaded = load_checkpoint(last)
    assert loaded["model_config"]["conditional_recipe"] == 1
    assert {k: loaded["train_config"][k] for k in TRAINED_WITHOUT} == TRAINED_WITHOUT
    result = export_onnx(run, tmp_path / "old.onnx", output="float")  # parity runs inside
    assert result.metadata["facegan.format_version"] == "2"
    resumed = run_cli("--resume", run, "--steps", "4", "--quiet")
    assert resumed.exit_code == 0, resumed.output
    done = load_checkpoint(last)
    assert done["step"] == 4 and done["model_config"]["conditional_recipe"] == 1
    assert {k: done["train_config"][k] for k in TRAINED_WITHOUT} == TRAINED_WITHOUT  # trained on as it was
    assert "classify.weight" in done["discriminator"]


def test_fid_scores_a_conditional_model_with_prior_attributes_eager_and_onnx_alike(conditional_onnx):
    """facegan-fid's two paths (the checkpoint, the export) draw the same attributes for the same faces."""
    from facegan.export.generator import load_generator
    from facegan.train.fid import generator_features, onnx_features

    ckpt, result = conditional_onnx
    loaded = load_generator(ckpt)
    pixels = lambda batch: np.asarray(batch, dtype=np.float64).reshape(len(batch), -1)  # noqa: E731
    eager = generator_features(loaded.generator, 100, loaded.value_range, 6, inception=pixels, space=loaded.space,
                               batch_size=4)
    exported = onnx_features(result.path, 6, inception=pixels, batch_size=4)
    assert np.abs(eager - exported).max() <= 1  # uint8 levels


def _conditional_state(**train_overrides):
    from facegan.train.config import resolve
    from facegan.train.state import build_state

    model_cfg, train_cfg = resolve("facegan", {"image_size": 32, "ngf": 8, "ndf": 8, "num_attributes": 2},
                                   {"batch_size": 8, "device": "cpu", **train_overrides})
    return build_state(model_cfg, train_cfg, torch.device("cpu"), total_steps=100)


@pytest.mark.parametrize("loss", ["hinge", "bce", "wgan-gp"])
def test_the_attribute_classifier_loss_trains_d_and_g(loss):
    """With --attribute-weight, D's classifier learns from the real labels and G from its faces'
    readings; with 0, the classifier gets no gradient at all (the projection alone)."""
    from facegan.train.step import train_step
    from facegan.train.toyfaces import toy_faces

    real = torch.from_numpy(toy_faces(8, 32)).permute(0, 3, 1, 2).contiguous()
    y = torch.tensor([[1.0, 0.0]] * 4 + [[0.0, 1.0]] * 4)
    grads = {}
    for weight in (0.0, 1.0):
        torch.manual_seed(0)
        s = _conditional_state(loss=loss, attribute_weight=weight)
        result = train_step(s, real, attributes=y)
        assert result.finite
        grads[weight] = s.d.classifier.head.weight.grad
    assert grads[0.0] is None or grads[0.0].abs().max() == 0
    assert grads[1.0].abs().max() > 0


def test_d_learns_to_read_the_fakes_as_undecided():
    """--attribute-fake-weight adds, to D's loss, its classifier reading G's faces against 0.5: at
    least attribute_weight x fake weight x log 2 more loss, another gradient for the classifier,
    and the same step otherwise (the same draws: the critic's logits are equal)."""
    from facegan.train.step import train_step
    from facegan.train.toyfaces import toy_faces

    real = torch.from_numpy(toy_faces(8, 32)).permute(0, 3, 1, 2).contiguous()
    y = torch.tensor([[1.0, 0.0]] * 4 + [[0.0, 1.0]] * 4)
    runs = {}
    for fake_weight in (0.0, 0.5):
        torch.manual_seed(0)
        s = _conditional_state(attribute_weight=2.0, attribute_fake_weight=fake_weight)
        runs[fake_weight] = train_step(s, real, attributes=y), s.d.classifier.head.weight.grad.clone()
    (without, grad_without), (with_fakes, grad_with) = runs[0.0], runs[0.5]
    assert torch.equal(without.fake_logits, with_fakes.fake_logits) and torch.equal(without.real_logits, with_fakes.real_logits)
    assert with_fakes.loss_d - without.loss_d >= 2.0 * 0.5 * math.log(2) - 1e-6
    assert not torch.allclose(grad_without, grad_with)


def test_the_default_attribute_recipe_is_recorded_and_each_part_can_be_turned_off(tmp_path):
    run = _train(tmp_path, "--condition", CONDITION, "--steps", "2", name="default")
    trained = load_checkpoint(run)["train_config"]
    recipe = ("attribute_weight", "attribute_fake_weight", "attribute_balance", "attribute_uniform_classes")
    assert tuple(trained[k] for k in recipe) == (4.0, 0.18, True, True)
    run = _train(tmp_path, "--condition", CONDITION, "--steps", "2", "--attribute-fake-weight", "0",
                 "--no-attribute-balance", "--no-attribute-uniform-classes", name="off")
    trained = load_checkpoint(run)["train_config"]
    assert tuple(trained[k] for k in recipe[1:]) == (0.0, False, False)


def test_the_balanced_attribute_loss_weighs_each_attribute_as_if_on_half_the_images():
    from facegan.train.losses import attribute_loss

    logits = torch.tensor([[0.5, -1.0], [2.0, 0.0], [-0.5, 1.0], [0.0, 3.0]])
    target = torch.tensor([[1.0, 0.0], [0.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
    freq = torch.tensor([0.25, 0.8])
    bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    weight = torch.where(target == 1, 0.5 / freq, 0.5 / (1 - freq))  # positives of a rare attribute weigh more
    assert torch.isclose(attribute_loss(logits, target, freq), (weight * bce).mean())
    assert torch.isclose(attribute_loss(logits, target, torch.full((2,), 0.5)), attribute_loss(logits, target))
    assert torch.isfinite(attribute_loss(logits, target, torch.tensor([0.0, 1.0])))  # never or always on


def test_attribute_balance_weighs_d_and_g_by_the_runs_frequencies():
    """--attribute-balance takes the weights from the run's labels: frequencies of one half change
    nothing, the skewed ones of the data change D's loss; a state without labels trains unweighted."""
    from facegan.train.step import train_step
    from facegan.train.toyfaces import toy_faces

    real = torch.from_numpy(toy_faces(8, 32)).permute(0, 3, 1, 2).contiguous()
    y = torch.tensor([[1.0, 0.0]] * 2 + [[0.0, 1.0]] * 6)

    def step(balance: bool, rows: list[list[int]] | None):
        torch.manual_seed(0)
        s = _conditional_state(attribute_weight=2.0, attribute_balance=balance)
        if rows is not None:
            s.conditioning = conditioning("A,B", Labels(("A", "B"), np.array(rows, dtype=np.uint8), "labels.csv"))
        result = train_step(s, real, attributes=y)
        return torch.stack([result.loss_d, result.loss_g])

    even, skewed = [[1, 0], [0, 1]], [[1, 0], [0, 1], [0, 1], [0, 1]]
    plain = step(False, skewed)
    assert torch.equal(step(True, even), plain)
    assert torch.equal(step(True, None), plain)
    balanced = step(True, skewed)
    assert not torch.isclose(balanced[0], plain[0]) and not torch.isclose(balanced[1], plain[1])


def test_the_step_reports_gs_adversarial_term_apart_from_the_attribute_term():
    """loss_g_adversarial is G's loss from D's real/fake verdict alone: loss_g less the attribute
    term (what the collapse detector reads); without that term the two are one number."""
    from facegan.train.step import train_step
    from facegan.train.toyfaces import toy_faces

    real = torch.from_numpy(toy_faces(8, 32)).permute(0, 3, 1, 2).contiguous()
    y = torch.tensor([[1.0, 0.0]] * 3 + [[0.0, 1.0]] * 5)
    weighted = train_step(_conditional_state(attribute_weight=4.0), real, attributes=y)
    assert weighted.loss_g.item() > weighted.loss_g_adversarial.item() + 1.0  # 4 x a cross-entropy near log 2
    unweighted = train_step(_conditional_state(attribute_weight=0.0), real, attributes=y)
    assert torch.equal(unweighted.loss_g, unweighted.loss_g_adversarial)


def test_undecided_loss_is_cross_entropy_against_one_half():
    from facegan.train.losses import undecided_loss

    logits = torch.tensor([[0.0, 3.0], [-1.0, 0.5]])
    expected = (0.5 * F.softplus(logits) + 0.5 * F.softplus(-logits)).mean()
    assert torch.isclose(undecided_loss(logits), expected)
    assert torch.isclose(undecided_loss(torch.zeros(2, 3)), torch.tensor(math.log(2)))  # its least value


def test_undecided_loss_takes_a_reading_per_attribute():
    from facegan.train.losses import undecided_loss

    logits = torch.tensor([[0.0, 3.0, -2.0], [-1.0, 0.5, 1.0]])
    target = torch.tensor([0.25, 0.25, 0.5])
    expected = (target * F.softplus(-logits) + (1 - target) * F.softplus(logits)).mean()
    assert torch.isclose(undecided_loss(logits, target), expected)
    assert torch.equal(undecided_loss(logits, torch.full((3,), 0.5)), undecided_loss(logits))


def _classes(names: tuple[str, ...], rows: list[list[int]]) -> Labels:
    return Labels(names, np.array(rows, dtype=np.uint8), "labels.csv")


def test_the_undecided_reading_is_uniform_over_a_class_columns_outcomes():
    """0.5 for a binary attribute; 1/m for the classes of a class column, m its outcomes: its
    classes conditioned on, and "none" where some images have none of them."""
    names = ("label=0", "label=1", "label=2", "Smiling")
    labels = _classes(names, [[1, 0, 0, 1], [0, 1, 0, 0], [0, 0, 1, 1], [0, 1, 0, 0]])
    third = 1 / 3
    assert conditioning("all", labels).undecided.tolist() == pytest.approx([third, third, third, 0.5])
    assert conditioning("label=0,label=1", labels).undecided.tolist() == pytest.approx([third, third])  # or none
    assert conditioning("label=1,Smiling", labels).undecided.tolist() == [0.5, 0.5]  # label=1 or not: two outcomes
    overlapping = _classes(names[:2], [[1, 1], [0, 1]])  # not one class per image: no class column's
    assert conditioning("all", overlapping).undecided.tolist() == [0.5, 0.5]
    assert conditioning("A,B", _labels()).undecided.tolist() == [0.5, 0.5]


def test_uniform_classes_change_d_only_where_the_run_has_a_class_column():
    """--attribute-uniform-classes moves D's undecided target for a class column's classes, and
    leaves a run on binary attributes exactly as it was (two classes, one per image, are binary too)."""
    from facegan.train.step import train_step
    from facegan.train.toyfaces import toy_faces

    real = torch.from_numpy(toy_faces(8, 32)).permute(0, 3, 1, 2).contiguous()
    y = torch.tensor([[1.0, 0.0]] * 3 + [[0.0, 1.0]] * 5)

    def loss_d(uniform: bool, names: tuple[str, ...]) -> torch.Tensor:
        torch.manual_seed(0)
        s = _conditional_state(attribute_weight=2.0, attribute_fake_weight=0.5, attribute_uniform_classes=uniform)
        s.conditioning = conditioning("all", _classes(names, [[1, 0], [0, 1], [0, 0]]))  # a third class: 1/3
        return train_step(s, real, attributes=y).loss_d

    binary, classes = ("A", "B"), ("label=3", "label=8")
    assert torch.equal(loss_d(True, binary), loss_d(False, binary))
    assert torch.equal(loss_d(False, classes), loss_d(False, binary))
    assert not torch.isclose(loss_d(True, classes), loss_d(False, classes))


def test_attribute_loss_is_mean_binary_cross_entropy():
    from facegan.train.losses import attribute_loss

    logits = torch.tensor([[0.0, 2.0]])
    expected = (torch.log(torch.tensor(2.0)) + torch.log1p(torch.exp(torch.tensor(-2.0)))) / 2
    assert torch.isclose(attribute_loss(logits, torch.tensor([[1.0, 1.0]])), expected)
