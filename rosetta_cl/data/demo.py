"""Small synthetic stand-ins for the birdsong and 3D Chairs data, written in the real formats, so
that both streams can be run (and tested) without the real data: ``rosetta-cl demo-data``.

- birdsong: a few birds, each singing its own repertoire of syllable types (harmonic stacks with a
  bird-specific pitch, sweep and duration, jittered per rendition, on background noise), written
  as AVA writes them: ``<bird>/<session>/syllables_XXXX.hdf5`` with ``specs`` (N x 128 x 128,
  float32 in [0, 1]), ``onsets``, ``offsets`` and ``audio_filenames``.
- chairs: a few chairs (seat, back and four legs of chair-specific proportions and colour), each
  rendered from several azimuths and two elevations as 600 x 600 RGB PNGs on white, in the
  release's layout ``rendered_chairs/<chair id>/renders/image_VVV_pEEE_tAAA_r096.png``.

Neither is real data: numbers measured on them say nothing about the paper's results.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

SPEC_SIDE = 128


def syllable_spec(rng, f0: float, sweep: float, length: float, harmonics: int,
                  side: int = SPEC_SIDE) -> np.ndarray:
    """One syllable: a harmonic stack whose pitch moves linearly, in [0, 1]."""
    t = np.arange(side, dtype=np.float32)
    start = rng.uniform(4, 12)
    stop = min(start + length, side - 4)
    active = ((t >= start) & (t <= stop)).astype(np.float32)
    phase = np.clip((t - start) / max(stop - start, 1), 0, 1)
    envelope = active * np.clip(np.sin(np.pi * phase), 0, 1) ** 0.5
    pitch = f0 + sweep * (t - start) / side
    freq = np.arange(side, dtype=np.float32)[:, None]
    spec = np.zeros((side, side), dtype=np.float32)
    for k in range(1, harmonics + 1):
        spec += np.exp(-((freq - k * pitch[None, :]) ** 2) / 4.0) / k ** 0.5
    spec *= envelope[None, :]
    spec += rng.uniform(0.0, 0.08, size=(side, side)).astype(np.float32)
    return np.clip(spec, 0.0, 1.0)


def write_birdsong_demo(directory, birds: int = 4, syllables_per_bird: int = 60,
                        sessions: int = 2, per_file: int = 20, seed: int = 0,
                        side: int = SPEC_SIDE) -> Path:
    """AVA-format syllable files for ``birds`` birds under ``directory``; returns it."""
    import h5py

    root = Path(directory)
    rng = np.random.default_rng(seed)
    for b in range(birds):
        repertoire = [(rng.uniform(8, 30) * side / 128, rng.uniform(-15, 15) * side / 128,
                       rng.uniform(30, 90) * side / 128, int(rng.integers(2, 5)))
                      for _ in range(3)]
        specs, onsets = [], []
        for i in range(syllables_per_bird):
            f0, sweep, length, harmonics = repertoire[i % len(repertoire)]
            specs.append(syllable_spec(rng, f0 * rng.normal(1, 0.03), sweep * rng.normal(1, 0.1),
                                       length * rng.normal(1, 0.05), harmonics, side))
            onsets.append(0.5 * i)
        per_session = -(-syllables_per_bird // sessions)
        for s in range(sessions):
            folder = root / f"bird{b + 1:02d}" / f"session{s + 1}"
            folder.mkdir(parents=True, exist_ok=True)
            lo, hi = s * per_session, min((s + 1) * per_session, syllables_per_bird)
            for j, at in enumerate(range(lo, hi, per_file)):
                rows = slice(at, min(at + per_file, hi))
                with h5py.File(folder / f"syllables_{j:04d}.hdf5", "w") as f:
                    f.create_dataset("specs", data=np.stack(specs[rows]))
                    f.create_dataset("onsets", data=np.array(onsets[rows]))
                    f.create_dataset("offsets", data=np.array(onsets[rows]) + 0.1)
                    names = [f"bird{b + 1:02d}_session{s + 1}.wav"] * len(onsets[rows])
                    f.create_dataset("audio_filenames", data=np.array(names).astype("S"))
    return root


def _box(x0, x1, y0, y1, z0, z1):
    """The 6 faces of an axis-aligned box as (4, 3) corner arrays."""
    c = np.array([[x, y, z] for x in (x0, x1) for y in (y0, y1) for z in (z0, z1)], float)
    faces = [(0, 1, 3, 2), (4, 5, 7, 6), (0, 1, 5, 4), (2, 3, 7, 6), (0, 2, 6, 4), (1, 3, 7, 5)]
    return [c[list(f)] for f in faces]


def chair_faces(rng) -> tuple[list[np.ndarray], tuple[int, int, int]]:
    """A chair of random proportions: faces in a unit-ish box, y up; and its colour."""
    w, d = rng.uniform(0.35, 0.6), rng.uniform(0.35, 0.6)
    seat, leg = rng.uniform(0.35, 0.55), rng.uniform(0.03, 0.07)
    back = rng.uniform(0.3, 0.7)
    faces = _box(-w, w, seat, seat + 0.08, -d, d)
    faces += _box(-w, w, seat + 0.08, seat + 0.08 + back, d - 0.08, d)
    for sx in (-1, 1):
        for sz in (-1, 1):
            x, z = sx * (w - leg), sz * (d - leg)
            faces += _box(x - leg, x + leg, 0.0, seat, z - leg, z + leg)
    red, green, blue = (int(v) for v in rng.integers(40, 200, size=3))
    return faces, (red, green, blue)


def render_chair(faces, colour, azimuth: float, elevation: float, size: int = 600):
    """Orthographic view of the faces (painter's algorithm, Lambert-ish shading) on white."""
    from PIL import Image, ImageDraw

    a, e = np.radians(azimuth), np.radians(elevation)
    turn = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    tilt = np.array([[1, 0, 0], [0, np.cos(e), -np.sin(e)], [0, np.sin(e), np.cos(e)]])
    rotate = tilt @ turn
    image = Image.new("RGB", (size, size), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    views = [(f - [0, 0.6, 0]) @ rotate.T for f in faces]
    for v in sorted(views, key=lambda v: v[:, 2].mean()):  # far faces first
        normal = np.cross(v[1] - v[0], v[2] - v[0])
        shade = 0.45 + 0.55 * abs(normal[2]) / (np.linalg.norm(normal) + 1e-9)
        fill = tuple(int(c * shade) for c in colour)
        points = [(size / 2 + 0.38 * size * p[0], size / 2 - 0.38 * size * p[1]) for p in v]
        draw.polygon(points, fill=fill)
    return image


def write_chairs_demo(directory, chairs: int = 16, azimuths: int = 16, seed: int = 0,
                      size: int = 600) -> Path:
    """3D-Chairs-layout renders for ``chairs`` chairs x ``azimuths`` x 2 elevations."""
    root = Path(directory)
    rng = np.random.default_rng(seed)
    for c in range(chairs):
        faces, colour = chair_faces(rng)
        folder = root / "rendered_chairs" / f"chair_{c:04d}" / "renders"
        folder.mkdir(parents=True, exist_ok=True)
        view = 0
        for elevation in (20, 30):
            for t in range(azimuths):
                azimuth = 360.0 * t / azimuths
                name = f"image_{view:03d}_p{elevation:03d}_t{round(azimuth):03d}_r096.png"
                render_chair(faces, colour, azimuth, elevation, size).save(folder / name)
                view += 1
    return root


def write_atlas_demo(directory, cells: int = 400, genes: int = 30, seed: int = 0) -> Path:
    """Two labs' single-cell-like count tables as AnnData files: ``alice.h5ad`` and ``bob.h5ad``
    (other cells of the same four cell types; his genes in another order). ``obs``: ``cell_type``
    and ``batch``. Needs the ``anndata`` package."""
    import anndata
    import pandas as pd

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    profiles = rng.gamma(2.0, 1.5, size=(4, genes))  # mean expression of each cell type
    names = np.array([f"gene{j:02d}" for j in range(genes)])
    for lab, order, batches in (("alice", np.arange(genes), ("A1", "A2")),
                                ("bob", rng.permutation(genes), ("B1", "B2"))):
        kind = rng.integers(0, 4, size=cells)
        counts = rng.poisson(profiles[kind] * rng.uniform(0.7, 1.3, size=(cells, 1)))
        obs = pd.DataFrame({"cell_type": pd.Categorical([f"type{k}" for k in kind]),
                            "batch": pd.Categorical(rng.choice(batches, size=cells))},
                           index=[f"{lab}_cell{i}" for i in range(cells)])
        adata = anndata.AnnData(X=counts[:, order].astype(np.float32), obs=obs,
                                var=pd.DataFrame(index=names[order]))
        adata.write_h5ad(directory / f"{lab}.h5ad")
    return directory
