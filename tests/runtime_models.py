"""Tiny ONNX generators for the runtime tests, built with the `onnx` helper (tests only).

The runtime must work without the exporter, so its tests build their own models:

- `toy_model`: z (N, latent_dim) -> MatMul W -> Reshape (N, C, S, S) -> Tanh, float NCHW in [-1, 1];
  with `output_dtype="uint8"` the graph ends like a facegan uint8 export: Transpose to NHWC,
  scale to [0, 255], Round, Clip, Cast. `toy_reference` computes the same thing in numpy.
- `conditional_model`: a conditional toy (metadata version 2): z (N, latent_dim) and attributes
  (N, k) -> MatMul W + MatMul A -> Reshape -> Tanh (or the uint8 tail); `conditional_reference`.
  `directions=` (here and in `toy_model`) adds facegan.directions, e.g. `toy_directions(8)`.
- `dcgan_model`: the classic DCGAN generator (ConvTranspose + BatchNorm + ReLU, Tanh) with random
  weights, for measuring session settings on a realistic graph.

Both carry `facegan.*` metadata from `facegan.runtime.metadata.build_metadata` and a dynamic batch axis.
"""

from __future__ import annotations

import json
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


# A small prior (runtime/attributes.py summarize): Black_Hair and Blond_Hair never occur together.
TOY_ATTRIBUTES = {
    "names": ["Smiling", "Eyeglasses", "Black_Hair", "Blond_Hair", "Male"],
    "frequencies": [0.47619, 0.142857, 0.52381, 0.380952, 0.428571],
    "rows": 42,
    "prior": {"vectors": ["00100", "10010", "10101", "00011", "01001", "11100"], "counts": [12, 10, 8, 6, 4, 2]},
}


def toy_directions(latent_dim: int = 8, names: tuple[str, ...] = ("Smiling", "Eyeglasses"), seed: int = 0) -> dict:
    """A facegan.directions object with random unit vectors."""
    v = np.random.default_rng(seed).standard_normal((len(names), latent_dim))
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return {"names": list(names), "vectors": v.tolist(), "accuracy": [0.9] * len(names),
            "boundary_accuracy": [0.95] * len(names), "samples": 1000, "method": "interfacegan"}


def with_directions(model: Path, out: Path, names: tuple[str, ...] = ("Smiling", "Eyeglasses"), seed: int = 0) -> Path:
    """`model` (any facegan .onnx) written to `out` with a `facegan.directions` entry of random unit
    vectors, as facegan-directions would give it; `out` may be `model` itself."""
    proto = onnx.load(str(model))
    props = {p.key: p.value for p in proto.metadata_props}
    directions = toy_directions(int(props["facegan.latent_dim"]), tuple(names), seed)
    props["facegan.directions"] = json.dumps(directions, sort_keys=True)
    del proto.metadata_props[:]
    helper.set_model_props(proto, props)
    onnx.save(proto, str(out))
    return out


def toy_metadata(
    model_config: dict, output_dtype: str = "float32", attributes: dict | None = None, directions: dict | None = None
) -> dict[str, str]:
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
        attributes=attributes,
        directions=directions,
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


def conditional_weights(num_attributes: int, image_size: int, channels: int = 3, seed: int = 0) -> np.ndarray:
    # Larger than W's rows: an attribute visibly changes the face.
    rng = np.random.default_rng(seed + 1000)
    return rng.standard_normal((num_attributes, channels * image_size * image_size)).astype(np.float32)


def conditional_reference(z: np.ndarray, a: np.ndarray, latent_dim: int = 8, image_size: int = 8, channels: int = 3, seed: int = 0) -> np.ndarray:
    """What `conditional_model` computes for float output: tanh(z @ W + a @ A) as (N, C, S, S)."""
    w = toy_weights(latent_dim, image_size, channels, seed)
    aw = conditional_weights(a.shape[1], image_size, channels, seed)
    flat = z.astype(np.float32) @ w + a.astype(np.float32) @ aw
    return np.tanh(flat).reshape(len(z), channels, image_size, image_size)


