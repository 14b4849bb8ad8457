"""Where images come from: a folder of images, Kaggle's CelebA through kagglehub, or the toy faces.

    source = resolve_source(DataSpec("celeba", image_size=64))
    source.items      # the sorted image files (or the toy-face indices)
    source.load(item) # -> (3, 64, 64) uint8
    source.key        # cache_key(...): names these pixels for the decode cache and FID statistics

Resolving lists the files (and stats them for the key) but decodes nothing. CelebA comes from
kagglehub: online it fetches (or reuses) the latest version; offline the unversioned handle fails
fast, so the highest version kagglehub completed earlier is opened through its versioned handle.
"""

from __future__ import annotations

import functools
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from facegan.runtime.errors import one_line

from ..errors import DataError
from ..toyfaces import draw_face
from .cache import CACHE_FORMAT_VERSION, cache_key
from .decode import IMAGE_EXTENSIONS, Load, decode_image, list_images

log = logging.getLogger(__name__)

TOY_FACES = "toy-faces"
CELEBA = "celeba"
CELEBA_HANDLE = "jessicali9530/celeba-dataset"
CELEBA_IMAGE_DIR = "img_align_celeba"


@dataclass(frozen=True)
class DataSpec:
    source: str  # "celeba", "toy-faces" or a folder of images
    image_size: int  # side of the square training images in pixels
    crop: int = 0  # centre crop side in source pixels before resizing (0 = largest square)
    cache: bool = True  # decode once into a memory-mapped uint8 cache (needs cache_dir)
    cache_dir: Path | None = None  # where caches live; None = no disk cache (decode every epoch)
    workers: int = 2  # processes decoding JPEGs (cache build and uncached epochs)
    seed: int = 0  # which toy faces to draw
    toy_faces: int = 10000  # number of toy faces
    # A folder's labels CSV (see labels.read_labels); for celeba None means the archive's own
    # list_attr_celeba.csv. Labels name no pixels, so the cache key and fingerprint ignore it.
    labels: Path | None = None


@dataclass(frozen=True)
class Source:
    """The resolved images of a DataSpec: what to load, how, and the key of the pixels."""

    label: str  # how descriptions name it: "toy-faces (seed 0)", "celeba <folder>", "<folder>"
    items: Sequence  # what `load` takes: image files (sorted), or toy-face indices
    load: Load  # item -> (3, image_size, image_size) uint8; raises DECODE_ERRORS for a broken file
    key: str  # cache_key of these pixels
    folder: Path | None  # the folder of images; None for drawn data


def resolve_source(spec: DataSpec) -> Source:
    """The source `spec` names, validated; raises DataError for every user mistake."""
    if spec.image_size < 1:
        raise DataError(f"image size must be >= 1, got {spec.image_size}")
    if spec.crop < 0:
        raise DataError(f"crop must be >= 0 (0 = largest centred square), got {spec.crop}")
    if spec.source == TOY_FACES:
        return _toy_faces(spec)
    if spec.source == CELEBA:
        folder = celeba_folder()
        return _folder(folder, spec, f"celeba {folder}")
    folder = Path(spec.source).expanduser()
    return _folder(folder, spec, str(folder))


def source_fingerprint(spec: DataSpec) -> str:
    """The key of exactly which pixels `spec` serves (see cache_key); decodes nothing."""
    return resolve_source(spec).key


def _toy_face(index: int, image_size: int, seed: int) -> np.ndarray:
    # The same face as toy_faces(..., seed)[index]: each face has its own generator.
    return draw_face(np.random.default_rng([seed, index]), image_size).transpose(2, 0, 1).copy()


def _toy_faces(spec: DataSpec) -> Source:
    n = spec.toy_faces
    if n < 1:
        raise DataError(f"the number of toy faces must be >= 1, got {n}")
    return Source(
        label=f"toy-faces (seed {spec.seed})",
        items=range(n),
        load=functools.partial(_toy_face, image_size=spec.image_size, seed=spec.seed),
        key=cache_key(f"toy-faces-v{CACHE_FORMAT_VERSION}-seed{spec.seed}-n{n}", spec.image_size),
        folder=None,
    )


