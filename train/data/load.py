"""`load_data`: a DataSpec in, a data set out, with the decode cache built or reused on the way.

    data = load_data(DataSpec("celeba", image_size=64, cache_dir=Path("runs/.cache")), run_dir)

With a cache (`spec.cache` and a `cache_dir`) the images are decoded once into
`<cache_dir>/<cache_key>.npy` and served memory-mapped (`ArrayImages`): after the first pass an
epoch decodes no JPEG at all. Without one, a folder's headers are checked now and its images
decoded every epoch; toy faces are drawn every epoch (`DecodedImages`). Unreadable files are
skipped, counted, and listed in `<run_dir>/skipped-files.txt`.

`load_labels(spec, data)` gives the attribute labels of exactly those images, row i for image i:
toy faces from their drawing parameters, CelebA from its list_attr_celeba.csv, a folder from
`spec.labels`. Skipped files drop their rows, so the labels stay aligned.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import numpy as np

from facegan.runtime.files import atomic_write_text

from ..errors import DataError
from ..toyface_params import ATTRIBUTES, toy_face_attributes
from .cache import NothingReadable, open_cache, write_cache
from .datasets import ArrayImages, DecodedImages, ImageData
from .decode import Progress, decode_into, readable_files
from .labels import Labels, celeba_attributes_file, read_labels
from .sources import CELEBA, TOY_FACES, DataSpec, Source, resolve_source

log = logging.getLogger(__name__)

def load_data(
    spec: DataSpec, skipped_file: Path | None = None, progress: Progress | None = None, *, report: bool = True
) -> ImageData:
    """Resolve `spec.source`, decode or reuse the cache, and return the data set.

    Raises DataError for every user mistake (missing, empty or unreadable data, no download).
    `progress(done, total)` is called while images are decoded, drawn or checked. Unreadable files
    are reported once (`report_skipped`, listed in `skipped_file` when given), unless `report=False`:
    training reports them itself once its run directory exists, which it creates only after the
    data loaded.
    """
    source = resolve_source(spec)
    if spec.cache and spec.cache_dir is not None:
        data = _cached(source, spec, progress)
    else:
        data = _uncached(source, spec, progress)
    if report:
        message = report_skipped(data, skipped_file)
        if message:
            log.warning("%s", message)
    return data


def _cached(source: Source, spec: DataSpec, progress: Progress | None) -> ArrayImages:
    path = Path(spec.cache_dir) / f"{source.key}.npy"
    opened = open_cache(path, spec.image_size)
    if opened is None:
        def fill(out: np.ndarray):
            return decode_into(source.items, source.load, out, spec.workers, progress)

        try:
            opened = write_cache(path, len(source.items), spec.image_size, fill)
        except NothingReadable as e:
            raise _no_readable(source, e.skipped) from e
    images, skipped = opened
    return ArrayImages(images, _describe(source, len(images), spec.image_size, skipped), source.key,
                       skipped=skipped, cache_path=path)


def _uncached(source: Source, spec: DataSpec, progress: Progress | None) -> DecodedImages:
    items, skipped = source.items, []
    if source.folder is not None:
        # Headers now (cheap), pixels every epoch. A file that passes the header check but fails to
        # decode later stops the epoch with a DataError naming it.
        items, skipped = readable_files(source.items, spec.workers, progress)
        if not items:
            raise _no_readable(source, skipped)
    return DecodedImages(items, source.load, spec.image_size, spec.workers,
                         _describe(source, len(items), spec.image_size, skipped), source.key, skipped=skipped)


def _no_readable(source: Source, skipped: list[tuple[str, str]]) -> DataError:
    path, reason = skipped[0]
    return DataError(
        f"none of the {len(skipped)} image files in {source.folder} could be read (first: {path}: {reason})"
    )


def _describe(source: Source, n: int, size: int, skipped: Sequence) -> str:
    extra = f", {len(skipped)} skipped" if skipped else ""
    return f"{source.label} ({n} images, {size} px{extra})"


def write_skipped(path: Path, skipped: Sequence[tuple[str, str]]) -> Path:
    """List skipped files in `path` (a run's skipped-files.txt), one `file<TAB>reason` a line."""
    atomic_write_text(path, "".join(f"{p}\t{reason}\n" for p, reason in skipped))
    return path


def report_skipped(data: ImageData, skipped_file: Path | None) -> str:
    """List the skipped files in `skipped_file` (when given); the one-line message for the user, or ''."""
    if not data.skipped:
        return ""
    where = f" (listed in {write_skipped(Path(skipped_file), data.skipped)})" if skipped_file is not None else ""
    return f"skipped {data.num_skipped} unreadable image file(s){where}; training on {data.description}"


def load_labels(spec: DataSpec, source_or_data: Source | ImageData | None = None) -> Labels:
    """The labels of the images `spec` serves, row i for image i of `source_or_data`.

    Given the data set load_data returned, the rows of its skipped files are dropped; given a
    Source (or nothing: `spec` is resolved), every item has a row. Raises DataError when there are
    no labels to be had or they do not match the images (see labels.read_labels).
    """
    data = source_or_data if isinstance(source_or_data, ImageData) else None
    source = source_or_data if isinstance(source_or_data, Source) else resolve_source(spec)
    if data is not None and data.fingerprint != source.key:
        raise DataError(f"the images of {source.label} changed since they were loaded "
                        f"({data.fingerprint} then, {source.key} now); load them again")
    if spec.source == TOY_FACES:
        if spec.labels is not None:
            raise DataError(f"toy faces are labelled by their drawing parameters; --labels {spec.labels} "
                            f"is for a folder of images")
        values = toy_face_attributes(len(source.items), spec.seed)
        values.setflags(write=False)
        labels = Labels(ATTRIBUTES, values, f"toy-faces drawing parameters (seed {spec.seed})")
    else:
        if spec.labels is not None:
            csv_path = Path(spec.labels).expanduser()
        elif spec.source == CELEBA:
            csv_path = celeba_attributes_file(source.folder)
        else:
            raise DataError("a folder needs --labels FILE.csv for attributes")
        labels = read_labels(csv_path, source.items, source.folder)
    if data is None:
        return labels
    # Read against every file, then keep the rows of the files that decoded: an unreadable file
    # still needs its row (it is the same CSV the day the file is fixed), but its image is gone.
    skipped = {path for path, _ in data.skipped}
    kept = [i for i, item in enumerate(source.items) if str(item) not in skipped]
    if len(kept) != len(data):
        raise DataError(f"{len(data)} images loaded from {source.label} but {len(kept)} of its "
                        f"{len(source.items)} files were not skipped; load them again")
    return labels if len(kept) == len(labels) else labels.take(kept)


__all__ = ["load_data", "load_labels", "report_skipped", "write_skipped"]
