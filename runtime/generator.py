"""FaceGenerator: faces from an exported facegan ONNX model, with numpy + onnxruntime only.

    gen = FaceGenerator("celeba-g.onnx", device="auto")    # "auto" | "cpu" | "cuda"
    faces = gen.generate(16, seed=7)                         # uint8 RGB, (16, H, W, 3)
    z = gen.latents(16, seed=7)                              # the latents behind those faces
    same = gen.generate_from_latents(z)                      # == faces
    frames = gen.interpolate(1, 2, steps=32)                 # uint8 morph, (32, H, W, 3)
    path = gen.interpolation_latents(1, 2, steps=32)         # the latents behind those frames

Everything about the model (latent size, image size, layout, value range, the recipe its seeds'
latents are drawn with) comes from its `facegan.*` metadata, checked against the session's real inputs and outputs. Output modes:

- `output="uint8"` (default): uint8 RGB, NHWC, for float and uint8 exports alike.
- `output="float"`: the raw float32 model output, NCHW, in `gen.value_range` (e.g. [-1, 1]).
  Only float exports have one; a uint8 export raises ValueError.

Large requests run in chunks of `batch_size` into one preallocated result, so memory stays at
the result plus one chunk. A FaceGenerator may be shared between threads: onnxruntime's `run`
is thread-safe and generate keeps no state between calls.
"""

from __future__ import annotations

import logging
import numbers
from pathlib import Path

import numpy as np

from .errors import MetadataError, UsageError
from .images import to_uint8
from .latents import INTERPOLATION_METHODS, check_seed, latents as draw_latents, lerp, slerp, truncate
from .metadata import ModelMetadata, parse_metadata
from .session import make_session, run_bound, uses_cuda

log = logging.getLogger("facegan.runtime")

MAX_IMAGES = 100_000  # per call: 100k 64x64 RGB images are 1.2 GB of uint8
DEFAULT_BATCH_SIZE = 64  # images per onnxruntime run; throughput is flat beyond this on CPU
OUTPUTS = ("uint8", "float")


