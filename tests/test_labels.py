"""Attribute labels: CelebA's list_attr_celeba.csv in the kagglehub cache, a folder's labels CSV, every error,
and load_labels: the labels of exactly the images load_data serves, toy faces included."""

from __future__ import annotations

import dataclasses
import re
import socket
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facegan.train.data import (
    DataSpec,
    Labels,
    cache_key,
    celeba_attributes_file,
    celeba_folder,
    list_images,
    load_data,
    load_labels,
    read_labels,
    source_fingerprint,
)
from facegan.train.errors import DataError
from facegan.train.toyfaces import ATTRIBUTES, toy_face_attributes, toy_faces

# The first, a middle and the last of CelebA's 40 columns, in the archive's order.
CELEBA_NAMES = ("5_o_Clock_Shadow", "Arched_Eyebrows", "Eyeglasses", "Smiling", "Young")


def write_images(folder: Path, names: list[str], ext: str = ".png") -> list[Path]:
    """Tiny distinct images at folder/<name><ext> (names may hold sub-folders)."""
    paths = []
    for i, name in enumerate(names):
        path = folder / f"{name}{ext}"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (4, 4), (40 * i, 255 - 40 * i, 7)).save(path)
        paths.append(path)
    return paths


def write_csv(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.fixture
def folder(tmp_path) -> Path:
    """a.png, b.png, sub/c.png: a folder with a nested image, as list_images sees it."""
    write_images(tmp_path / "imgs", ["a", "b", "sub/c"])
    return tmp_path / "imgs"


def labels_of(folder: Path, text: str, **kw) -> Labels:
    return read_labels(write_csv(folder.parent / "labels.csv", text), list_images(folder), folder, **kw)


def error_of(folder: Path, text: str, **kw) -> str:
    with pytest.raises(DataError) as e:
        labels_of(folder, text, **kw)
    message = str(e.value)
    assert "\n" not in message
    return message


# --- CelebA in the kagglehub cache -------------------------------------------------------------


def _no_dns(*args, **kwargs):
    # What an offline machine does; also guarantees the test never downloads 1.3 GB.
    raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")


def celeba_cache(root: Path, version: int, rows: dict[str, tuple[int, ...]] | None) -> Path:
    """A kagglehub 1.0 cache entry of CelebA as kagglehub unpacks the Kaggle archive: versions/N/ with
    img_align_celeba/img_align_celeba/*.jpg and (unless rows is None) list_attr_celeba.csv beside it."""
    base = root / "datasets" / "jessicali9530" / "celeba-dataset"
    files = base / "versions" / str(version)
    write_images(files / "img_align_celeba" / "img_align_celeba", [f"{i:06d}" for i in range(1, 5)], ".jpg")
    if rows is not None:
        lines = ["image_id," + ",".join(CELEBA_NAMES)]
        lines += [f"{name}," + ",".join(str(v) for v in values) for name, values in rows.items()]
        (files / "list_attr_celeba.csv").write_text("\n".join(lines) + "\n")
    (base / f"{version}.complete").write_text("")
    return files


CELEBA_ROWS = {  # not in file order: the labels follow the images, not the CSV
    "000002.jpg": (-1, 1, -1, 1, 1),
    "000001.jpg": (-1, 1, -1, -1, 1),
    "000004.jpg": (1, -1, 1, 1, -1),
    "000003.jpg": (-1, -1, -1, 1, 1),
}


def test_celeba_labels_from_the_cached_kagglehub_layout(tmp_path, monkeypatch):
    root = tmp_path / "kagglehub"
    monkeypatch.setenv("KAGGLEHUB_CACHE", str(root))
    monkeypatch.setattr(socket, "getaddrinfo", _no_dns)
    files = celeba_cache(root, 2, CELEBA_ROWS)
    folder = celeba_folder()
    assert celeba_attributes_file(folder) == files / "list_attr_celeba.csv"
    # --data pointing at the inner folder finds the same file, two folders up.
    assert celeba_attributes_file(folder / "img_align_celeba") == files / "list_attr_celeba.csv"
    images = list_images(folder)
    labels = read_labels(celeba_attributes_file(folder), images, folder)
    assert labels.names == CELEBA_NAMES
    assert labels.source == str(files / "list_attr_celeba.csv")
    assert labels.values.dtype == np.uint8 and labels.values.shape == (4, 5)
    expected = np.array([CELEBA_ROWS[p.name] for p in images]) == 1
    assert np.array_equal(labels.values, expected.astype(np.uint8))
    assert np.allclose(labels.frequencies, [0.25, 0.5, 0.25, 0.75, 0.75])


def test_celeba_attributes_file_missing_says_where_it_looked(tmp_path):
    files = celeba_cache(tmp_path / "kagglehub", 1, rows=None)
    inner = files / "img_align_celeba" / "img_align_celeba"
    with pytest.raises(DataError) as e:
        celeba_attributes_file(inner)
    for d in (inner, inner.parent, files):
        assert str(d / "list_attr_celeba.csv") in str(e.value)
    assert "--labels" in str(e.value)


def test_celeba_subset_with_the_full_file(tmp_path):
    """A few CelebA images with Kaggle's whole file: an error unless asked to ignore the other rows."""
    subset = tmp_path / "subset"
    images = write_images(subset, ["000003", "000001"], ".jpg")
    csv_path = write_csv(tmp_path / "list_attr_celeba.csv", "image_id,Smiling\n"
                         + "".join(f"{k},{v[3]}\n" for k, v in CELEBA_ROWS.items()))
    unknown = r"^2 rows of .* name files that are not in the data \(000002\.jpg, 000004\.jpg\)"
    with pytest.raises(DataError, match=unknown):
        read_labels(csv_path, sorted(images), subset)
    labels = read_labels(csv_path, sorted(images), subset, ignore_unknown_rows=True)
    assert labels.values.tolist() == [[0], [1]]


def test_celeba_keys_by_bare_name_refuse_repeated_names(tmp_path):
    images = write_images(tmp_path / "imgs", ["x/000001", "y/000001"], ".jpg")
    csv_path = write_csv(tmp_path / "attr.csv", "image_id,Smiling\n000001.jpg,1\n")
    with pytest.raises(DataError, match=r"^1 file names occur more than once in the data \(000001.jpg\).*'file'"):
        read_labels(csv_path, images, tmp_path / "imgs")


# --- a folder's labels CSV ---------------------------------------------------------------------


def test_folder_labels_zero_one_and_minus_one_map_to_zero_one(folder):
    labels = labels_of(folder, "file,Smiling,Eyeglasses\nsub/c.png,1,-1\na.png,0,1\n./b.png,1,-1\n")
    assert labels.names == ("Smiling", "Eyeglasses")
    assert [p.relative_to(folder).as_posix() for p in list_images(folder)] == ["a.png", "b.png", "sub/c.png"]
    assert labels.values.tolist() == [[0, 1], [1, 0], [1, 0]]
    assert labels.values.dtype == np.uint8
    assert np.allclose(labels.frequencies, [2 / 3, 1 / 3])


def test_order_follows_the_files_list(folder):
    csv_path = write_csv(folder.parent / "labels.csv", "file,Smiling\na.png,1\nb.png,0\nsub/c.png,0\n")
    files = list_images(folder)
    forward = read_labels(csv_path, files, folder)
    backward = read_labels(csv_path, files[::-1], folder)
    assert forward.values[:, 0].tolist() == [1, 0, 0] and backward.values[:, 0].tolist() == [0, 0, 1]


def test_class_column_becomes_one_hot_in_place(folder):
    labels = labels_of(folder, "Smiling,file,label,Young\n1,a.png,10,1\n0,b.png,3,-1\n1,sub/c.png,3,1\n")
    # The classes present, sorted as numbers (10 after 3), where the class column was.
    assert labels.names == ("Smiling", "label=3", "label=10", "Young")
    assert labels.values.tolist() == [[1, 0, 1, 1], [0, 1, 0, 0], [1, 1, 0, 1]]
    assert np.allclose(labels.frequencies, [2 / 3, 2 / 3, 1 / 3, 2 / 3])


def test_class_column_alone_is_enough(folder):
    labels = labels_of(folder, "file,label\na.png,-1\nb.png,+2\nsub/c.png, 0\n")
    assert labels.names == ("label=-1", "label=0", "label=2")
    assert labels.values.tolist() == [[1, 0, 0], [0, 0, 1], [0, 1, 0]]


def test_spreadsheet_habits_are_read(folder):
    """A byte-order mark, CRLF line ends, spaces around tokens and blank lines are not mistakes."""
    path = folder.parent / "labels.csv"
    path.write_bytes("\ufefffile , Smiling\r\na.png, 1\r\n\r\nb.png,0 \r\nsub/c.png,1\r\n\r\n".encode())
    labels = read_labels(path, list_images(folder), folder)
    assert labels.names == ("Smiling",) and labels.values[:, 0].tolist() == [1, 0, 1]


def test_labels_are_immutable_and_take_rows(folder):
    labels = labels_of(folder, "file,Smiling,Young\na.png,1,0\nb.png,0,0\nsub/c.png,1,1\n")
    with pytest.raises(ValueError):
        labels.values[0, 0] = 0
    with pytest.raises(dataclasses.FrozenInstanceError):
        labels.names = ()
    kept = labels.take([0, 2])  # e.g. b.png was unreadable and skipped
    assert len(kept) == 2 and kept.names == labels.names and kept.source == labels.source
    assert kept.values.tolist() == [[1, 0], [1, 1]] and not kept.values.flags.writeable


# --- errors: one clear line each, never a guess -------------------------------------------------


@pytest.mark.parametrize("text, message", [
    ("file,Smiling\na.png,1\n", r"^2 of 3 images have no row in .*labels\.csv \(by file\): b\.png, sub/c\.png$"),
    ("file,Smiling\na.png,1\nb.png,0\nsub/c.png,1\nd.png,1\ne/f.png,0\n",
     r"^2 rows of .*labels\.csv name files that are not in the data \(d\.png, e/f\.png\); are these the labels"),
    ("Smiling,Young\n1,1\n", r"has no key column: name the column of image paths 'file' .* header: Smiling, Young$"),
    ("file,Smiling\na.png,1\nb.png,0\n./a.png,1\nsub/c.png,1\n",
     r"has 1 duplicate file rows: a\.png \(lines 2 and 4\)$"),
    ("file,Smiling,Young,Smiling\na.png,1,1,1\n", r"has duplicate column names: Smiling$"),
    ("file,Smiling,Young\na.png,1,1\nb.png,1,2\nsub/c.png,0,0\n",
     r"labels\.csv, line 3, column Young: '2' is not binary \(0/1 or -1/1\)$"),
    ("file,Smiling\na.png,yes\n", r"line 2, column Smiling: 'yes' is not binary"),
    ("file,Smiling\na.png,1.0\n", r"line 2, column Smiling: '1.0' is not binary"),
    ("file,Smiling\na.png,\n", r"line 2, column Smiling: '' is not binary"),
    ("file,Smiling\na.png,0\nb.png,1\nsub/c.png,-1\n",
     r"column Smiling: mixes 0 \(line 2\) and -1 \(line 4\); a column is either 0/1 or -1/1$"),
    ("", r"^labels file .*labels\.csv is empty$"),
    ("\n\n", r"^labels file .*labels\.csv is empty$"),
    ("file,Smiling\n", r"^labels file .*labels\.csv has a header but no rows$"),
    ("file\na.png\nb.png\nsub/c.png\n", r"has no attribute columns, only its key column 'file'$"),
    ("file,Smiling\na.png,1,0\n", r"labels\.csv, line 2: 3 fields, the header has 2$"),
    (",file,Smiling\n0,a.png,1\n",
     r"column 1 of .*labels\.csv has no name \(a pandas index\? write it with index=False\)$"),
    ("file,image_id,Smiling\na.png,a.png,1\n", r"has both key columns 'file' and 'image_id'; keep one$"),
    ("file,label\na.png,1\nb.png,cat\nsub/c.png,2\n", r"line 3, column label: 'cat' is not an integer class$"),
    ("file,label,label=1\na.png,1,1\nb.png,1,1\nsub/c.png,1,1\n", r"has duplicate column names: label=1$"),
    ("file,Smiling\n,1\n", r"labels\.csv, line 2: empty file$"),
])
def test_errors_name_what_is_wrong(folder, text, message):
    assert re.search(message, error_of(folder, text)), error_of(folder, text)


def test_many_missing_images_show_the_first_few(tmp_path):
    images = write_images(tmp_path / "imgs", [f"{i:02d}" for i in range(8)])
    csv_path = write_csv(tmp_path / "labels.csv", "file,Smiling\n00.png,1\n")
    with pytest.raises(DataError, match=r"^7 of 8 images have no row .*: 01\.png, 02\.png, 03\.png, 04\.png, "
                                        r"05\.png, \.\.\. \(2 more\)$"):
        read_labels(csv_path, images, tmp_path / "imgs")


def test_unreadable_labels_files(folder, tmp_path):
    with pytest.raises(DataError, match=r"^labels file .*nowhere\.csv does not exist$"):
        read_labels(tmp_path / "nowhere.csv", list_images(folder), folder)
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes("file,Lächeln\na.png,1\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"^labels file .*latin1\.csv is not a readable UTF-8 CSV"):
        read_labels(latin1, list_images(folder), folder)


# --- load_labels: the labels of the loaded images, row for row -----------------------------------


@pytest.mark.parametrize("cached", [False, True])
def test_toy_face_labels_align_with_the_images(tmp_path, cached):
    spec = DataSpec("toy-faces", 32, toy_faces=12, seed=3, cache_dir=tmp_path if cached else None, workers=0)
    data = load_data(spec)
    labels = load_labels(spec, data)
    assert labels.names == ATTRIBUTES and len(labels) == len(data) == 12
    assert labels.source == "toy-faces drawing parameters (seed 3)"
    assert not labels.values.flags.writeable
    glasses = ATTRIBUTES.index("Eyeglasses")
    for i in (0, 5, 11):  # face i of the data set is toy face i, and so is its row
        assert np.array_equal(data.take([i])[0].numpy(), toy_faces(1, 32, seed=3, start=i)[0].transpose(2, 0, 1))
        assert labels.values[i, glasses] == toy_face_attributes(1, seed=3, start=i)[0, glasses]
    assert np.array_equal(labels.values, toy_face_attributes(12, seed=3))
    assert np.array_equal(load_labels(spec).values, labels.values)  # from the spec alone: the same


def bits_folder(tmp_path: Path, n: int = 5) -> Path:
    """Images 0..n-1 whose red channel is 40 * i, and labels.csv whose columns spell i in binary."""
    folder = tmp_path / "imgs"
    write_images(folder, [f"{i:02d}" for i in range(n)])
    write_csv(tmp_path / "labels.csv", "file,bit0,bit1,bit2\n"
              + "".join(f"{i:02d}.png,{i & 1},{i >> 1 & 1},{i >> 2 & 1}\n" for i in range(n)))
    return folder


@pytest.mark.parametrize("cached", [False, True])
def test_folder_labels_drop_the_rows_of_unreadable_images(tmp_path, cached):
    folder = bits_folder(tmp_path)
    (folder / "02.png").write_bytes(b"not a png at all")  # its row stays in the CSV
    spec = DataSpec(str(folder), 4, labels=tmp_path / "labels.csv", cache_dir=tmp_path / "cache" if cached else None,
                    workers=0)
    data = load_data(spec, report=False)
    assert data.num_skipped == 1 and len(data) == 4
    labels = load_labels(spec, data)
    assert labels.names == ("bit0", "bit1", "bit2") and labels.source == str(tmp_path / "labels.csv")
    index = data.take(range(len(data)))[:, 0, 0, 0].numpy() // 40  # which image each row holds
    assert index.tolist() == [0, 1, 3, 4]
    assert labels.values.tolist() == [[i & 1, i >> 1 & 1, i >> 2 & 1] for i in index.tolist()]
    # Without the data set there is nothing skipped: every file has its row.
    assert len(load_labels(spec)) == 5


def test_celeba_labels_align_with_the_loaded_images(tmp_path, monkeypatch):
    root = tmp_path / "kagglehub"
    monkeypatch.setenv("KAGGLEHUB_CACHE", str(root))
    monkeypatch.setattr(socket, "getaddrinfo", _no_dns)
    files = celeba_cache(root, 2, CELEBA_ROWS)
    spec = DataSpec("celeba", 8, cache_dir=tmp_path / "cache", workers=0)
    data = load_data(spec)
    labels = load_labels(spec, data)
    assert labels.names == CELEBA_NAMES and labels.source == str(files / "list_attr_celeba.csv")
    images = list_images(celeba_folder())
    assert len(data) == len(images) == 4
    expected = np.array([CELEBA_ROWS[p.name] for p in images]) == 1
    assert np.array_equal(labels.values, expected.astype(np.uint8))
    # A CSV of one's own replaces the archive's.
    own = write_csv(tmp_path / "smiles.csv",
                    "image_id,Smiling\n" + "".join(f"{k},{v[3]}\n" for k, v in CELEBA_ROWS.items()))
    mine = load_labels(dataclasses.replace(spec, labels=own), data)
    assert mine.names == ("Smiling",) and mine.values[:, 0].tolist() == [0, 1, 1, 1]


def test_a_folder_without_labels_and_toy_faces_with_them_are_refused(tmp_path):
    folder = bits_folder(tmp_path)
    spec = DataSpec(str(folder), 4, workers=0)
    with pytest.raises(DataError, match=r"^a folder needs --labels FILE\.csv for attributes$"):
        load_labels(spec, load_data(spec))
    toy = DataSpec("toy-faces", 8, toy_faces=2, labels=tmp_path / "labels.csv")
    with pytest.raises(DataError, match=r"^toy faces are labelled by their drawing parameters; --labels .* is for"):
        load_labels(toy)


def test_labels_of_images_that_changed_since_loading_are_refused(tmp_path):
    folder = bits_folder(tmp_path)
    spec = DataSpec(str(folder), 4, labels=tmp_path / "labels.csv", workers=0)
    data = load_data(spec)
    write_images(folder, ["zz"])
    with pytest.raises(DataError, match=r"^the images of .* changed since they were loaded"):
        load_labels(spec, data)


# Recorded with the code before DataSpec had `labels`: the keys of drawn data are fixed strings.
KEYS_BEFORE_LABELS = {
    ("toy-faces", 64, 0, 10000): "toy-faces-v1-seed0-n10000-64px",
    ("toy-faces", 32, 3, 50): "toy-faces-v1-seed3-n50-32px",
    ("toy-faces", 16, 2**40, 7): "toy-faces-v1-seed1099511627776-n7-16px",
}


def test_labels_leave_the_cache_key_and_fingerprint_as_they_were(tmp_path):
    for (source, size, seed, n), key in KEYS_BEFORE_LABELS.items():
        assert source_fingerprint(DataSpec(source, size, seed=seed, toy_faces=n)) == key
    # A folder's key hashes its files' paths and mtimes, so no string is fixed across runs: it is the
    # key cache.py computes from the files, with or without labels, and names the same cache file.
    folder = bits_folder(tmp_path)
    plain = DataSpec(str(folder), 4, crop=2, cache_dir=tmp_path / "cache", workers=0)
    labelled = dataclasses.replace(plain, labels=tmp_path / "labels.csv")
    key = cache_key(folder.name, 4, 2, list_images(folder))
    assert source_fingerprint(plain) == source_fingerprint(labelled) == key
    assert load_data(labelled).cache_path == tmp_path / "cache" / f"{key}.npy"
    assert plain.labels is None and DataSpec(str(folder), 4, 2).labels is None  # positional arguments unchanged