def _folder(folder: Path, spec: DataSpec, label: str) -> Source:
    if not folder.exists():
        raise DataError(f"data folder {folder} does not exist")
    if not folder.is_dir():
        raise DataError(f"{folder} is not a folder; pass a folder of images, 'celeba' or 'toy-faces'")
    files = list_images(folder)
    if not files:
        exts = ", ".join(sorted(e[1:] for e in IMAGE_EXTENSIONS))
        raise DataError(f"no image files ({exts}) in {folder}")
    return Source(
        label=label,
        items=files,
        load=functools.partial(decode_image, image_size=spec.image_size, crop=spec.crop),
        key=cache_key(folder.name, spec.image_size, spec.crop, files),
        folder=folder,
    )


# ---------------------------------------------------------------------------------------------
# CelebA through kagglehub


def _kagglehub_cache_root() -> Path:
    # The same rule kagglehub 1.0 uses (kagglehub.config.get_cache_folder).
    return Path(os.environ.get("KAGGLEHUB_CACHE", Path.home() / ".cache" / "kagglehub"))


def _cached_versions(handle: str) -> list[int]:
    """Versions of a dataset that kagglehub finished downloading into its cache, highest first."""
    owner, name = handle.split("/")
    base = _kagglehub_cache_root() / "datasets" / owner / name
    versions = []
    for marker in base.glob("*.complete"):
        if marker.stem.isdigit() and (base / "versions" / marker.stem).is_dir():
            versions.append(int(marker.stem))
    return sorted(versions, reverse=True)


def _find_image_dir(root: Path, name: str, max_depth: int = 4) -> Path | None:
    """The shallowest folder called `name` at or below `root` (breadth first, folders only)."""
    level = [root]
    for _ in range(max_depth + 1):
        next_level = []
        for d in level:
            if d.name == name:
                return d
            try:
                next_level.extend(sorted(e for e in d.iterdir() if e.is_dir()))
            except OSError:
                continue
        level = next_level
    return None


def celeba_folder() -> Path:
    """The img_align_celeba folder of Kaggle's CelebA, downloaded by kagglehub or from its cache."""
    import kagglehub

    hint = f"download CelebA yourself and pass --data /path/to/{CELEBA_IMAGE_DIR}"
    try:
        root = Path(kagglehub.dataset_download(CELEBA_HANDLE))
    # kagglehub raises requests, credential and HTTP errors of many types; all mean "not downloaded".
    except Exception as online_error:
        versions = _cached_versions(CELEBA_HANDLE)
        if not versions:
            raise DataError(
                f"could not download CelebA ({CELEBA_HANDLE}) with kagglehub "
                f"({type(online_error).__name__}: {one_line(online_error, 200)}) and the kagglehub cache "
                f"({_kagglehub_cache_root()}) holds no complete copy; {hint}"
            ) from online_error
        handle = f"{CELEBA_HANDLE}/versions/{versions[0]}"
        try:
            root = Path(kagglehub.dataset_download(handle))
        except Exception as cached_error:
            raise DataError(
                f"could not download CelebA with kagglehub ({one_line(online_error, 200)}) nor open the cached "
                f"copy {handle} ({type(cached_error).__name__}: {one_line(cached_error, 200)}); {hint}"
            ) from cached_error
        log.info("kagglehub is offline; using the cached CelebA %s", handle)
    folder = _find_image_dir(root, CELEBA_IMAGE_DIR)
    if folder is None:
        raise DataError(f"no {CELEBA_IMAGE_DIR} folder in the CelebA download at {root}; {hint}")
    return folder


__all__ = ["CELEBA", "CELEBA_HANDLE", "CELEBA_IMAGE_DIR", "TOY_FACES", "DataSpec", "Source", "celeba_folder",
           "resolve_source", "source_fingerprint"]
