"""Attribute labels of real images: CelebA's list_attr_celeba.csv, or a CSV beside a folder of images.

    files = list_images(folder)                                   # the data's sorted file list
    labels = read_labels(celeba_attributes_file(folder), files, folder)   # CelebA: by bare file name
    labels = read_labels(Path("labels.csv"), files, folder)       # a folder: by relative path
    labels.names, labels.values[i], labels.frequencies            # row i is files[i]

One reader for both. The key column decides how rows meet files: `image_id` (CelebA) holds bare file
names, `file` holds paths relative to `root` written with `/`. Every other column is one attribute,
0/1 or -1/1 (mapped to 0/1), except a class column named `label`, whose integer classes become
one-hot attributes `label=0`, `label=1`, ... (the classes present, in numeric order). Anything
else (a missing or extra row, a third value, a repeated key or column) is a DataError naming it:
labels are never guessed. Rows naming files that are not in the data are an error too, since that
usually means the wrong folder; `ignore_unknown_rows=True` allows a subset of a larger labelled set
(a few thousand CelebA images with the full CelebA file).

The stdlib csv module, not pandas: pandas is no dependency of facegan, and the checks want the raw
tokens ("1.0" or "yes" is refused, not coerced). A CelebA-sized file (202,599 rows x 40) reads in
about 1.2 s here.
"""

from __future__ import annotations

import array
import csv
import operator
import os
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Sequence

import numpy as np

from ..errors import DataError

CELEBA_ATTRIBUTES_FILE = "list_attr_celeba.csv"
CELEBA_KEY = "image_id"  # CelebA's key column: bare file names
FILE_KEY = "file"  # a folder's key column: paths relative to the folder
CLASS_COLUMN = "label"  # integer classes, one-hot encoded as label=<class>
CLASS_PREFIX = CLASS_COLUMN + "="  # the one-hot attributes' names: label=3
_SHOW = 5  # names shown in a message about many files
_CODES = {"1": 1, "0": 0, "-1": -1}  # the only tokens an attribute column may hold
_BAD = 9  # the code of any other token
_INTEGER = re.compile(r"[+-]?\d+")


@dataclass(frozen=True, eq=False)  # eq=False: arrays have no single truth value to compare by
class Labels:
    """Binary attributes of a data set's images, in the order of its sorted file list."""

    names: tuple[str, ...]  # attribute names, the CSV's column order (a class column expanded in place)
    values: np.ndarray  # (N, K) uint8 0/1, read-only; row i belongs to image i of the file list
    source: str  # the CSV file the labels came from

    @property
    def frequencies(self) -> np.ndarray:
        """(K,) float64: the fraction of images that have each attribute."""
        return self.values.mean(axis=0)

    def __len__(self) -> int:
        return len(self.values)

    def take(self, rows: Sequence[int]) -> Labels:
        """The labels of the images `rows` (e.g. the files left after skipping unreadable ones)."""
        return Labels(self.names, _frozen(self.values[np.asarray(rows, dtype=np.int64)]), self.source)


def celeba_attributes_file(image_dir: Path, max_up: int = 3) -> Path:
    """list_attr_celeba.csv of the CelebA images in `image_dir`: in it or up to `max_up` folders above.

    kagglehub unpacks the archive as versions/N/{list_attr_celeba.csv, img_align_celeba/img_align_celeba/},
    so the file sits one folder above the outer img_align_celeba and two above the inner one.
    """
    image_dir = Path(image_dir)
    looked = [d / CELEBA_ATTRIBUTES_FILE for d in [image_dir, *image_dir.parents][: max_up + 1]]
    for candidate in looked:
        if candidate.is_file():
            return candidate
    raise DataError(
        f"no {CELEBA_ATTRIBUTES_FILE} beside the CelebA images {image_dir} (looked for "
        f"{', '.join(str(p) for p in looked)}); put Kaggle's file there or pass --labels FILE.csv"
    )


