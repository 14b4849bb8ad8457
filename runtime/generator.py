"""FaceGenerator: faces from an exported facegan ONNX model, with numpy + onnxruntime only.

    gen = FaceGenerator("celeba-g.onnx", device="auto")    # "auto" | "cpu" | "cuda"
    faces = gen.generate(16, seed=7)                         # uint8 RGB, (16, H, W, 3)
    z = gen.latents(16, seed=7)                              # the latents behind those faces
    same = gen.generate_from_latents(z)                      # == faces
    frames = gen.interpolate(1, 2, steps=32)                 # uint8 morph, (32, H, W, 3)
    path = gen.interpolation_latents(1, 2, steps=32)         # the latents behind those frames
    gen.attributes, gen.directions                           # names; () when the model has none
    smiling = gen.generate(16, seed=7, attributes={"Smiling": 1})   # a conditional model
    glasses = gen.edit(7, {"Eyeglasses": 2.0}, n=16)         # z + 2 * the Eyeglasses direction

Everything about the model (latent size, image size, layout, value range, the recipe its seeds'
latents are drawn with) comes from its `facegan.*` metadata, checked against the session's real
inputs and outputs. A conditional model (metadata version 2) also takes attributes (n, k) in
[0, 1]: seeded calls draw them from the model's prior (runtime/attributes.py), `attributes=`
pins some of them; generate_from_latents takes the (n, k) array itself. Output modes:

- `output="uint8"` (default): uint8 RGB, NHWC, for float and uint8 exports alike.
- `output="float"`: the raw float32 model output, NCHW, in `gen.value_range` (e.g. [-1, 1]).
  Only float exports have one; a uint8 export raises ValueError.

Large requests run in chunks of `batch_size` into one preallocated result, so memory stays at
the result plus one chunk. A FaceGenerator may be shared between threads: onnxruntime's `run`
is thread-safe and generate keeps no state between calls.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from .attributes import attribute_vectors as draw_attributes
from .checks import MAX_IMAGES, check_attribute_rows, check_count, check_latents, check_signature
from .directions import apply_edits
from .errors import UsageError
from .images import to_uint8
from .latents import INTERPOLATION_METHODS, check_seed, latents as draw_latents, lerp, slerp, truncate
from .metadata import ModelMetadata, parse_metadata
from .session import make_session, run_bound, uses_cuda

log = logging.getLogger("facegan.runtime")

DEFAULT_BATCH_SIZE = 64  # images per onnxruntime run; throughput is flat beyond this on CPU
OUTPUTS = ("uint8", "float")


class FaceGenerator:
    """A facegan ONNX generator opened in onnxruntime; see the module docstring."""

    def __init__(
        self,
        model_path: str | Path,
        device: str = "auto",
        *,
        strict: bool = False,
        threads: int | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> None:
        self.batch_size = check_count(batch_size, "batch_size")
        self.path = Path(model_path)
        self.session = make_session(self.path, device, threads=threads, strict=strict)  # checks device, threads
        props = self.session.get_modelmeta().custom_metadata_map
        self.metadata: ModelMetadata = parse_metadata(props, source=str(self.path))
        check_signature(self.session, self.metadata, str(self.path))
        self.providers: list[str] = list(self.session.get_providers())
        # I/O binding saves a device-to-host copy per chunk; on the CPU provider it buys nothing.
        self.io_binding = uses_cuda(self.session)
        log.info(
            "FaceGenerator %s: %dx%d %s output, latent %d, providers %s",
            self.path.name, self.image_size, self.image_size, self.metadata.output_dtype,
            self.latent_dim, ", ".join(self.providers),
        )

    # Shapes and ranges, all from the metadata.
    @property
    def latent_dim(self) -> int:
        return self.metadata.latent_dim

    @property
    def image_size(self) -> int:
        return self.metadata.image_size

    @property
    def channels(self) -> int:
        return self.metadata.channels

    @property
    def value_range(self) -> tuple[float, float]:
        return self.metadata.value_range

    @property
    def attributes(self) -> tuple[str, ...]:
        """The attribute names of a conditional model, in input order; () for an unconditional one."""
        return () if self.metadata.attributes is None else self.metadata.attributes.names

    @property
    def directions(self) -> tuple[str, ...]:
        """The names `edit` takes; () for a model exported without directions."""
        return () if self.metadata.directions is None else self.metadata.directions.names

    def __repr__(self) -> str:
        return (
            f"FaceGenerator({str(self.path)!r}, {self.image_size}x{self.image_size}, "
            f"latent_dim={self.latent_dim}, output={self.metadata.output_dtype}, providers={self.providers})"
        )

    # Each public method checks its own arguments once, then hands checked values to _generate.
    def latents(self, n: int, seed: int = 0, *, start: int = 0) -> np.ndarray:
        """The float32 (n, latent_dim) latents `generate(n, seed)` uses (before truncation).

        Drawn with the model's own recipe (`metadata.latents`), so a model exported with numpy's
        keeps its faces. `start` skips to face `start` of the seed: row k is face start + k.
        """
        # draw_latents checks the seed and start.
        return draw_latents(seed, check_count(n, "n"), self.latent_dim, recipe=self.metadata.latents, start=start)

    def generate(
        self,
        n: int = 1,
        seed: int = 0,
        *,
        truncation: float = 1.0,
        attributes: Mapping | None = None,
        output: str = "uint8",
        batch_size: int | None = None,
    ) -> np.ndarray:
        """`n` faces from `seed`: uint8 (n, H, W, C) by default, see the module docstring.

        A conditional model's attributes are drawn for the same faces; `attributes` {name: value}
        pins some (runtime/attributes.py keeps the others where the prior allows).
        """
        z = self.latents(n, seed)
        a = self._seeded_attributes(len(z), seed, attributes)
        return self._generate(z, a, truncation, self._check_output(output), self._check_batch_size(batch_size))

    def attribute_vectors(self, n: int, seed: int = 0, attributes: Mapping | None = None, *, start: int = 0) -> np.ndarray:
        """float32 (n, k): the attributes `generate(n, seed, attributes=...)` feeds, face start + row."""
        if self.metadata.attributes is None:
            raise UsageError(f"{self.path.name} is unconditional: it has no attributes")
        return draw_attributes(self.metadata.attributes, check_count(n, "n"), seed, attributes, start)

    def edit(
        self,
        seed: int,
        edits: Mapping,
        *,
        n: int = 1,
        truncation: float = 1.0,
        attributes: Mapping | None = None,
        output: str = "uint8",
        batch_size: int | None = None,
    ) -> np.ndarray:
        """Faces 0..n-1 of `seed` moved along the model's directions: z' = truncate(z) + sum alpha * d.

        `edits` {name: alpha}, alpha in standard deviations of z (+2 = two sd toward the attribute).
        """
        if self.metadata.directions is None:
            raise UsageError(f"{self.path.name} has no directions; run facegan-directions on its run and re-export it")
        if not isinstance(edits, Mapping):
            raise UsageError(f"edits must be a mapping {{name: alpha}}, got {type(edits).__name__}")
        z = truncate(self.latents(n, seed), truncation)  # truncation first, then the edit
        z = apply_edits(z, self.metadata.directions, edits)
        a = self._seeded_attributes(len(z), seed, attributes)
        return self._generate(z, a, 1.0, self._check_output(output), self._check_batch_size(batch_size))

    def generate_from_latents(
        self,
        z: np.ndarray,
        *,
        truncation: float = 1.0,
        attributes: np.ndarray | None = None,
        output: str = "uint8",
        batch_size: int | None = None,
    ) -> np.ndarray:
        """Faces for the latents `z` (n, latent_dim) (and a conditional model's attributes (n, k))."""
        z = check_latents(z, self.latent_dim)
        if self.metadata.attributes is None:
            self._refuse_attributes(attributes)
            a = None
        else:
            a = check_attribute_rows(attributes, len(z), self.attributes)
        return self._generate(z, a, truncation, self._check_output(output), self._check_batch_size(batch_size))

    def interpolate(
        self,
        seed_a: int,
        seed_b: int,
        steps: int = 32,
        method: str = "slerp",
        *,
        truncation: float = 1.0,
        attributes: Mapping | None = None,
        output: str = "uint8",
    ) -> np.ndarray:
        """Frames morphing face `seed_a` into face `seed_b`, both ends included: (steps, H, W, C).

        A conditional model's attributes go linearly from face 0 of seed_a's row to seed_b's
        (both drawn with `attributes` pinned).
        """
        path = self.interpolation_latents(seed_a, seed_b, steps, method)
        a = None
        if self.metadata.attributes is None:
            self._refuse_attributes(attributes)
        else:
            ends = [self.attribute_vectors(1, s, attributes)[0] for s in (seed_a, seed_b)]
            a = lerp(ends[0], ends[1], len(path))
        return self._generate(path, a, truncation, self._check_output(output), self.batch_size)

    def interpolation_latents(self, seed_a: int, seed_b: int, steps: int = 32, method: str = "slerp") -> np.ndarray:
        """The float32 (steps, latent_dim) path `interpolate` generates (before truncation).

        Each end is latent 0 of its seed (the first face of generate(n, seed)), drawn with the
        model's recipe; row k alone is frame k: generate_from_latents(path[k:k + 1]).
        """
        seed_a = check_seed(seed_a, "seed_a")
        seed_b = check_seed(seed_b, "seed_b")
        steps = check_count(steps, "steps", minimum=2)
        if method not in INTERPOLATION_METHODS:
            raise UsageError(f"method must be one of {', '.join(INTERPOLATION_METHODS)}, got {method!r}")
        a, b = self.latents(1, seed_a)[0], self.latents(1, seed_b)[0]
        return slerp(a, b, steps) if method == "slerp" else lerp(a, b, steps)

    # Internals.
    def _seeded_attributes(self, n: int, seed: int, attributes: Mapping | None) -> np.ndarray | None:
        """A conditional model's drawn attributes of faces 0..n-1; None for an unconditional model."""
        if self.metadata.attributes is None:
            self._refuse_attributes(attributes)
            return None
        return draw_attributes(self.metadata.attributes, n, seed, attributes)

    def _refuse_attributes(self, attributes: object) -> None:
        if attributes is not None and not (isinstance(attributes, Mapping) and not attributes):
            hint = "use edit() with its directions" if self.directions else "it has neither attributes nor directions"
            raise UsageError(f"{self.path.name} is unconditional (it takes no attributes): {hint}")

    def _generate(self, z: np.ndarray, a: np.ndarray | None, truncation: object, output: str, batch_size: int) -> np.ndarray:
        """Faces for checked float32 latents (and attributes), in chunks of `batch_size` into one result."""
        z = truncate(z, truncation)  # checks truncation; 1.0 leaves z as it is
        if not np.isfinite(z).all():
            raise UsageError(f"truncation {truncation} scales the latents beyond float32")
        out = np.empty(self._output_shape(len(z), output), dtype=self._output_dtype(output))
        for start in range(0, len(z), batch_size):
            stop = min(start + batch_size, len(z))
            self._run_chunk(z[start:stop], None if a is None else a[start:stop], out[start:stop], output)
        return out

    def _check_batch_size(self, batch_size: object) -> int:
        return self.batch_size if batch_size is None else check_count(batch_size, "batch_size")

    def _check_output(self, output: object) -> str:
        if output not in OUTPUTS:
            raise UsageError(f"output must be one of {', '.join(OUTPUTS)}, got {output!r}")
        if output == "float" and self.metadata.output_dtype != "float32":
            raise UsageError(
                f"output='float' needs a float export; {self.path.name} outputs "
                f"{self.metadata.output_dtype} (use output='uint8')"
            )
        return output

    def _raw_shape(self, n: int) -> tuple[int, ...]:
        s, c = self.image_size, self.channels
        return (n, c, s, s) if self.metadata.output_layout == "NCHW" else (n, s, s, c)

    def _output_shape(self, n: int, output: str) -> tuple[int, ...]:
        s, c = self.image_size, self.channels
        return (n, s, s, c) if output == "uint8" else self._raw_shape(n)

    def _output_dtype(self, output: str) -> type:
        return np.uint8 if output == "uint8" else np.float32

    def _run_chunk(self, z: np.ndarray, a: np.ndarray | None, out: np.ndarray, output: str) -> None:
        """Run one chunk and write it, converted, into `out` (a slice of the result)."""
        meta = self.metadata
        raw_is_final = output == "float" or meta.output_dtype == "uint8"
        feeds = {meta.input_name: z} if a is None else {meta.input_name: z, meta.attributes_input: a}
        if self.io_binding:
            raw = out if raw_is_final else np.empty(self._raw_shape(len(z)), np.float32)
            run_bound(self.session, feeds, meta.output_name, raw)
        else:
            raw = self.session.run([meta.output_name], feeds)[0]
            if raw_is_final:
                out[...] = raw
        if not raw_is_final:
            # Convert while still NCHW, then transpose the 4x smaller uint8 into place.
            out[...] = np.transpose(to_uint8(raw, meta.value_range), (0, 2, 3, 1))


__all__ = ["DEFAULT_BATCH_SIZE", "MAX_IMAGES", "OUTPUTS", "FaceGenerator", "check_count", "check_latents"]
