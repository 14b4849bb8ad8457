"""facegan.train.data: training images from CelebA (kagglehub), any folder of images, or the toy faces.

    data = load_data(DataSpec("celeba", image_size=64, cache_dir=Path("runs/.cache")), run_dir)
    for real in data.batches(epoch, batch_size=128, seed=0, start_batch=resume_batch):
        x = normalize(real.to(device), model_cfg.value_range)

One file per concern: decode.py (files -> uint8 pixels), cache.py (the one cache key, the
memory-mapped .npy), sources.py (DataSpec, folder / CelebA / toy faces), datasets.py (the two data
set kinds behind one batching interface), load.py (load_data, load_labels: the labels aligned with
the loaded images, skipped-file reports), labels.py (reading CelebA's list_attr_celeba.csv or a
folder's labels CSV).
"""

from .cache import CACHE_FORMAT_VERSION, cache_key
from .datasets import ArrayImages, DecodedImages, ImageData, normalize
from .decode import IMAGE_EXTENSIONS, decode_image, list_images
from .labels import CELEBA_ATTRIBUTES_FILE, Labels, celeba_attributes_file, read_labels
from .load import load_data, load_labels, report_skipped, write_skipped
from .sources import CELEBA_HANDLE, CELEBA_IMAGE_DIR, DataSpec, Source, celeba_folder, resolve_source, source_fingerprint

__all__ = [
    "ArrayImages",
    "CACHE_FORMAT_VERSION",
    "CELEBA_ATTRIBUTES_FILE",
    "CELEBA_HANDLE",
    "CELEBA_IMAGE_DIR",
    "DataSpec",
    "DecodedImages",
    "IMAGE_EXTENSIONS",
    "ImageData",
    "Labels",
    "Source",
    "cache_key",
    "celeba_attributes_file",
    "celeba_folder",
    "decode_image",
    "list_images",
    "load_data",
    "load_labels",
    "normalize",
    "read_labels",
    "report_skipped",
    "resolve_source",
    "source_fingerprint",
    "write_skipped",
]
