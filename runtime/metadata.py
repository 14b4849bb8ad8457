"""The contract between export and runtime: the `facegan.*` metadata inside every exported model.

The exporter writes these keys (ONNX `metadata_props`, TorchScript `_extra_files`); the runtime
reads and validates them and refuses anything it cannot trust. All values are strings (ONNX
metadata is string to string); structured values are JSON. See README "The artifact contract".

Version 1 keys (all required unless marked optional):

    facegan.format_version   "1"
    facegan.input_name       "z"        input of shape (batch, latent_dim), float32
    facegan.output_name      "images"
    facegan.latent_dim       e.g. "100"
    facegan.image_size       e.g. "64"
    facegan.channels         "3"
    facegan.output_layout    "NCHW" (float output) or "NHWC" (uint8 output)
    facegan.output_dtype     "float32" or "uint8"
    facegan.value_range      JSON [lo, hi]: [-1, 1] (tanh), [0, 1] (sigmoid) or [0, 255] (uint8)
    facegan.latents          how to draw latents (runtime/latents.py): "philox4x32-10 box-muller float32"
                             (portable, written since issue 12) or facegan 0.1's
                             "numpy.default_rng(seed).standard_normal float32"
    facegan.dtype            compute precision: "fp32" or "fp16"
    facegan.model_config     JSON of ModelConfig
    facegan.preset           preset name the run started from
    facegan.weights          "raw" or "ema"
    facegan.train_step       optimizer steps of the checkpoint
    facegan.train_epoch      epochs of the checkpoint
    facegan.checkpoint_sha256
    facegan.torch_version, facegan.onnx_version (optional for TorchScript), facegan.facegan_version
    facegan.parity           JSON of the parity report summary (optional: absent with --no-verify)
    facegan.directions       JSON of latent edits (optional, any version; runtime/directions.py).
                             Runtimes before it keep it as an extra key and ignore it.

Version 2 (conditional models, a second input) is version 1 plus, required:

    facegan.attributes_input "attributes" input of shape (batch, k), float32 in [0, 1]
    facegan.attributes       JSON of the attribute names and prior (runtime/attributes.py summarize)

Runtimes that read only version 1 refuse version 2 with one line, so none silently feeds a
conditional model z alone; version 1 must not carry facegan.attributes.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field

from .attributes import AttributeSpace
from .directions import Directions
from .errors import MetadataError, UsageError
from .latents import DEFAULT_RECIPE, LATENT_RECIPES

PREFIX = "facegan."
# Still 1 with the Philox recipe: a new recipe is a new value of a known key, and runtimes before it
# refuse any `facegan.latents` they do not know with a one-line MetadataError ("expects latents drawn
# as ..."), so an old facegan never draws a new model's faces the wrong way. Bump the version only
# for a change old runtimes would misread silently: a conditional model's second input is one.
FORMAT_VERSION = 1  # unconditional models
CONDITIONAL_FORMAT_VERSION = 2  # conditional models (facegan.attributes_input, facegan.attributes)
FORMAT_VERSIONS = (FORMAT_VERSION, CONDITIONAL_FORMAT_VERSION)  # what parse_metadata reads
ATTRIBUTES_INPUT = "attributes"
LATENTS_RECIPE = DEFAULT_RECIPE  # what build_metadata records; parse_metadata accepts LATENT_RECIPES

REQUIRED_KEYS = (
    "format_version",
    "input_name",
    "output_name",
    "latent_dim",
    "image_size",
    "channels",
    "output_layout",
    "output_dtype",
    "value_range",
    "latents",
    "dtype",
    "model_config",
    "preset",
    "weights",
    "train_step",
    "train_epoch",
    "checkpoint_sha256",
    "torch_version",
    "facegan_version",
)
CONDITIONAL_KEYS = ("attributes_input", "attributes")  # required in version 2, typed on ModelMetadata
LAYOUTS = {"float32": "NCHW", "uint8": "NHWC"}


@dataclass(frozen=True)
class ModelMetadata:
    """Everything a runtime needs to use an exported generator, read from the artifact itself."""

    latent_dim: int  # length of one latent vector
    image_size: int  # height == width, pixels
    channels: int  # 3 for RGB
    output_layout: str  # "NCHW" or "NHWC"
    output_dtype: str  # "float32" or "uint8"
    value_range: tuple[float, float]  # range of the output values, e.g. (-1.0, 1.0)
    input_name: str = "z"
    output_name: str = "images"
    dtype: str = "fp32"  # compute precision inside the graph
    preset: str = ""
    weights: str = "raw"
    train_step: int = 0
    train_epoch: int = 0
    checkpoint_sha256: str = ""
    latents: str = DEFAULT_RECIPE  # recipe of the seeded latents, one of runtime.latents.LATENT_RECIPES
    model_config: dict = field(default_factory=dict)
    parity: dict | None = None
    format_version: int = FORMAT_VERSION  # 1, or 2 for a conditional model
    attributes_input: str | None = None  # name of the attributes input (conditional models only)
    attributes: AttributeSpace | None = None  # the attribute names and prior (conditional models only)
    directions: Directions | None = None  # latent edits, when facegan-directions fit some
    extra: dict = field(default_factory=dict)  # versions and anything else, verbatim

    @property
    def conditional(self) -> bool:
        return self.attributes is not None


def build_metadata(
    *,
    model_config: dict,
    preset: str,
    weights: str,
    train_step: int,
    train_epoch: int,
    checkpoint_sha256: str,
    output_dtype: str,
    dtype: str,
    versions: dict[str, str],
    parity: dict | None = None,
    attributes: dict | None = None,
    directions: dict | None = None,
) -> dict[str, str]:
    """The full `facegan.*` key/value map for an export (strings only).

    `attributes` (the checkpoint's `summarize` object) makes it a conditional model, version 2;
    `directions` (facegan-directions' object) adds facegan.directions. Both are checked as a
    runtime would read them and copied verbatim.
    """
    if output_dtype not in LAYOUTS:
        raise UsageError(f"output_dtype must be one of {sorted(LAYOUTS)}, got {output_dtype!r}")
    space = None if attributes is None else _checked(AttributeSpace.from_json, attributes, "the export")
    k, named = int(model_config.get("num_attributes", 0)), 0 if space is None else len(space.names)
    if k != named:
        raise UsageError(f"model_config has num_attributes={k} but the attributes name {named}")
    if directions is not None:
        _checked(Directions.from_json, directions, int(model_config["latent_dim"]), "the export")
    value_range = [0.0, 255.0] if output_dtype == "uint8" else list(model_config["value_range"])
    meta = {
        "format_version": str(FORMAT_VERSION if attributes is None else CONDITIONAL_FORMAT_VERSION),
        "input_name": "z",
        "output_name": "images",
        "latent_dim": str(int(model_config["latent_dim"])),
        "image_size": str(int(model_config["image_size"])),
        "channels": str(int(model_config["channels"])),
        "output_layout": LAYOUTS[output_dtype],
        "output_dtype": output_dtype,
        "value_range": json.dumps([float(v) for v in value_range]),
        "latents": LATENTS_RECIPE,
        "dtype": dtype,
        "model_config": json.dumps(model_config, sort_keys=True),
        "preset": preset,
        "weights": weights,
        "train_step": str(int(train_step)),
        "train_epoch": str(int(train_epoch)),
        "checkpoint_sha256": checkpoint_sha256,
    }
    for name, version in versions.items():
        meta[f"{name}_version"] = str(version)
    if parity is not None:
        meta["parity"] = json.dumps(parity, sort_keys=True)
    if attributes is not None:
        meta["attributes_input"] = ATTRIBUTES_INPUT
        meta["attributes"] = json.dumps(attributes, sort_keys=True)
    if directions is not None:
        meta["directions"] = json.dumps(directions, sort_keys=True)
    return {PREFIX + k: v for k, v in meta.items()}


def _checked(from_json, *args):
    """from_json(*args), its MetadataError turned into the UsageError an exporter's caller gets."""
    try:
        return from_json(*args)
    except MetadataError as e:
        raise UsageError(str(e)) from e


def parse_metadata(props: dict[str, str], source: str = "model") -> ModelMetadata:
    """Validate a `facegan.*` map and return it typed; raise MetadataError naming what is wrong."""
    ours = {k[len(PREFIX):]: v for k, v in props.items() if k.startswith(PREFIX)}
    if not ours:
        raise MetadataError(f"{source} has no facegan metadata; export it with facegan-export")
    version = ours.get("format_version")
    if version not in [str(v) for v in FORMAT_VERSIONS]:
        raise MetadataError(
            f"{source} has facegan metadata format version {version!r}; "
            f"this facegan reads versions {' and '.join(map(str, FORMAT_VERSIONS))}"
        )
    conditional = version == str(CONDITIONAL_FORMAT_VERSION)
    missing = [k for k in REQUIRED_KEYS + (CONDITIONAL_KEYS if conditional else ()) if k not in ours]
    if missing:
        raise MetadataError(f"{source} metadata is missing {', '.join(PREFIX + k for k in missing)}")
    stray = [PREFIX + k for k in CONDITIONAL_KEYS if k in ours and not conditional]
    if stray:
        raise MetadataError(f"{source} metadata: {', '.join(stray)} in format version 1 (conditional models are version 2)")
    try:
        meta = ModelMetadata(
            latent_dim=_positive_int(ours, "latent_dim"),
            image_size=_positive_int(ours, "image_size"),
            channels=_positive_int(ours, "channels"),
            output_layout=ours["output_layout"],
            output_dtype=ours["output_dtype"],
            value_range=tuple(float(v) for v in json.loads(ours["value_range"])),
            input_name=ours["input_name"],
            output_name=ours["output_name"],
            dtype=ours["dtype"],
            preset=ours["preset"],
            weights=ours["weights"],
            train_step=int(ours["train_step"]),
            train_epoch=int(ours["train_epoch"]),
            checkpoint_sha256=ours["checkpoint_sha256"],
            latents=ours["latents"],
            model_config=json.loads(ours["model_config"]),
            parity=json.loads(ours["parity"]) if "parity" in ours else None,
            format_version=int(version),
            attributes_input=ours.get("attributes_input"),
            attributes=_json(ours, "attributes", source, AttributeSpace.from_json, source),
            extra={k: v for k, v in ours.items() if k not in REQUIRED_KEYS},
        )
        directions = _json(ours, "directions", source, Directions.from_json, meta.latent_dim, source)
    except (ValueError, TypeError) as e:  # json.JSONDecodeError is a ValueError
        raise MetadataError(f"{source} has malformed facegan metadata: {e}") from e
    if conditional and meta.attributes_input in ("", meta.input_name):
        raise MetadataError(f"{source} metadata: bad attributes_input {meta.attributes_input!r}")
    meta = dataclasses.replace(meta, directions=directions)
    if LAYOUTS.get(meta.output_dtype) != meta.output_layout:
        raise MetadataError(
            f"{source} metadata: output_dtype {meta.output_dtype!r} with layout "
            f"{meta.output_layout!r} is not a combination facegan writes"
        )
    if len(meta.value_range) != 2 or not -math.inf < meta.value_range[0] < meta.value_range[1] < math.inf:
        raise MetadataError(f"{source} metadata: bad value_range {ours['value_range']}")
    if meta.dtype not in ("fp32", "fp16"):
        raise MetadataError(f"{source} metadata: unknown dtype {meta.dtype!r}")
    if meta.weights not in ("raw", "ema"):
        raise MetadataError(f"{source} metadata: unknown weights {meta.weights!r} (raw or ema)")
    if meta.latents not in LATENT_RECIPES:
        # Seeds are only "the same face everywhere" if everyone draws latents the same way.
        known = " or ".join(repr(r) for r in LATENT_RECIPES)
        raise MetadataError(f"{source} expects latents drawn as {meta.latents!r}; this facegan draws {known}")
    return meta


def _json(ours: dict[str, str], key: str, source: str, from_json, *args):
    """from_json(parsed facegan.<key>, *args), or None when the key is absent; bad JSON is one line."""
    if key not in ours:
        return None
    try:
        obj = json.loads(ours[key])
    except ValueError as e:
        raise MetadataError(f"{source} metadata: facegan.{key} is not JSON ({e})") from e
    return from_json(obj, *args)


def _positive_int(ours: dict[str, str], key: str) -> int:
    value = int(ours[key])
    if value < 1:
        raise ValueError(f"{PREFIX}{key} must be positive, got {value}")
    return value
