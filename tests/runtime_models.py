"""Tiny ONNX generators for the runtime tests, built with the `onnx` helper (tests only).

The runtime must work without the exporter, so its tests build their own models:

- `toy_model`: z (N, latent_dim) -> MatMul W -> Reshape (N, C, S, S) -> Tanh, float NCHW in [-1, 1];
  with `output_dtype="uint8"` the graph ends like a facegan uint8 export: Transpose to NHWC,
  scale to [0, 255], Round, Clip, Cast. `toy_reference` computes the same thing in numpy.
- `dcgan_model`: the classic DCGAN generator (ConvTranspose + BatchNorm + ReLU, Tanh) with random
  weights, for measuring session settings on a realistic graph.

Both carry `facegan.*` metadata from `facegan.runtime.metadata.build_metadata` and a dynamic batch axis.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from facegan.runtime.metadata import build_metadata

OPSET = 18


def toy_config(latent_dim: int = 8, image_size: int = 8, channels: int = 3) -> dict:
    """A ModelConfig-shaped dict, as the exporter would store it."""
    return {
        "latent_dim": latent_dim,
        "ngf": 8,
        "ndf": 8,
        "channels": channels,
        "image_size": image_size,
        "stem": "convtranspose",
        "activation": "tanh",
        "value_range": [-1.0, 1.0],
    }


def toy_metadata(model_config: dict, output_dtype: str = "float32") -> dict[str, str]:
    return build_metadata(
        model_config=model_config,
        preset="test",
        weights="raw",
        train_step=3,
        train_epoch=1,
        checkpoint_sha256="0" * 64,
        output_dtype=output_dtype,
        dtype="fp32",
        versions={"torch": "test", "onnx": onnx.__version__, "facegan": "test"},
    )


def toy_weights(latent_dim: int, image_size: int, channels: int = 3, seed: int = 0) -> np.ndarray:
    # Scaled so tanh sees values of order 1: outputs spread over the whole range, saturating a bit.
    rng = np.random.default_rng(seed)
    size = channels * image_size * image_size
    return (rng.standard_normal((latent_dim, size)) / np.sqrt(latent_dim)).astype(np.float32)


def toy_reference(z: np.ndarray, latent_dim: int = 8, image_size: int = 8, channels: int = 3, seed: int = 0) -> np.ndarray:
    """What `toy_model` computes for float output: tanh(z @ W) as (N, C, S, S) float32."""
    w = toy_weights(latent_dim, image_size, channels, seed)
    return np.tanh(z.astype(np.float32) @ w).reshape(len(z), channels, image_size, image_size)


def _save(graph: onnx.GraphProto, path: Path, metadata: dict[str, str] | None) -> Path:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 9  # readable by any onnxruntime >= 1.17
    if metadata:
        helper.set_model_props(model, metadata)
    onnx.checker.check_model(model)
    path = Path(path)
    onnx.save(model, str(path))
    return path


def toy_model(
    path: Path,
    *,
    latent_dim: int = 8,
    image_size: int = 8,
    channels: int = 3,
    output_dtype: str = "float32",
    seed: int = 0,
    metadata: dict[str, str] | None | bool = True,
    input_name: str = "z",
    output_name: str = "images",
    batch_dim: str | int = "batch",
) -> Path:
    """Write a toy generator; `metadata=True` builds matching facegan metadata, False writes none."""
    w = toy_weights(latent_dim, image_size, channels, seed)
    shape_nchw = np.array([-1, channels, image_size, image_size], dtype=np.int64)
    inits = [numpy_helper.from_array(w, "W"), numpy_helper.from_array(shape_nchw, "shape_nchw")]
    nodes = [
        helper.make_node("MatMul", [input_name, "W"], ["flat"]),
        helper.make_node("Reshape", ["flat", "shape_nchw"], ["pre"]),
    ]
    if output_dtype == "float32":
        nodes.append(helper.make_node("Tanh", ["pre"], [output_name]))
        out_type, out_shape = TensorProto.FLOAT, [batch_dim, channels, image_size, image_size]
    else:
        # The uint8 tail of a facegan export: NHWC, (x - lo) * 255 / (hi - lo), round, clip, cast.
        inits += [
            numpy_helper.from_array(np.array(1.0, np.float32), "lo_neg"),
            numpy_helper.from_array(np.array(127.5, np.float32), "scale"),
            numpy_helper.from_array(np.array(0.0, np.float32), "zero"),
            numpy_helper.from_array(np.array(255.0, np.float32), "full"),
        ]
        nodes += [
            helper.make_node("Tanh", ["pre"], ["act"]),
            helper.make_node("Transpose", ["act"], ["nhwc"], perm=[0, 2, 3, 1]),
            helper.make_node("Add", ["nhwc", "lo_neg"], ["shifted"]),
            helper.make_node("Mul", ["shifted", "scale"], ["scaled"]),
            helper.make_node("Round", ["scaled"], ["rounded"]),
            helper.make_node("Clip", ["rounded", "zero", "full"], ["clipped"]),
            helper.make_node("Cast", ["clipped"], [output_name], to=TensorProto.UINT8),
        ]
        out_type, out_shape = TensorProto.UINT8, [batch_dim, image_size, image_size, channels]
    graph = helper.make_graph(
        nodes,
        "toy_generator",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, [batch_dim, latent_dim])],
        [helper.make_tensor_value_info(output_name, out_type, out_shape)],
        initializer=inits,
    )
    if metadata is True:
        metadata = toy_metadata(toy_config(latent_dim, image_size, channels), output_dtype)
    return _save(graph, path, metadata or None)


def dcgan_model(path: Path, *, latent_dim: int = 100, ngf: int = 64, seed: int = 0, fold_bn: bool = False) -> Path:
    """The classic 64x64 DCGAN generator with random weights (fp32, NCHW, tanh).

    `fold_bn=True` leaves BatchNorm out, as the dynamo exporter folds it into the ConvTranspose.
    """
    rng = np.random.default_rng(seed)
    widths = [latent_dim, ngf * 8, ngf * 4, ngf * 2, ngf, 3]
    inits: list[TensorProto] = [
        numpy_helper.from_array(np.array([-1, latent_dim, 1, 1], dtype=np.int64), "z_shape")
    ]
    nodes = [helper.make_node("Reshape", ["z", "z_shape"], ["x0"])]
    x = "x0"
    for i, (c_in, c_out) in enumerate(zip(widths[:-1], widths[1:])):
        w = (rng.standard_normal((c_in, c_out, 4, 4)) * 0.02).astype(np.float32)
        inits.append(numpy_helper.from_array(w, f"w{i}"))
        first = i == 0
        nodes.append(
            helper.make_node(
                "ConvTranspose", [x, f"w{i}"], [f"ct{i}"], kernel_shape=[4, 4],
                strides=[1, 1] if first else [2, 2], pads=[0, 0, 0, 0] if first else [1, 1, 1, 1],
            )
        )
        if c_out == 3:  # 3 x 64 x 64
            nodes.append(helper.make_node("Tanh", [f"ct{i}"], ["images"]))
            break
        y = f"ct{i}"
        if not fold_bn:
            for name, value in (
                ("scale", 1 + 0.02 * rng.standard_normal(c_out)),
                ("bias", 0.02 * rng.standard_normal(c_out)),
                ("mean", 0.1 * rng.standard_normal(c_out)),
                ("var", 0.5 + rng.random(c_out)),
            ):
                inits.append(numpy_helper.from_array(value.astype(np.float32), f"bn{i}_{name}"))
            nodes.append(
                helper.make_node(
                    "BatchNormalization",
                    [y, f"bn{i}_scale", f"bn{i}_bias", f"bn{i}_mean", f"bn{i}_var"],
                    [f"bn{i}"],
                )
            )
            y = f"bn{i}"
        nodes.append(helper.make_node("Relu", [y], [f"x{i + 1}"]))
        x = f"x{i + 1}"
    graph = helper.make_graph(
        nodes,
        "dcgan_generator",
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["batch", latent_dim])],
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", 3, 64, 64])],
        initializer=inits,
    )
    cfg = {**toy_config(latent_dim, 64), "ngf": ngf, "ndf": ngf}
    return _save(graph, path, toy_metadata(cfg))