def _save(graph: onnx.GraphProto, path: Path, metadata: dict[str, str] | None) -> Path:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 9  # readable by any onnxruntime >= 1.17
    if metadata:
        helper.set_model_props(model, metadata)
    onnx.checker.check_model(model)
    path = Path(path)
    onnx.save(model, str(path))
    return path


def _tail(nodes: list, inits: list, output_dtype: str, output_name: str, batch_dim, channels: int, image_size: int) -> tuple:
    """Append the graph's end from "pre" (N, C, S, S): Tanh, or a facegan uint8 export's tail."""
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
    return out_type, out_shape


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
    directions: dict | None = None,
) -> Path:
    """Write a toy generator; `metadata=True` builds matching facegan metadata, False writes none."""
    w = toy_weights(latent_dim, image_size, channels, seed)
    shape_nchw = np.array([-1, channels, image_size, image_size], dtype=np.int64)
    inits = [numpy_helper.from_array(w, "W"), numpy_helper.from_array(shape_nchw, "shape_nchw")]
    nodes = [
        helper.make_node("MatMul", [input_name, "W"], ["flat"]),
        helper.make_node("Reshape", ["flat", "shape_nchw"], ["pre"]),
    ]
    out_type, out_shape = _tail(nodes, inits, output_dtype, output_name, batch_dim, channels, image_size)
    graph = helper.make_graph(
        nodes,
        "toy_generator",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, [batch_dim, latent_dim])],
        [helper.make_tensor_value_info(output_name, out_type, out_shape)],
        initializer=inits,
    )
    if metadata is True:
        metadata = toy_metadata(toy_config(latent_dim, image_size, channels), output_dtype, directions=directions)
    return _save(graph, path, metadata or None)


def conditional_model(
    path: Path,
    *,
    latent_dim: int = 8,
    image_size: int = 8,
    channels: int = 3,
    output_dtype: str = "float32",
    seed: int = 0,
    attributes: dict = TOY_ATTRIBUTES,
    directions: dict | None = None,
    metadata: dict[str, str] | None | bool = True,
    attributes_name: str = "attributes",
    attributes_dim: int | None = None,
) -> Path:
    """Write a conditional toy generator; `attributes_dim` sets the graph's k (default: the prior's)."""
    k = len(attributes["names"]) if attributes_dim is None else attributes_dim
    w = toy_weights(latent_dim, image_size, channels, seed)
    aw = conditional_weights(k, image_size, channels, seed)
    shape_nchw = np.array([-1, channels, image_size, image_size], dtype=np.int64)
    inits = [numpy_helper.from_array(w, "W"), numpy_helper.from_array(aw, "A"),
             numpy_helper.from_array(shape_nchw, "shape_nchw")]
    nodes = [
        helper.make_node("MatMul", ["z", "W"], ["from_z"]),
        helper.make_node("MatMul", [attributes_name, "A"], ["from_attributes"]),
        helper.make_node("Add", ["from_z", "from_attributes"], ["flat"]),
        helper.make_node("Reshape", ["flat", "shape_nchw"], ["pre"]),
    ]
    out_type, out_shape = _tail(nodes, inits, output_dtype, "images", "batch", channels, image_size)
    graph = helper.make_graph(
        nodes,
        "conditional_toy_generator",
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["batch", latent_dim]),
         helper.make_tensor_value_info(attributes_name, TensorProto.FLOAT, ["batch", k])],
        [helper.make_tensor_value_info("images", out_type, out_shape)],
        initializer=inits,
    )
    if metadata is True:
        config = {**toy_config(latent_dim, image_size, channels), "num_attributes": len(attributes["names"])}
        metadata = toy_metadata(config, output_dtype, attributes=attributes, directions=directions)
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
