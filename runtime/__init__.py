"""facegan.runtime: generate faces from an exported facegan ONNX model with numpy + onnxruntime.

This package is the base of facegan: it never imports torch, so any app can embed it.

    from facegan.runtime import FaceGenerator
    gen = FaceGenerator("celeba-g.onnx", device="auto")
    faces = gen.generate(16, seed=7)   # uint8, (16, H, W, 3)
    gen.generate(16, seed=7, attributes={"Smiling": 1})   # a conditional model (gen.attributes)
    gen.edit(7, {"Eyeglasses": 2.0}, n=16)                # a model with directions (gen.directions)
"""

import importlib.metadata

from .attributes import AttributeSpace, attribute_vectors, parse_assignments, summarize
from .directions import Directions, apply_edits
from .errors import FaceganError, MetadataError, ProviderError, UsageError
from .latents import LATENT_RECIPES, NUMPY_RECIPE, PHILOX_RECIPE, latents, lerp, slerp, truncate
from .metadata import ModelMetadata

# One version, declared in pyproject.toml and read from the installed distribution (the package
# folders are only importable as facegan.* once installed, so there is always one).
__version__ = importlib.metadata.version("facegan")

__all__ = [
    "AttributeSpace",
    "Directions",
    "FaceGenerator",
    "FaceganError",
    "LATENT_RECIPES",
    "MetadataError",
    "ModelMetadata",
    "NUMPY_RECIPE",
    "PHILOX_RECIPE",
    "ProviderError",
    "UsageError",
    "__version__",
    "apply_edits",
    "attribute_vectors",
    "encode",
    "grid",
    "grid_shape",
    "latents",
    "lerp",
    "parse_assignments",
    "save_gif",
    "save_grid",
    "save_images",
    "slerp",
    "summarize",
    "to_pil",
    "truncate",
]


def __getattr__(name: str):
    # Imported on first use: `import facegan.runtime` (the version, the errors, latents) then loads
    # neither onnxruntime nor pillow.
    if name == "FaceGenerator":
        from .generator import FaceGenerator

        return FaceGenerator
    if name in ("encode", "grid", "grid_shape", "save_grid", "save_images", "save_gif", "to_pil"):
        from . import images

        return getattr(images, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
