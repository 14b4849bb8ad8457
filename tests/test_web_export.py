"""`facegan-export --format web`: the folder's files, config.json, the CDN default, --ort-web, --force.

No browser here (tests/test_browser.py runs the page in Chromium): these check what is written, and
that a failed export leaves nothing behind. A fake onnxruntime-web dist folder stands in for npm's.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from typer.testing import CliRunner  # noqa: E402

import cli_output  # noqa: E402
from conftest import write_checkpoint  # noqa: E402

from facegan.export import web as web_export  # noqa: E402
from facegan.export.cli import app  # noqa: E402
from facegan.runtime import FaceGenerator  # noqa: E402
from facegan.web import PAGE_ASSETS, asset, ort_web_version  # noqa: E402

runner = CliRunner()
FAST = ["--batch-sizes", "1,3", "--seeds", "0"]
PAGE_FILES = {*PAGE_ASSETS, "model.onnx", "config.json"}  # PAGE_ASSETS: the page and the JS runtime's modules
ORT_FILES = {"ort/ort.wasm.min.mjs", "ort/ort-wasm-simd-threaded.mjs", "ort/ort-wasm-simd-threaded.wasm"}
PACKAGE_JSON = Path(__file__).resolve().parents[1] / "web" / "package.json"


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def files_in(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


@pytest.fixture
def run_dir(tmp_path) -> Path:
    run = tmp_path / "runs" / "tiny"
    write_checkpoint(run / "checkpoints" / "last.pt")
    return run


@pytest.fixture
def ort_dist(tmp_path) -> Path:
    """A stand-in for onnxruntime-web's dist/: the three files the page loads, and some it does not."""
    dist = tmp_path / "dist"
    dist.mkdir()
    for name in (*web_export.ORT_FILES, "ort.all.min.mjs", "ort.wasm.min.mjs.map", "ort-wasm-simd-threaded.jsep.wasm"):
        (dist / name).write_bytes(f"fake {name}".encode())
    return dist


def test_default_folder_beside_the_run_loads_onnxruntime_web_from_the_pinned_cdn(run_dir):
    result = invoke(run_dir, "--format", "web", *FAST)
    assert result.exit_code == 0, result.output
    folder = run_dir.parent / "tiny-web"
    assert sorted(p.name for p in run_dir.parent.iterdir()) == ["tiny", "tiny-web"]  # no staging, no reports
    assert files_in(folder) == PAGE_FILES and {"index.html", "page.js", "facegan.js"} <= PAGE_FILES
    for name in PAGE_ASSETS:  # the page's files are the package's own, unchanged
        assert (folder / name).read_bytes() == asset(name).read_bytes()

    config = json.loads((folder / "config.json").read_text())
    pinned = json.loads(PACKAGE_JSON.read_text())["devDependencies"]["onnxruntime-web"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", pinned) and ort_web_version() == pinned
    assert config["ort"] == f"https://cdn.jsdelivr.net/npm/onnxruntime-web@{pinned}/dist/"
    assert config["backend"] == "wasm" and config["model"] == "model.onnx"
    model = onnx.load(str(folder / "model.onnx"))
    assert config["metadata"] == {p.key: p.value for p in model.metadata_props}
    assert json.loads(config["metadata"]["facegan.parity"])["passed"] is True  # the checked artifact

    faces = FaceGenerator(folder / "model.onnx", device="cpu").generate(2, seed=3)
    assert faces.shape == (2, 32, 32, 3) and faces.dtype == np.uint8

    out = " ".join(result.stdout.split())
    assert f"wrote {folder} (web," in out and "parity passed" in out
    assert f"python -m facegan.web {folder} --isolated" in out and "http://127.0.0.1:8000/" in out  # several wasm threads
    assert f"python -m http.server -d {folder} 8000" in out  # the fallback: one wasm thread
    assert "file://" in out and result.stderr == ""


def test_ort_web_copies_exactly_the_three_files_the_page_loads(run_dir, ort_dist, tmp_path):
    site = tmp_path / "site"
    result = invoke(run_dir, "--format", "web", "--out", site, "--ort-web", ort_dist, "--output", "uint8", *FAST)
    assert result.exit_code == 0, result.output
    assert files_in(site) == PAGE_FILES | ORT_FILES
    for name in web_export.ORT_FILES:
        assert (site / "ort" / name).read_bytes() == (ort_dist / name).read_bytes()
    config = json.loads((site / "config.json").read_text())
    assert config["ort"] == "./ort/"
    assert config["metadata"]["facegan.output_dtype"] == "uint8"
    assert "./ort/ (vendored)" in " ".join(result.stdout.split())


def test_json_describes_the_folder(run_dir, tmp_path):
    result = invoke(run_dir, "--format", "web", "--out", tmp_path / "site", "--json", *FAST)
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)["web"]
    assert record["path"] == str(tmp_path / "site") and set(record["files"]) == PAGE_FILES
    assert record["ort"].startswith("https://cdn.jsdelivr.net/") and record["parity"]["passed"] is True
    assert record["size_bytes"] == sum((tmp_path / "site" / f).stat().st_size for f in PAGE_FILES)


