"""Training data: folder listing, decoding, the on-disk cache, batch order, errors, CelebA via kagglehub."""

from __future__ import annotations

import dataclasses
import os
import socket
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from facegan.train.errors import DataError
from facegan.runtime.images import to_uint8
from facegan.train.data import sources as sources_mod
from facegan.train.data import (
    ArrayImages,
    DataSpec,
    DecodedImages,
    celeba_folder,
    decode_image,
    list_images,
    load_data,
    normalize,
    source_fingerprint,
)
from facegan.train.toyfaces import toy_faces


def write_jpegs(folder: Path, n: int, size: tuple[int, int] = (178, 218), start: int = 0) -> list[Path]:
    """n distinct CelebA-sized JPEGs (toy faces stretched to w x h) named 000000.jpg ..."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, face in enumerate(toy_faces(n, 64, seed=3, start=start)):
        path = folder / f"{start + i:06d}.jpg"
        Image.fromarray(face).resize(size, Image.BILINEAR).save(path, quality=90)
        paths.append(path)
    return paths


def truncated_jpeg(path: Path) -> Path:
    """A JPEG whose header reads fine but whose data stops halfway."""
    good = path.with_name("full.tmp")
    Image.fromarray(toy_faces(1, 64)[0]).resize((178, 218)).save(good, format="JPEG")
    raw = good.read_bytes()
    good.unlink()
    path.write_bytes(raw[: len(raw) // 2])
    return path


@pytest.fixture
def jpeg_folder(tmp_path) -> Path:
    write_jpegs(tmp_path / "imgs", 24)
    return tmp_path / "imgs"


def spec(source, cache_dir=None, **kw) -> DataSpec:
    kw = {"image_size": 32, "workers": 0, **kw}
    return DataSpec(str(source), cache_dir=cache_dir, **kw)


def all_batches(d, **kw) -> list[torch.Tensor]:
    return list(d.batches(**{"epoch": 0, "batch_size": 4, "seed": 0, **kw}))


# --- files and decoding ------------------------------------------------------------------------


def test_list_images_recursive_sorted_and_filtered(tmp_path):
    for rel in ("b/2.JPG", "b/1.png", "a.jpeg", "c/d/x.WebP", "c/y.bmp", "notes.txt", "anim.gif", "b/raw.tif"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"")
    got = [p.relative_to(tmp_path).as_posix() for p in list_images(tmp_path)]
    assert got == ["a.jpeg", "b/1.png", "b/2.JPG", "c/d/x.WebP", "c/y.bmp"]


def test_decode_crops_centre_and_resizes(tmp_path):
    # Left third red, middle green, right third blue: the largest centred square is all green
    # only when cropped to the middle third's width.
    img = np.zeros((60, 180, 3), np.uint8)
    img[:, :60, 0] = img[:, 60:120, 1] = img[:, 120:, 2] = 255
    Image.fromarray(img).save(tmp_path / "wide.png")
    out = decode_image(tmp_path / "wide.png", 16)
    assert out.shape == (3, 16, 16) and out.dtype == np.uint8
    assert out[1].min() == 255 and out[0].max() == 0 and out[2].max() == 0
    # A crop wider than the image is clamped; crop=30 keeps only green too.
    assert decode_image(tmp_path / "wide.png", 16, crop=30)[1].min() == 255
    # Grey and RGBA images come out as RGB.
    Image.fromarray(img[..., 0]).save(tmp_path / "grey.png")
    Image.fromarray(np.dstack([img, np.full((60, 180), 128, np.uint8)])).save(tmp_path / "rgba.png")
    assert decode_image(tmp_path / "grey.png", 8).shape == (3, 8, 8)
    assert decode_image(tmp_path / "rgba.png", 8).shape == (3, 8, 8)


def test_jpeg_decode_close_to_full_resolution(jpeg_folder):
    """Image.draft (reduced-scale JPEG decoding) stays close to a full-resolution resize."""
    path = jpeg_folder / "000000.jpg"
    fast = decode_image(path, 64).astype(np.int16)
    with Image.open(path) as im:
        full = np.asarray(im.convert("RGB").crop((0, 20, 178, 198)).resize((64, 64), Image.BILINEAR, reducing_gap=None))
    assert np.abs(fast - full.transpose(2, 0, 1)).mean() < 4


# --- errors ------------------------------------------------------------------------------------


def test_missing_path_raises(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_data(spec(tmp_path / "nope"))


def test_file_instead_of_folder_raises(tmp_path):
    (tmp_path / "one.jpg").write_bytes(b"x")
    with pytest.raises(DataError, match="not a folder"):
        load_data(spec(tmp_path / "one.jpg"))


@pytest.mark.parametrize("content", ["empty", "no-images"])
def test_folder_without_images_raises(tmp_path, content):
    folder = tmp_path / "d"
    folder.mkdir()
    if content == "no-images":
        (folder / "readme.txt").write_text("hi")
    with pytest.raises(DataError, match="no image files"):
        load_data(spec(folder))


@pytest.mark.parametrize("cached", [True, False])
def test_folder_with_no_readable_image_raises(tmp_path, cached):
    folder = tmp_path / "d"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(b"not a jpeg")
    (folder / "b.png").write_bytes(b"")
    with pytest.raises(DataError, match="none of the 2 image files"):
        load_data(spec(folder, tmp_path / "cache" if cached else None))
    assert list(tmp_path.glob("cache/*")) == []  # no half-built or empty cache left behind


def test_batch_larger_than_data_raises():
    d = load_data(DataSpec("toy-faces", 32, toy_faces=10))
    with pytest.raises(DataError, match="no full batch"):
        d.batches_per_epoch(16)
    with pytest.raises(DataError, match="no full batch"):
        list(d.batches(0, 8, 0, world_size=2))


def test_celeba_without_download_or_cache_raises(tmp_path, monkeypatch):
    monkeypatch.setenv("KAGGLEHUB_CACHE", str(tmp_path / "kh"))
    monkeypatch.setattr(socket, "getaddrinfo", _no_dns)
    with pytest.raises(DataError, match="could not download CelebA.*--data"):
        celeba_folder()


# --- corrupt files -----------------------------------------------------------------------------


def test_corrupt_files_skipped_and_listed(jpeg_folder, tmp_path, caplog):
    (jpeg_folder / "zz-garbage.jpg").write_bytes(b"\x00garbage")
    truncated_jpeg(jpeg_folder / "zz-truncated.jpg")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    d = load_data(spec(jpeg_folder, tmp_path / "cache"), skipped_file=run_dir / "skipped-files.txt")
    assert len(d) == 24 and d.num_skipped == 2
    assert "2 skipped" in d.description
    listed = (run_dir / "skipped-files.txt").read_text().splitlines()
    expected = [str(jpeg_folder / "zz-garbage.jpg"), str(jpeg_folder / "zz-truncated.jpg")]
    assert [line.split("\t")[0] for line in listed] == expected
    assert sum("skipped 2 unreadable" in r.getMessage() for r in caplog.records) == 1
    # The cache remembers what it skipped: a second run lists the same files without decoding.
    again = load_data(spec(jpeg_folder, tmp_path / "cache"), skipped_file=tmp_path / "run2.txt")
    assert again.num_skipped == 2 and (tmp_path / "run2.txt").read_text().splitlines() == listed
    # Uncached: the header check skips garbage; the clean images match the cache exactly.
    (jpeg_folder / "zz-truncated.jpg").unlink()
    uncached = load_data(spec(jpeg_folder))
    assert len(uncached) == 24 and uncached.num_skipped == 1
    torch.testing.assert_close(uncached.sample(24), d.sample(24), rtol=0, atol=0)


def test_uncached_decode_failure_names_the_file(jpeg_folder):
    truncated_jpeg(jpeg_folder / "zz-truncated.jpg")
    d = load_data(spec(jpeg_folder))  # header reads fine
    with pytest.raises(DataError, match="zz-truncated.jpg"):
        d.sample(len(d))


# --- cache ---------------------------------------------------------------------------------------


def test_cache_built_once_then_reused_without_decoding(jpeg_folder, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    calls = []
    d1 = load_data(spec(jpeg_folder, cache), progress=lambda done, total: calls.append((done, total)))
    assert calls[-1] == (24, 24)
    assert len(list(cache.glob("*.npy"))) == 1 and not list(cache.glob("*.tmp*"))
    first = all_batches(d1)

    def no_decoding(*a, **k):
        raise AssertionError("decoded although the cache exists")

    monkeypatch.setattr(sources_mod, "decode_image", no_decoding)
    d2 = load_data(spec(jpeg_folder, cache))
    assert d2.cache_path == d1.cache_path and isinstance(d2.images, np.memmap)
    for a, b in zip(first, all_batches(d2), strict=True):
        assert torch.equal(a, b)
    # Another size or crop, or a changed file, is another cache: it must decode.
    with pytest.raises(AssertionError, match="decoded although"):
        load_data(spec(jpeg_folder, cache, image_size=16))
    with pytest.raises(AssertionError, match="decoded although"):
        load_data(spec(jpeg_folder, cache, crop=150))
    os.utime(jpeg_folder / "000003.jpg", ns=(0, 10**18))
    with pytest.raises(AssertionError, match="decoded although"):
        load_data(spec(jpeg_folder, cache))
    write_jpegs(tmp_path / "more", 1)
    (tmp_path / "more" / "000000.jpg").rename(jpeg_folder / "zzz.jpg")
    with pytest.raises(AssertionError, match="decoded although"):
        load_data(spec(jpeg_folder, cache))


def test_cached_and_uncached_batches_identical(jpeg_folder, tmp_path):
    cached = load_data(spec(jpeg_folder, tmp_path / "cache"))
    uncached = load_data(spec(jpeg_folder, cache=False))
    assert uncached.cache_path is None and cached.cache_path is not None
    for epoch in (0, 1):
        a, b = all_batches(cached, epoch=epoch), all_batches(uncached, epoch=epoch)
        assert len(a) == len(b) == 6
        for x, y in zip(a, b):
            assert x.shape == (4, 3, 32, 32) and x.dtype == torch.uint8
            assert torch.equal(x, y)


def test_parallel_decoding_matches_serial(jpeg_folder, tmp_path):
    serial = load_data(spec(jpeg_folder, tmp_path / "c0", workers=0))
    parallel = load_data(spec(jpeg_folder, tmp_path / "c2", workers=2))
    assert np.array_equal(serial.images, parallel.images)
    uncached = load_data(spec(jpeg_folder, workers=2))
    for x, y in zip(all_batches(serial, epoch=3), all_batches(uncached, epoch=3), strict=True):
        assert torch.equal(x, y)


def test_toy_faces_cached_equals_drawn_every_epoch(tmp_path):
    drawn = load_data(DataSpec("toy-faces", 32, toy_faces=20, seed=2))
    cached = load_data(DataSpec("toy-faces", 32, toy_faces=20, seed=2, cache_dir=tmp_path))
    again = load_data(DataSpec("toy-faces", 32, toy_faces=20, seed=2, cache_dir=tmp_path))
    assert isinstance(drawn, DecodedImages) and isinstance(again, ArrayImages)
    assert len(drawn) == 20 and drawn.description == "toy-faces (seed 2) (20 images, 32 px)"
    expected = torch.from_numpy(toy_faces(20, 32, seed=2)).permute(0, 3, 1, 2)
    for d in (drawn, cached, again):
        assert torch.equal(d.sample(100), expected)
    assert isinstance(again.images, np.memmap)
    for x, y in zip(all_batches(drawn, epoch=2), all_batches(again, epoch=2), strict=True):
        assert torch.equal(x, y)


@pytest.mark.parametrize("source", ["toy-faces", "folder"])
def test_one_key_names_the_cache_and_the_fingerprint(jpeg_folder, tmp_path, source):
    """The decode cache file and source_fingerprint (FID statistics) are one key; it follows the pixels."""
    s = spec("toy-faces" if source == "toy-faces" else jpeg_folder, tmp_path / "cache", toy_faces=8)
    d = load_data(s)
    assert d.cache_path.name == f"{source_fingerprint(s)}.npy" and d.fingerprint == source_fingerprint(s)
    assert load_data(spec(s.source, toy_faces=8)).fingerprint == d.fingerprint  # uncached: the same pixels
    others = [dataclasses.replace(s, image_size=16)]
    others += [dataclasses.replace(s, seed=1), dataclasses.replace(s, toy_faces=9)] if source == "toy-faces" else [
        dataclasses.replace(s, crop=150)]
    assert len({source_fingerprint(o) for o in others} | {d.fingerprint}) == len(others) + 1


# --- batch order ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def toy():
    return load_data(DataSpec("toy-faces", 32, toy_faces=50))


def test_batches_follow_distributed_sampler(toy):
    sampler = torch.utils.data.DistributedSampler(
        range(50), num_replicas=1, rank=0, shuffle=True, seed=7, drop_last=True
    )
    sampler.set_epoch(2)
    order = list(sampler)[:48]
    got = torch.cat(list(toy.batches(2, 8, seed=7)))
    assert torch.equal(got, toy.sample(50)[order])
    assert toy.batches_per_epoch(8) == 6
    # Another epoch or seed shuffles differently.
    assert not torch.equal(got, torch.cat(list(toy.batches(3, 8, seed=7))))
    assert not torch.equal(got, torch.cat(list(toy.batches(2, 8, seed=8))))


@pytest.mark.parametrize("cached", [True, False])
def test_resume_mid_epoch_equals_tail(jpeg_folder, tmp_path, monkeypatch, cached):
    decoded = []
    real = sources_mod.decode_image
    monkeypatch.setattr(sources_mod, "decode_image", lambda path, **kw: decoded.append(path) or real(path, **kw))
    d = load_data(spec(jpeg_folder, tmp_path / "cache" if cached else None))
    full = all_batches(d, epoch=1)
    decoded.clear()
    tail = all_batches(d, epoch=1, start_batch=4)
    assert len(tail) == 2
    for x, y in zip(full[4:], tail):
        assert torch.equal(x, y)
    # Skipped batches are not decoded (uncached) and nothing is decoded from the cache.
    assert len(decoded) == (0 if cached else 8)


def test_ranks_get_disjoint_batches(toy):
    b0 = toy.epoch_indices(1, 5, seed=0, rank=0, world_size=2)
    b1 = toy.epoch_indices(1, 5, seed=0, rank=1, world_size=2)
    i0, i1 = {i for b in b0 for i in b}, {i for b in b1 for i in b}
    assert len(b0) == len(b1) == toy.batches_per_epoch(5, world_size=2) == 5
    assert i0.isdisjoint(i1) and len(i0) == len(i1) == 25
    images = toy.sample(50)
    x0 = torch.cat(list(toy.batches(1, 5, 0, rank=0, world_size=2)))
    x1 = torch.cat(list(toy.batches(1, 5, 0, rank=1, world_size=2)))
    assert torch.equal(x0, images[[i for b in b0 for i in b]])
    assert torch.equal(x1, images[[i for b in b1 for i in b]])


def test_normalize_inverts_to_uint8():
    x = torch.arange(256, dtype=torch.uint8).reshape(1, 1, 16, 16)
    for value_range in ((-1.0, 1.0), (0.0, 1.0)):
        y = normalize(x, value_range)
        assert y.dtype == torch.float32
        assert y.min().item() == value_range[0] and y.max().item() == pytest.approx(value_range[1])
        assert np.array_equal(to_uint8(y.numpy(), value_range), x.numpy())
    with pytest.raises(ValueError):
        normalize(x.float(), (0.0, 1.0))


# --- CelebA through kagglehub ------------------------------------------------------------------


def _no_dns(*args, **kwargs):
    # What an offline machine does; also guarantees the test never downloads 1.3 GB.
    raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")


def celeba_cache(root: Path, version: int, complete: bool = True, n: int = 6) -> Path:
    """A kagglehub 1.0 cache entry of CelebA, laid out as kagglehub unpacks the Kaggle archive."""
    base = root / "datasets" / "jessicali9530" / "celeba-dataset"
    files = base / "versions" / str(version)
    write_jpegs(files / "img_align_celeba" / "img_align_celeba", n, start=100 * version)
    (files / "list_attr_celeba.csv").write_text("image_id,Smiling\n")
    if complete:
        (base / f"{version}.complete").write_text("")
    return files


def test_celeba_offline_uses_highest_complete_cached_version(tmp_path, monkeypatch):
    root = tmp_path / "kagglehub"
    monkeypatch.setenv("KAGGLEHUB_CACHE", str(root))
    monkeypatch.setattr(socket, "getaddrinfo", _no_dns)
    celeba_cache(root, 1)
    v2 = celeba_cache(root, 2, n=5)
    celeba_cache(root, 3, complete=False)  # an interrupted download is not used
    folder = celeba_folder()
    assert folder == v2 / "img_align_celeba"
    d = load_data(DataSpec("celeba", 32, cache_dir=tmp_path / "cache", workers=0))
    assert len(d) == 5 and d.description.startswith(f"celeba {folder} (5 images")
    assert torch.equal(d.sample(1)[0], torch.from_numpy(decode_image(list_images(folder)[0], 32)))


def test_celeba_online_uses_kagglehub_path(tmp_path, monkeypatch):
    import kagglehub

    files = celeba_cache(tmp_path, 9, n=4)
    handles = []
    monkeypatch.setattr(kagglehub, "dataset_download", lambda handle: handles.append(handle) or str(files))
    assert celeba_folder() == files / "img_align_celeba"
    assert handles == ["jessicali9530/celeba-dataset"]


def test_celeba_download_without_image_folder_raises(tmp_path, monkeypatch):
    import kagglehub

    monkeypatch.setattr(kagglehub, "dataset_download", lambda handle: str(tmp_path))
    with pytest.raises(DataError, match="no img_align_celeba folder"):
        celeba_folder()


def test_decoding_epochs_leave_the_global_rng_alone(jpeg_folder):
    """Training noise comes from the global torch RNG: serving batches must not draw from it, or a
    resumed run (which starts an epoch mid-way) would see other noise than an uninterrupted one."""
    d = load_data(spec(jpeg_folder, None))
    before = torch.get_rng_state()
    all_batches(d, epoch=0)
    all_batches(d, epoch=1, start_batch=2)
    assert torch.equal(before, torch.get_rng_state())
