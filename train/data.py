"""Training data: CelebA via kagglehub, any folder of images, or the built-in toy faces.

`load_data(DataSpec(...))` returns an `ImageData`: N square uint8 images served as (B, C, H, W)
batches in the order of `DistributedSampler` (shuffled per epoch, resumable at any batch, disjoint
across ranks). Folder images are centre-cropped and resized once, then kept in a memory-mapped uint8
cache on disk, so after the first pass an epoch decodes no JPEG at all:

    data = load_data(DataSpec("celeba", image_size=64, cache_dir=Path("runs/.cache")), run_dir)
    for real in data.batches(epoch, batch_size=128, seed=0, start_batch=resume_batch):
        x = normalize(real.to(device), model_cfg.value_range)

The cache file is keyed by a hash of the source file list (path, size, mtime), the image size and the
crop, and is written under a temporary name and renamed, so concurrent or interrupted runs never see
half a cache. `cache=False` (or no `cache_dir`) decodes every epoch through a DataLoader instead.
Unreadable files are skipped, counted and listed in `<run_dir>/skipped-files.txt`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset, DistributedSampler
from torchvision.transforms.v2 import functional as TF

from .errors import DataError
from facegan.train.toyfaces import toy_faces

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]  # (done, total)

CELEBA_HANDLE = "jessicali9530/celeba-dataset"
CELEBA_IMAGE_DIR = "img_align_celeba"
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp"})
SKIPPED_FILES_NAME = "skipped-files.txt"
# Bump when decoding or toy-face drawing changes, so caches of the old pixels are not reused.
CACHE_FORMAT_VERSION = 1
CACHE_BUILD_CHUNK = 64  # images per worker task while building the cache
# What a broken or foreign file raises in PIL; anything else is a bug and propagates.
_DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError)


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


# ---------------------------------------------------------------------------------------------
# Files and decoding


def list_images(folder: Path) -> list[Path]:
    """Every image file below `folder` (by extension, case-insensitive), as one sorted flat list."""
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        for name in filenames:
            if os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS:
                found.append(Path(dirpath) / name)
    return sorted(found)


def decode_image(path: Path, image_size: int, crop: int = 0) -> np.ndarray:
    """Decode, centre-crop and resize one image to (3, image_size, image_size) uint8.

    The crop is the largest centred square, or `crop` source pixels (clamped to the image) if > 0.
    Raises what PIL raises for an unreadable file.
    """
    with Image.open(path) as im:
        w, h = im.size
        side = min(w, h) if crop <= 0 else min(crop, w, h)
        # Let libjpeg decode at 1/2, 1/4 or 1/8 scale while the crop stays >= image_size:
        # about twice as fast, and the DCT downscale is itself antialiased. No-op for other formats.
        im.draft("RGB", (math.ceil(w * image_size / side), math.ceil(h * image_size / side)))
        rgb = im.convert("RGB")
    scaled_side = min(round(side * rgb.size[0] / w), *rgb.size)
    t = TF.pil_to_tensor(rgb)
    t = TF.center_crop(t, [scaled_side, scaled_side])
    t = TF.resize(t, [image_size, image_size], interpolation=TF.InterpolationMode.BILINEAR, antialias=True)
    return t.numpy()


def _check_header(path: Path) -> str:
    """'' if PIL can identify the file as an image, else the reason it cannot."""
    try:
        with Image.open(path) as im:
            im.size
        return ""
    except _DECODE_ERRORS as e:
        return f"{type(e).__name__}: {e}"


class _DecodeDataset(Dataset):
    """Decodes file i. Lenient (cache build): returns (i, array or None, reason). Strict: a tensor."""

    def __init__(self, files: Sequence[Path], image_size: int, crop: int, strict: bool):
        self.files, self.image_size, self.crop, self.strict = files, image_size, crop, strict

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int):
        try:
            # Looked up on the module each call, so tests can replace it.
            img = decode_image(self.files[i], self.image_size, self.crop)
        except _DECODE_ERRORS as e:
            if self.strict:
                raise DataError(
                    f"cannot decode {self.files[i]} ({type(e).__name__}: {e}); delete it, or train with the "
                    "decode cache, which skips unreadable files"
                ) from e
            return i, None, f"{type(e).__name__}: {e}"
        return torch.from_numpy(img) if self.strict else (i, img, "")


class _HeaderDataset(Dataset):
    def __init__(self, files: Sequence[Path]):
        self.files = files

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> tuple[int, str]:
        return i, _check_header(self.files[i])


def _as_list(batch: list) -> list:
    return batch


def _chunks(dataset: Dataset, workers: int) -> DataLoader:
    """Ordered chunks of a lenient dataset's items, computed by `workers` processes."""
    return DataLoader(dataset, batch_size=CACHE_BUILD_CHUNK, num_workers=workers, collate_fn=_as_list)