def read_labels(csv_path: Path, files: Sequence[Path], root: Path, *, ignore_unknown_rows: bool = False) -> Labels:
    """The labels of `files` (the data's sorted file list) from `csv_path`; DataError for any mismatch.

    `root` is the folder the `file` column's paths are relative to (unused for `image_id` keys).
    """
    where = str(csv_path)
    table = _read_table(Path(csv_path))
    names, codes = table.names, table.codes
    if table.classes is not None:
        class_names, one_hot = _one_hot(table.classes, table.lines, where)
        at = table.class_at
        names = names[:at] + class_names + names[at:]  # the classes take the class column's place
        codes = np.concatenate([codes[:, :at], one_hot, codes[:, at:]], axis=1)
    _check_unique(names, where)
    index = _index_keys(table.keys, table.lines, table.key_name, where)

    file_keys = _file_keys(files, root, table.key_name)
    missing = [k for k in file_keys if k not in index]
    if missing:
        raise DataError(f"{len(missing)} of {len(file_keys)} images have no row in {where} "
                        f"(by {table.key_name}): {_first(missing)}")
    if not ignore_unknown_rows and len(index) > len(file_keys):
        known = set(file_keys)
        unknown = [k for k in table.keys if k not in known]
        raise DataError(f"{len(unknown)} rows of {where} name files that are not in the data "
                        f"({_first(unknown)}); are these the labels of another folder?")
    order = np.fromiter((index[k] for k in file_keys), dtype=np.int64, count=len(file_keys))
    return Labels(tuple(names), _frozen((codes[order] == 1).astype(np.uint8)), where)


@dataclass(frozen=True, eq=False)
class _Table:
    """A labels CSV as read: checked tokens, not yet matched to files."""

    key_name: str  # FILE_KEY or CELEBA_KEY
    keys: list[str]  # each row's key, stripped (relative paths in POSIX form)
    names: list[str]  # the attribute columns' names, class column excluded
    codes: np.ndarray  # (rows, len(names)) int8 of 1, 0, -1
    classes: list[str] | None  # the class column's tokens, or None without one
    class_at: int  # where the class column sat among the attribute columns
    lines: list[int]  # each row's line number in the file