@pytest.mark.parametrize("lacking", [None, "ort-wasm-simd-threaded.wasm"])
def test_an_ort_web_folder_without_the_files_exits_2_and_writes_nothing(run_dir, ort_dist, lacking):
    if lacking is None:
        ort_dist = ort_dist / "missing"
    else:
        (ort_dist / lacking).unlink()
    result = invoke(run_dir, "--format", "web", "--ort-web", ort_dist, *FAST)
    assert result.exit_code == 2, result.output
    line = cli_output.one_error_line(result, "facegan-export")
    assert "--ort-web" in line and "node_modules/onnxruntime-web/dist" in line
    assert lacking is None or lacking in line
    assert sorted(p.name for p in run_dir.parent.iterdir()) == ["tiny"]


def test_ort_web_belongs_to_the_web_format(run_dir, ort_dist):
    result = invoke(run_dir, "--format", "onnx", "--ort-web", ort_dist, *FAST)
    assert result.exit_code == 2
    assert "--format web" in cli_output.one_error_line(result, "facegan-export")


def test_an_existing_folder_needs_force_and_force_replaces_it_whole(run_dir, tmp_path):
    site = tmp_path / "site"
    assert invoke(run_dir, "-f", "web", "--out", site, *FAST).exit_code == 0
    (site / "stale.txt").write_text("from an earlier export")

    result = invoke(run_dir, "-f", "web", "--out", site, *FAST)
    assert result.exit_code == 1
    assert "already exists; pass --force" in cli_output.one_error_line(result, "facegan-export")
    assert (site / "stale.txt").exists()

    result = invoke(run_dir, "-f", "web", "--out", site, "--force", *FAST)
    assert result.exit_code == 0, result.output
    assert files_in(site) == PAGE_FILES  # the old folder went, not only its files overwritten
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_force_never_replaces_a_folder_that_is_not_a_web_export(run_dir, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    result = invoke(run_dir, "-f", "web", "--out", mine, "--force", *FAST)
    assert result.exit_code == 1
    assert "not a facegan web export" in cli_output.one_error_line(result, "facegan-export")
    assert files_in(mine) == {"notes.txt"}


def test_an_empty_folder_is_filled_without_force(run_dir, tmp_path):
    (tmp_path / "site").mkdir()
    assert invoke(run_dir, "-f", "web", "--out", tmp_path / "site", *FAST).exit_code == 0
    assert files_in(tmp_path / "site") == PAGE_FILES


def test_a_bad_checkpoint_leaves_nothing(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    result = invoke(bad, "-f", "web", "--out", tmp_path / "new" / "site", *FAST)
    assert result.exit_code == 1
    cli_output.one_error_line(result, "facegan-export")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.pt"]


def test_a_failed_parity_check_leaves_only_its_report_beside_the_folder(run_dir):
    result = invoke(run_dir, "-f", "web", "--atol", "0", *FAST)  # float parity is ~1e-7, never 0
    assert result.exit_code == 1
    assert "parity failed" in cli_output.one_error_line(result, "facegan-export")
    assert sorted(p.name for p in run_dir.parent.iterdir()) == ["tiny", "tiny-web.parity-failed.json"]


def test_a_failure_while_writing_the_folder_leaves_nothing(run_dir, ort_dist, tmp_path, monkeypatch):
    def full_disk(src, dst):
        raise OSError(28, "No space left on device", str(dst))

    monkeypatch.setattr(web_export.shutil, "copyfile", full_disk)
    with pytest.raises(OSError, match="No space left"):
        web_export.export_web(run_dir, tmp_path / "a" / "b" / "site", ort_web=ort_dist, batch_sizes=[1], seeds=[0])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dist", "runs"]  # no a/b, no staging folder


def test_help_keeps_all_as_onnx_and_torchscript():
    result = invoke("--help")
    text = " ".join(result.stdout.split())
    assert "all (onnx and torchscript)" in text and "web (a static folder" in text and "--ort-web" in text