# ---------------------------------------------------------------------------------------------
# The data set


class ImageData:
    """N images as uint8, served in deterministic, resumable batches.

    Backed either by an (N, C, H, W) uint8 array (in memory or memory-mapped cache) or by a list of
    files decoded every epoch.
    """

    def __init__(
        self,
        description: str,
        images: np.ndarray | None = None,
        files: Sequence[Path] | None = None,
        image_size: int = 0,
        crop: int = 0,
        workers: int = 0,
        skipped: Sequence[tuple[str, str]] = (),
        cache_path: Path | None = None,
    ):
        if (images is None) == (files is None):
            raise ValueError("ImageData needs exactly one of images or files")
        self._images = images
        self._files = list(files) if files is not None else None
        self._image_size = image_size if images is None else images.shape[-1]
        self._crop = crop
        self._workers = workers
        self.skipped: list[tuple[str, str]] = list(skipped)  # (path, reason) of unreadable files
        self.num_skipped = len(self.skipped)
        self.description = description
        self.cache_path = cache_path  # the memory-mapped cache in use, if any

    def __len__(self) -> int:
        return len(self._images) if self._images is not None else len(self._files)

    @property
    def image_size(self) -> int:
        return self._image_size

    def _sampler(self, batch_size: int, seed: int, rank: int, world_size: int) -> DistributedSampler:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        sampler = DistributedSampler(
            range(len(self)), num_replicas=world_size, rank=rank, shuffle=True, seed=seed, drop_last=True
        )
        if len(sampler) < batch_size:
            raise DataError(
                f"{len(self)} images give no full batch of {batch_size} per process on {world_size} "
                f"process(es); use a smaller batch size or more images"
            )
        return sampler

    def batches_per_epoch(self, batch_size: int, world_size: int = 1) -> int:
        """Full batches of `batch_size` each process gets per epoch."""
        return len(self._sampler(batch_size, 0, 0, world_size)) // batch_size

    def epoch_indices(
        self, epoch: int, batch_size: int, seed: int, rank: int = 0, world_size: int = 1
    ) -> list[list[int]]:
        """The image indices of every full batch of this rank in this epoch."""
        sampler = self._sampler(batch_size, seed, rank, world_size)
        sampler.set_epoch(epoch)
        order = list(sampler)
        return [order[b * batch_size : (b + 1) * batch_size] for b in range(len(order) // batch_size)]

    def batches(
        self,
        epoch: int,
        batch_size: int,
        seed: int,
        start_batch: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ) -> Iterator[torch.Tensor]:
        """uint8 (B, C, H, W) batches of this rank's share of `epoch`, from batch `start_batch` on.

        Order: DistributedSampler(shuffle=True, seed=seed, drop_last=True).set_epoch(epoch); the
        incomplete last batch is dropped; skipped batches are never decoded.
        """
        todo = self.epoch_indices(epoch, batch_size, seed, rank, world_size)[start_batch:]
        if self._images is not None:
            return (torch.from_numpy(np.asarray(self._images[np.asarray(idx)])) for idx in todo)
        loader = DataLoader(
            _DecodeDataset(self._files, self._image_size, self._crop, strict=True),
            batch_sampler=todo,
            num_workers=self._workers,
            # Starting a DataLoader draws its workers' base seed from the global torch RNG, which
            # the training noise also comes from: an epoch started mid-way on resume would shift
            # every later draw. A generator of its own keeps the global stream untouched.
            generator=torch.Generator().manual_seed(seed),
        )
        return iter(loader)

    def sample(self, n: int) -> torch.Tensor:
        """The first min(n, len) images as uint8 (n, C, H, W): for the real-image grid and FID."""
        n = min(n, len(self))
        if self._images is not None:
            return torch.from_numpy(np.array(self._images[:n]))
        ds = _DecodeDataset(self._files, self._image_size, self._crop, strict=True)
        return torch.stack([ds[i] for i in range(n)])


def normalize(batch_uint8: torch.Tensor, value_range: tuple[float, float]) -> torch.Tensor:
    """uint8 images to float32 in `value_range`: the inverse of facegan.runtime.images.to_uint8."""
    if batch_uint8.dtype != torch.uint8:
        raise ValueError(f"expected a uint8 batch, got {batch_uint8.dtype}")
    lo, hi = float(value_range[0]), float(value_range[1])
    return batch_uint8.to(torch.float32) * ((hi - lo) / 255.0) + lo


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
    """The img_align_celeba folder of Kaggle's CelebA, downloaded by kagglehub or from its cache.

    Online, kagglehub fetches (or reuses) the latest version. Offline, the unversioned handle fails
    fast, so the highest version kagglehub completed earlier is used through its versioned handle,
    which works without network.
    """
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
                f"({type(online_error).__name__}: {_first_line(online_error)}) and the kagglehub cache "
                f"({_kagglehub_cache_root()}) holds no complete copy; {hint}"
            ) from online_error
        handle = f"{CELEBA_HANDLE}/versions/{versions[0]}"
        try:
            root = Path(kagglehub.dataset_download(handle))
        except Exception as cached_error:
            raise DataError(
                f"could not download CelebA with kagglehub ({_first_line(online_error)}) nor open the cached "
                f"copy {handle} ({type(cached_error).__name__}: {_first_line(cached_error)}); {hint}"
            ) from cached_error
        log.info("kagglehub is offline; using the cached CelebA %s", handle)
    folder = _find_image_dir(root, CELEBA_IMAGE_DIR)
    if folder is None:
        raise DataError(f"no {CELEBA_IMAGE_DIR} folder in the CelebA download at {root}; {hint}")
    return folder


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0][:200] if text else "no message"