def _read_table(csv_path: Path) -> _Table:
    """One pass over the file; each row is reduced to its key and codes at once (CelebA has 8M cells)."""
    where = str(csv_path)
    try:
        # utf-8-sig: spreadsheets often start a UTF-8 CSV with a byte-order mark.
        with open(csv_path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            while header is not None and not any(c.strip() for c in header):
                header = next(reader, None)
            if header is None:
                raise DataError(f"labels file {where} is empty")
            header = [c.strip() for c in header]
            key_col = _key_column(header, where)
            class_col = header.index(CLASS_COLUMN) if CLASS_COLUMN in header else None
            cols = [j for j in range(len(header)) if j not in (key_col, class_col)]
            pick = operator.itemgetter(*cols) if len(cols) > 1 else (lambda row: tuple(row[j] for j in cols))
            key_name, names = header[key_col], [header[j] for j in cols]
            keys, lines, classes, flat = [], [], [], array.array("b")
            for row in reader:
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue
                if len(row) != len(header):
                    raise DataError(f"{where}, line {reader.line_num}: {len(row)} fields, the header has {len(header)}")
                keys.append(_normal_key(row[key_col].strip(), key_name))
                lines.append(reader.line_num)
                if class_col is not None:
                    classes.append(row[class_col])
                flat.extend(_codes(pick(row), names, where, reader.line_num))
    except FileNotFoundError:
        raise DataError(f"labels file {where} does not exist") from None
    except (UnicodeDecodeError, csv.Error) as e:
        raise DataError(f"labels file {where} is not a readable UTF-8 CSV ({e})") from None
    if not keys:
        raise DataError(f"labels file {where} has a header but no rows")
    codes = np.frombuffer(flat, dtype=np.int8).reshape(len(keys), len(cols))
    _check_binary(codes, names, lines, where)
    return _Table(key_name, keys, names, codes, classes if class_col is not None else None,
                  sum(j < class_col for j in cols) if class_col is not None else 0, lines)


def _key_column(header: list[str], where: str) -> int:
    for j, name in enumerate(header):
        if not name:
            raise DataError(f"column {j + 1} of {where} has no name (a pandas index? write it with index=False)")
    _check_unique(header, where)
    keys = [k for k in (FILE_KEY, CELEBA_KEY) if k in header]
    if not keys:
        raise DataError(f"{where} has no key column: name the column of image paths '{FILE_KEY}' (relative "
                        f"to the folder) or '{CELEBA_KEY}' (bare file names, as CelebA's); header: {_first(header)}")
    if len(keys) > 1:
        raise DataError(f"{where} has both key columns '{FILE_KEY}' and '{CELEBA_KEY}'; keep one")
    if len(header) == 1:
        raise DataError(f"{where} has no attribute columns, only its key column '{keys[0]}'")
    return header.index(keys[0])


def _check_unique(names: Sequence[str], where: str) -> None:
    seen, repeated = set(), []
    for name in names:
        if name in seen and name not in repeated:
            repeated.append(name)
        seen.add(name)
    if repeated:
        raise DataError(f"{where} has duplicate column names: {_first(repeated)}")


def _normal_key(key: str, key_name: str) -> str:
    # Relative paths compare as POSIX paths ("./a//b.png" is "a/b.png"); nothing else is rewritten.
    return PurePosixPath(key).as_posix() if key_name == FILE_KEY and key else key


def _index_keys(keys: list[str], lines: list[int], key_name: str, where: str) -> dict[str, int]:
    index: dict[str, int] = {}
    repeated: list[str] = []
    for i, key in enumerate(keys):
        if not key:
            raise DataError(f"{where}, line {lines[i]}: empty {key_name}")
        if key in index:
            repeated.append(f"{key} (lines {lines[index[key]]} and {lines[i]})")
        else:
            index[key] = i
    if repeated:
        raise DataError(f"{where} has {len(repeated)} duplicate {key_name} rows: {_first(repeated)}")
    return index


def _codes(fields: Sequence[str], names: list[str], where: str, line: int) -> list[int]:
    get = _CODES.get
    coded = [get(v, _BAD) for v in fields]
    if _BAD in coded:
        coded = [get(v.strip(), _BAD) for v in fields]  # spaces around a token are all that is forgiven
        if _BAD in coded:
            j = coded.index(_BAD)
            raise DataError(f"{where}, line {line}, column {names[j]}: {fields[j]!r} is not binary (0/1 or -1/1)")
    return coded


def _check_binary(codes: np.ndarray, names: list[str], lines: list[int], where: str) -> None:
    """A column is 0/1 or -1/1: one holding both 0 and -1 has three values."""
    mixed = np.flatnonzero((codes == 0).any(axis=0) & (codes == -1).any(axis=0))
    if mixed.size:
        j = int(mixed[0])
        zero, minus = (lines[int(np.argmax(codes[:, j] == v))] for v in (0, -1))
        raise DataError(f"{where}, column {names[j]}: mixes 0 (line {zero}) and -1 (line {minus}); "
                        f"a column is either 0/1 or -1/1")


def _one_hot(tokens: list[str], lines: list[int], where: str) -> tuple[list[str], np.ndarray]:
    """The class column's integer classes as one-hot columns (classes present, numeric order)."""
    classes = []
    for i, token in enumerate(tokens):
        token = token.strip()
        if not _INTEGER.fullmatch(token):
            raise DataError(f"{where}, line {lines[i]}, column {CLASS_COLUMN}: {token!r} is not an integer class")
        classes.append(int(token))
    present, inverse = np.unique(np.asarray(classes, dtype=np.int64), return_inverse=True)
    one_hot = np.zeros((len(tokens), len(present)), dtype=np.int8)
    one_hot[np.arange(len(tokens)), inverse.reshape(-1)] = 1
    return [f"{CLASS_PREFIX}{c}" for c in present.tolist()], one_hot


def _file_keys(files: Sequence[Path], root: Path, key_name: str) -> list[str]:
    if key_name == FILE_KEY:
        return [Path(f).relative_to(root).as_posix() for f in files]
    keys = [os.path.basename(f) for f in files]  # Path(f).name re-parses each path: 5x slower
    repeated = sorted(k for k, n in Counter(keys).items() if n > 1)
    if repeated:
        raise DataError(f"{len(repeated)} file names occur more than once in the data ({_first(repeated)}), so "
                        f"rows keyed by bare name ({CELEBA_KEY}) are ambiguous; key the CSV by '{FILE_KEY}' path")
    return keys


def _first(items: Sequence[str]) -> str:
    shown = ", ".join(items[:_SHOW])
    return shown + (f", ... ({len(items) - _SHOW} more)" if len(items) > _SHOW else "")


def _frozen(values: np.ndarray) -> np.ndarray:
    values.setflags(write=False)
    return values


__all__ = ["CELEBA_ATTRIBUTES_FILE", "CLASS_PREFIX", "Labels", "celeba_attributes_file", "read_labels"]
