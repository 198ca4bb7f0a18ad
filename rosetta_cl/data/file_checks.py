"""What a user's file declares is checked before it is allocated: an ``.npy`` header's shape
against the bytes the file holds, every ``.npz`` member's header against its declared size in
the zip, an IDX header's dims against the data; anything declaring more than
:func:`memory_budget` is refused. So a hostile or broken file is refused with at most about its
own size in memory (a compressed member: its declared size, checked against the budget
first)."""

from __future__ import annotations

import io
import math
import struct
import warnings
import zipfile
from pathlib import Path

import numpy as np

from rosetta_cl.errors import ConfigError


def memory_budget() -> int:
    """The most bytes one file may make us allocate: half the memory available now."""
    import psutil

    return psutil.virtual_memory().available // 2


def size_text(n: int) -> str:
    for unit, scale in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"


def check_declared(nbytes: int, what: str) -> None:
    budget = memory_budget()
    if nbytes > budget:
        raise ConfigError(f"{what} declares {size_text(nbytes)}, more than the memory budget "
                          f"({size_text(budget)}: half the free memory)")


MAX_HEADER = 10_000  # numpy's own limit on an .npy header (max_header_size)


def npy_header(stream, what: str) -> tuple[tuple[int, ...], np.dtype, int]:
    """(shape, dtype, header length) of the ``.npy`` data at the start of ``stream``. The
    header's declared length is checked before it is read (numpy reads first: 16 MiB for a
    12-byte file claiming a 16 MiB header)."""
    try:
        with warnings.catch_warnings():  # numpy warns about Python 2 headers, then parses them
            warnings.simplefilter("ignore")
            version = np.lib.format.read_magic(stream)
            if version not in ((1, 0), (2, 0), (3, 0)):
                raise ValueError(f"unsupported .npy version {version}")
            width = 2 if version == (1, 0) else 4
            raw_length = stream.read(width)
            if len(raw_length) < width:
                raise ValueError("truncated header")
            length = struct.unpack("<H" if width == 2 else "<I", raw_length)[0]
            if length > MAX_HEADER:
                raise ValueError(f"a header of {length} bytes (allowed up to {MAX_HEADER})")
            header = io.BytesIO(raw_length + stream.read(length))
            read = (np.lib.format.read_array_header_1_0 if width == 2
                    else np.lib.format.read_array_header_2_0)
            shape, _, dtype = read(header)
    except Exception as exc:  # noqa: BLE001  (numpy's header parser raises many types)
        raise ConfigError(f"{what}: not a .npy array (no valid .npy header: "
                          f"{str(exc).splitlines()[0][:100] if str(exc) else type(exc).__name__})"
                          "; save arrays with np.save / np.savez") from None
    if dtype.hasobject:
        raise ConfigError(f"{what}: holds Python objects (dtype {dtype}); pickled data is never "
                          "loaded: save numeric arrays")
    return tuple(int(s) for s in shape), dtype, 8 + width + length


def check_npy_file(path: Path) -> None:
    """A ``.npy`` file holds exactly the bytes its header declares (within the budget)."""
    with open(path, "rb") as f:
        shape, dtype, header = npy_header(f, f"data file {path}")
    declared = math.prod(shape) * dtype.itemsize
    check_declared(declared, f"data file {path} (shape {shape}, {dtype})")
    held = path.stat().st_size - header
    if held != declared:
        raise ConfigError(f"data file {path}: its header declares {declared} bytes of data "
                          f"(shape {shape}, {dtype}), the file holds {held} (truncated or "
                          "corrupted)")


def check_npz_file(path: Path, members: tuple[str, ...]) -> None:
    """Each of ``members`` present in the ``.npz`` declares, in its ``.npy`` header, exactly
    the size the zip declares for it; together within the budget. Members are not inflated."""
    what = f"data file {path}"
    try:
        with zipfile.ZipFile(path) as zf:
            infos = {i.filename: i for i in zf.infolist()}
            total = 0
            for name in members:
                info = infos.get(f"{name}.npy")
                if info is None:
                    continue
                with zf.open(info) as stream:
                    shape, dtype, header = npy_header(stream, f"{what}: {name}")
                declared = math.prod(shape) * dtype.itemsize
                if info.file_size != header + declared:
                    raise ConfigError(f"{what}: {name} declares {declared} bytes (shape {shape},"
                                      f" {dtype}) but the zip holds {info.file_size} for it "
                                      "(corrupted)")
                total += declared
    except ConfigError:
        raise
    except Exception as exc:  # noqa: BLE001  (zipfile, zlib, OSError...: a broken archive)
        raise ConfigError(f"{what}: not a readable .npz ({_first(exc)})") from None
    check_declared(total, what)


def _first(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:120] if text else type(exc).__name__
