"""The browser and Node side of facegan, shipped inside the Python package as plain files.

`facegan-export --format web` copies these into a static folder and `facegan-serve` serves them, so
a pip user needs no npm. The files themselves are the JavaScript runtime (`facegan.js`, with its
TypeScript declarations), the demo page, and `known-answers.json`, the seed -> latents vectors that
every port of the latent recipe checks itself against. `package.json` pins onnxruntime-web: the
version a web export's page loads from the CDN is read from it, so it is declared once.
"""

from __future__ import annotations

import json
from importlib.resources import files
from importlib.resources.abc import Traversable

# What the demo page loads, besides the model: the page, and facegan.js with the modules it imports.
PAGE_ASSETS = (
    "index.html", "page.js", "facegan.js", "attributes.js", "checks.js", "latents.js", "onnx-metadata.js", "pixels.js",
)


def asset(name: str) -> Traversable:
    """One of the shipped files, by name (e.g. "facegan.js")."""
    return files(__name__) / name


def ort_web_version() -> str:
    """The onnxruntime-web version facegan's JavaScript is tested with (pinned in package.json)."""
    package = json.loads(asset("package.json").read_text(encoding="utf-8"))
    return package["devDependencies"]["onnxruntime-web"]


__all__ = ["PAGE_ASSETS", "asset", "ort_web_version"]