def check_count(value: object, name: str, minimum: int = 1, maximum: int = MAX_IMAGES) -> int:
    """Return `value` as an int in [minimum, maximum], or raise UsageError naming the argument."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise UsageError(f"{name} must be an integer, got {value!r}")
    if not minimum <= value <= maximum:
        raise UsageError(f"{name} must be between {minimum} and {maximum}, got {value}")
    return int(value)


def check_latents(z: object, latent_dim: int) -> np.ndarray:
    """Return `z` as C-contiguous float32 (n, latent_dim), or raise UsageError naming `z`.

    Any real floating dtype is accepted (float64 from `np.random.randn` is common) and cast to
    float32, the input type of every facegan export; integers and anything else are refused.
    """
    if not isinstance(z, np.ndarray):
        raise UsageError(f"z must be a numpy array of shape (n, {latent_dim}), got {type(z).__name__}")
    if not np.issubdtype(z.dtype, np.floating):
        raise UsageError(f"z must be a floating-point array (float32), got dtype {z.dtype}")
    if z.ndim != 2 or z.shape[1] != latent_dim:
        raise UsageError(f"z must have shape (n, {latent_dim}), got {z.shape}")
    check_count(z.shape[0], "number of latents (z.shape[0])")
    with np.errstate(over="ignore"):  # an overflowing cast is reported below, as a UsageError
        z32 = np.ascontiguousarray(z, dtype=np.float32)
    if not np.isfinite(z32).all():  # checked after the cast: 1e300 in float64 is inf in float32
        raise UsageError("z contains NaN or infinite values (as float32)")
    return z32


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
        _check_signature(self.session, self.metadata, str(self.path))
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
        output: str = "uint8",
        batch_size: int | None = None,
    ) -> np.ndarray:
        """`n` faces from `seed`: uint8 (n, H, W, C) by default, see the module docstring."""
        z = self.latents(n, seed)
        return self._generate(z, truncation, self._check_output(output), self._check_batch_size(batch_size))

    def generate_from_latents(
        self,
        z: np.ndarray,
        *,
        truncation: float = 1.0,
        output: str = "uint8",
        batch_size: int | None = None,
    ) -> np.ndarray:
        """Faces for the latents `z` (n, latent_dim), in chunks of `batch_size`."""
        z = check_latents(z, self.latent_dim)
        return self._generate(z, truncation, self._check_output(output), self._check_batch_size(batch_size))

    def interpolate(
        self,
        seed_a: int,
        seed_b: int,
        steps: int = 32,
        method: str = "slerp",
        *,
        truncation: float = 1.0,
        output: str = "uint8",
    ) -> np.ndarray:
        """Frames morphing face `seed_a` into face `seed_b`, both ends included: (steps, H, W, C)."""
        path = self.interpolation_latents(seed_a, seed_b, steps, method)
        return self._generate(path, truncation, self._check_output(output), self.batch_size)

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
    def _generate(self, z: np.ndarray, truncation: object, output: str, batch_size: int) -> np.ndarray:
        """Faces for checked float32 latents, in chunks of `batch_size` into one preallocated result."""
        z = truncate(z, truncation)  # checks truncation; 1.0 leaves z as it is
        if not np.isfinite(z).all():
            raise UsageError(f"truncation {truncation} scales the latents beyond float32")
        out = np.empty(self._output_shape(len(z), output), dtype=self._output_dtype(output))
        for start in range(0, len(z), batch_size):
            stop = min(start + batch_size, len(z))
            self._run_chunk(z[start:stop], out[start:stop], output)
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

    def _run_chunk(self, z: np.ndarray, out: np.ndarray, output: str) -> None:
        """Run one chunk and write it, converted, into `out` (a slice of the result)."""
        meta = self.metadata
        raw_is_final = output == "float" or meta.output_dtype == "uint8"
        if self.io_binding:
            raw = out if raw_is_final else np.empty(self._raw_shape(len(z)), np.float32)
            run_bound(self.session, meta.input_name, meta.output_name, z, raw)
        else:
            raw = self.session.run([meta.output_name], {meta.input_name: z})[0]
            if raw_is_final:
                out[...] = raw
        if not raw_is_final:
            # Convert while still NCHW, then transpose the 4x smaller uint8 into place.
            out[...] = np.transpose(to_uint8(raw, meta.value_range), (0, 2, 3, 1))


def _check_signature(session, meta: ModelMetadata, source: str) -> None:
    """Raise MetadataError unless the graph's real input/output agree with the metadata."""
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if len(inputs) != 1 or inputs[0].name != meta.input_name:
        names = [i.name for i in inputs]
        raise MetadataError(f"{source}: metadata input {meta.input_name!r} but the graph takes {names}")
    by_name = {o.name: o for o in outputs}
    if meta.output_name not in by_name:
        raise MetadataError(
            f"{source}: metadata output {meta.output_name!r} but the graph gives {list(by_name)}"
        )
    z, y = inputs[0], by_name[meta.output_name]
    if z.type != "tensor(float)":
        raise MetadataError(f"{source}: input {z.name!r} is {z.type}, facegan exports take tensor(float)")
    want_type = {"float32": "tensor(float)", "uint8": "tensor(uint8)"}[meta.output_dtype]
    if y.type != want_type:
        raise MetadataError(f"{source}: output {y.name!r} is {y.type} but metadata says {meta.output_dtype}")
    s, c = meta.image_size, meta.channels
    want_out = [None, c, s, s] if meta.output_layout == "NCHW" else [None, s, s, c]
    for tensor, want in ((z, [None, meta.latent_dim]), (y, want_out)):
        if not _shape_agrees(tensor.shape, want):
            raise MetadataError(
                f"{source}: {tensor.name!r} has shape {tensor.shape} but metadata implies "
                f"{['batch' if d is None else d for d in want]}"
            )


def _shape_agrees(actual: list, want: list) -> bool:
    """Symbolic or unknown dims (str/None) agree with anything; the batch dim must not be fixed."""
    if len(actual) != len(want):
        return False
    if isinstance(actual[0], int):  # a fixed batch size: not what facegan exports, refuse it
        return False
    return all(not isinstance(a, int) or a == w for a, w in zip(actual[1:], want[1:]))
