"""benchmarks/bench_attributes.py --quick: both labelled sets end to end, then --reuse scores them again."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_attributes.py"


def _run(results: Path, *extra: str) -> tuple[str, dict]:
    done = subprocess.run([sys.executable, str(BENCH), "--quick", "--results", str(results), *extra],
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = results.read_text().splitlines()
    assert len(lines) == 1
    return done.stdout, json.loads(lines[0])


@pytest.mark.slow
def test_bench_attributes_quick_and_reuse(tmp_path):
    pytest.importorskip("mlxtend")
    work = tmp_path / "work"
    out, record = _run(tmp_path / "r.jsonl", "--work", str(work), "--grids", str(tmp_path / "grids"))
    assert "avx" in out.lower() and "| attribute | judge acc / balanced | on: conditional |" in out
    assert "| Target | Measured | Wanted | Met |" in out
    sets = {s["set"]: s for s in record["sets"]}
    assert set(sets) == {"toy-faces", "digits"}
    assert sets["toy-faces"]["names"] == ["Smiling", "Eyeglasses", "Bald", "Blond_Hair"]
    assert sets["digits"]["names"] == [f"label={k}" for k in range(10)]
    assert sets["toy-faces"]["recipe"] == {"attribute_weight": 4.0, "attribute_fake_weight": 0.18, "attribute_balance": True,
                                           "attribute_uniform_classes": True}
    assert "--attribute-weight 4, --attribute-fake-weight 0.18, --attribute-balance, --attribute-uniform-classes)" in out  # the preset's, as trained
    for s in record["sets"]:
        assert [r["attribute"] for r in s["rows"]] == s["names"]
        for r in s["rows"]:
            for key in ("on", "off", "uncond_on", "uncond_off", "chance_on", "judge_accuracy"):
                assert 0.0 <= r[key] <= 1.0, (key, r)
            assert r["identity"] is None or 0.0 <= r["identity"] <= 1.0, r
            assert math.isclose(r["chance_on"] + r["chance_off"], 1.0)
        assert all(math.isfinite(s["kid"][k]["mean"]) for k in ("conditional", "unconditional", "real"))
        assert (work / "runs" / f"{s['set']}-unconditional" / "directions.json").is_file()
        assert (tmp_path / "grids" / f"attributes-{s['set']}.png").is_file()
    assert (work / "mnist-labels.csv").read_text().splitlines()[0] == "file,label"
    assert any("KID conditional vs unconditional" in t["target"] for t in record["targets"])

    # --reuse: the finished runs and directions are scored again, nothing retrained.
    last = work / "runs" / "toy-faces-conditional" / "checkpoints" / "last.pt"
    directions = work / "runs" / "toy-faces-unconditional" / "directions.json"
    stamps = last.stat().st_mtime_ns, directions.stat().st_mtime_ns
    _, again = _run(tmp_path / "again.jsonl", "--work", str(work), "--reuse", "--sets", "toy-faces")
    assert (last.stat().st_mtime_ns, directions.stat().st_mtime_ns) == stamps
    assert again["sets"][0]["rows"] == sets["toy-faces"]["rows"]
    assert again["sets"][0]["kid"] == sets["toy-faces"]["kid"]