# ---------------------------------------------------------------------------------------------
# The on-disk cache


def _files_key(files: Sequence[Path], image_size: int, crop: int) -> str:
    h = hashlib.sha256(f"facegan-cache v{CACHE_FORMAT_VERSION} size={image_size} crop={crop}\n".encode())
    for f in files:
        st = f.stat()
        h.update(f"{f.resolve()}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:20]


def _open_cache(path: Path, image_size: int) -> tuple[np.ndarray, list[tuple[str, str]]] | None:
    """The cached array and its skipped-file list, or None if absent or unusable."""
    meta_path = path.with_suffix(".json")
    if not (path.is_file() and meta_path.is_file()):
        return None
    try:
        meta = json.loads(meta_path.read_text())
        images = np.load(path, mmap_mode="r")
    except (OSError, ValueError) as e:
        log.warning("ignoring unreadable data cache %s (%s); rebuilding it", path, e)
        return None
    expected = (meta.get("num_images"), 3, image_size, image_size)
    if images.dtype != np.uint8 or images.shape != expected:
        log.warning("ignoring data cache %s with unexpected shape %s; rebuilding it", path, images.shape)
        return None
    return images, [tuple(s) for s in meta.get("skipped", [])]


class _NothingReadable(Exception):
    def __init__(self, skipped: list[tuple[str, str]]):
        super().__init__(f"{len(skipped)} files, none readable")
        self.skipped = skipped


def _write_cache(
    path: Path,
    total: int,
    image_size: int,
    fill: Callable[[np.ndarray], tuple[int, list[tuple[str, str]]]],
) -> tuple[np.ndarray, list[tuple[str, str]]]:
    """Create the cache at `path` atomically: `fill(array)` writes rows and returns (rows, skipped)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tag = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp = path.with_name(f"{path.stem}.{tag}.tmp.npy")
    tmp_meta = path.with_name(f"{path.stem}.{tag}.tmp.json")
    try:
        arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(total, 3, image_size, image_size))
        rows, skipped = fill(arr)
        if rows == 0:
            raise _NothingReadable(skipped)
        if rows < total:
            # Unreadable files leave unused rows at the end: copy the rest into a right-sized file.
            tmp2 = path.with_name(f"{path.stem}.{tag}.tmp2.npy")
            small = np.lib.format.open_memmap(tmp2, mode="w+", dtype=np.uint8, shape=(rows, 3, image_size, image_size))
            small[:] = arr[:rows]
            small.flush()
            del small, arr
            os.replace(tmp2, tmp)
        else:
            arr.flush()
            del arr
        tmp_meta.write_text(json.dumps({"num_images": rows, "skipped": skipped}))
        # The .json goes first: a finished .npy always has its metadata beside it.
        os.replace(tmp_meta, path.with_suffix(".json"))
        os.replace(tmp, path)
    finally:
        for t in (tmp, tmp_meta):
            t.unlink(missing_ok=True)
    return np.load(path, mmap_mode="r"), skipped


# ---------------------------------------------------------------------------------------------
# Loading


def _decode_all(
    files: Sequence[Path], out: np.ndarray, spec: DataSpec, progress: Progress | None
) -> tuple[int, list[tuple[str, str]]]:
    """Decode `files` in order into the first rows of `out`; unreadable ones are skipped."""
    rows, skipped, done = 0, [], 0
    for chunk in _chunks(_DecodeDataset(files, spec.image_size, spec.crop, strict=False), spec.workers):
        for i, img, reason in chunk:
            if img is None:
                skipped.append((str(files[i]), reason))
            else:
                out[rows] = img
                rows += 1
        done += len(chunk)
        if progress is not None:
            progress(done, len(files))
    return rows, skipped


def _no_readable(folder: Path, skipped: list[tuple[str, str]]) -> DataError:
    path, reason = skipped[0]
    return DataError(f"none of the {len(skipped)} image files in {folder} could be read (first: {path}: {reason})")


def _load_folder(folder: Path, spec: DataSpec, label: str, progress: Progress | None) -> ImageData:
    if not folder.exists():
        raise DataError(f"data folder {folder} does not exist")
    if not folder.is_dir():
        raise DataError(f"{folder} is not a folder; pass a folder of images, 'celeba' or 'toy-faces'")
    files = list_images(folder)
    if not files:
        exts = ", ".join(sorted(e[1:] for e in IMAGE_EXTENSIONS))
        raise DataError(f"no image files ({exts}) in {folder}")

    if spec.cache and spec.cache_dir is not None:
        key = _files_key(files, spec.image_size, spec.crop)
        path = Path(spec.cache_dir) / f"{_slug(folder.name)}-{spec.image_size}px-{key}.npy"
        opened = _open_cache(path, spec.image_size)
        if opened is None:
            try:
                opened = _write_cache(
                    path, len(files), spec.image_size, lambda arr: _decode_all(files, arr, spec, progress)
                )
            except _NothingReadable as e:
                raise _no_readable(folder, e.skipped) from None
        images, skipped = opened
        description = _describe(label, len(images), spec.image_size, skipped)
        return ImageData(description, images=images, skipped=skipped, cache_path=path)

    # Uncached: check headers now (cheap), decode every epoch. A file that passes the header check
    # but fails to decode later stops the epoch with a DataError naming it.
    readable, skipped, done = [], [], 0
    for chunk in _chunks(_HeaderDataset(files), spec.workers):
        for i, reason in chunk:
            if reason:
                skipped.append((str(files[i]), reason))
            else:
                readable.append(files[i])
        done += len(chunk)
        if progress is not None:
            progress(done, len(files))
    if not readable:
        raise _no_readable(folder, skipped)
    return ImageData(_describe(label, len(readable), spec.image_size, skipped), files=readable,
                     image_size=spec.image_size, crop=spec.crop, workers=spec.workers, skipped=skipped)


def _load_toy_faces(spec: DataSpec, progress: Progress | None) -> ImageData:
    n, size = spec.toy_faces, spec.image_size
    if n < 1:
        raise DataError(f"the number of toy faces must be >= 1, got {n}")
    label = f"toy-faces (seed {spec.seed})"

    def fill(out: np.ndarray) -> tuple[int, list]:
        for start in range(0, n, CACHE_BUILD_CHUNK):
            count = min(CACHE_BUILD_CHUNK, n - start)
            out[start : start + count] = toy_faces(count, size, spec.seed, start=start).transpose(0, 3, 1, 2)
            if progress is not None:
                progress(start + count, n)
        return n, []

    if spec.cache and spec.cache_dir is not None:
        path = Path(spec.cache_dir) / f"toy-faces-v{CACHE_FORMAT_VERSION}-seed{spec.seed}-n{n}-{size}px.npy"
        opened = _open_cache(path, size) or _write_cache(path, n, size, fill)
        return ImageData(_describe(label, n, size, []), images=opened[0], cache_path=path)
    images = np.empty((n, 3, size, size), dtype=np.uint8)
    fill(images)
    return ImageData(_describe(label, n, size, []), images=images)


def _describe(label: str, n: int, size: int, skipped: Sequence) -> str:
    extra = f", {len(skipped)} skipped" if skipped else ""
    return f"{label} ({n} images, {size} px{extra})"


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)[:40] or "data"


def write_skipped(run_dir: Path, skipped: Sequence[tuple[str, str]]) -> Path:
    """List skipped files, one `path<TAB>reason` a line, in `<run_dir>/skipped-files.txt`."""
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / SKIPPED_FILES_NAME
    path.write_text("".join(f"{p}\t{reason}\n" for p, reason in skipped))
    return path


def source_fingerprint(spec: DataSpec) -> str:
    """A short key of exactly which pixels `spec` serves: the source's file list (paths, sizes,
    mtimes), the image size and crop, or the toy faces drawn. It changes when any file changes, so
    caches keyed by it (FID reference statistics) are never served for other data. Decodes
    nothing; stats every file of a folder once (a second or two for CelebA).
    """
    if spec.source == "toy-faces":
        return f"toy-faces-v{CACHE_FORMAT_VERSION}-seed{spec.seed}-n{spec.toy_faces}-{spec.image_size}px"
    folder = celeba_folder() if spec.source == "celeba" else Path(spec.source).expanduser()
    if not folder.is_dir():
        raise DataError(f"data folder {folder} does not exist")
    name = "celeba" if spec.source == "celeba" else _slug(folder.name)
    return f"{name}-{spec.image_size}px-{_files_key(list_images(folder), spec.image_size, spec.crop)}"


def load_data(
    spec: DataSpec, run_dir: Path | None = None, progress: Progress | None = None, *, report: bool = True
) -> ImageData:
    """Resolve `spec.source`, decode or reuse the cache, and return the data set.

    Raises DataError for every user mistake (missing, empty or unreadable data, no download).
    `progress(done, total)` is called while images are decoded, drawn or checked. Unreadable files
    are reported once (`report_skipped`), unless `report=False`: training reports them itself once
    its run directory exists, which it creates only after the data loaded.
    """
    if spec.image_size < 1:
        raise DataError(f"image size must be >= 1, got {spec.image_size}")
    if spec.crop < 0:
        raise DataError(f"crop must be >= 0 (0 = largest centred square), got {spec.crop}")
    if spec.source == "toy-faces":
        return _load_toy_faces(spec, progress)
    if spec.source == "celeba":
        folder = celeba_folder()
        data = _load_folder(folder, spec, f"celeba {folder}", progress)
    else:
        folder = Path(spec.source).expanduser()
        data = _load_folder(folder, spec, str(folder), progress)
    if report:
        message = report_skipped(data, run_dir)
        if message:
            log.warning("%s", message)
    return data


def report_skipped(data: ImageData, run_dir: Path | None) -> str:
    """List the skipped files in `run_dir` (when given); the one-line message for the user, or ''."""
    if not data.skipped:
        return ""
    where = f" (listed in {write_skipped(Path(run_dir), data.skipped)})" if run_dir is not None else ""
    return f"skipped {data.num_skipped} unreadable image file(s){where}; training on {data.description}"
