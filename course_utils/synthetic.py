"""Synthetic facades: label maps in the 12 CMP facade classes, and photos rendered from them.

The course cannot count on the facades archive (its server goes down, classrooms may be offline), so it
draws its own building fronts in the same layout and label colours: a random grid of floors and window
columns with cornices, sills, balconies, blinds, doors and shops (the label map), then a photo of it with
per-building colours, brick or plaster, glass that reflects the sky, light gradients and cast shadows.
`render_synthetic_facade(seed, index, size, variant)` gives one pair; `variant` redraws the photo of the
same label map, to show that one label map fits many photos. `course_utils.data` writes whole sets.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

FACADE_CLASSES = [
    "background", "facade", "window", "door", "cornice", "sill",
    "balcony", "blind", "deco", "molding", "pillar", "shop",
]  # fmt: skip
# One colour per class, in class order, sampled along a 'jet' colormap (dark blue -> blue -> cyan -> yellow
# -> red -> dark red): the look of the label maps in the pix2pix facades archive (background dark blue,
# facade blue, ...). It gives our synthetic maps the same look; it is not read from the archive itself.
FACADE_PALETTE = np.array(
    [
        [0, 0, 170], [0, 0, 255], [0, 85, 255], [0, 170, 255], [0, 255, 255], [85, 255, 170],
        [170, 255, 85], [255, 255, 0], [255, 170, 0], [255, 85, 0], [255, 0, 0], [170, 0, 0],
    ],
    dtype=np.uint8,
)  # fmt: skip
(BACKGROUND, FACADE, WINDOW, DOOR, CORNICE, SILL, BALCONY, BLIND, DECO, MOLDING, PILLAR, SHOP) = range(12)
FRAME = 12  # photo only: window frames, drawn over the glass (the label map calls them window)
_GLASS_LEVELS = 16  # photo only: shades of glass between its own colour and the reflected sky
_STICKS_OUT = np.isin(np.arange(12), [CORNICE, SILL, BALCONY, MOLDING, DECO])  # classes that cast shadows
SYNTHETIC_VERSION = 1  # part of the cache folder name: bump it when the generator's output changes

Window = tuple[int, int, int, int]  # rows y0:y1 and columns x0:x1 of one window's glass


# ----------------------------------------------------------------------------------------------------------
# The label map


def _box(lab: np.ndarray, y0: float, y1: float, x0: float, x1: float, cls: int) -> None:
    # Integer, clipped rectangle: no antialiasing, so every label pixel is exactly one class.
    h, w = lab.shape
    y0, y1 = max(0, int(round(y0))), min(h, int(round(y1)))
    x0, x1 = max(0, int(round(x0))), min(w, int(round(x1)))
    if y1 > y0 and x1 > x0:
        lab[y0:y1, x0:x1] = cls


@dataclass
class _Front:
    """One building front's grid and style, drawn once and shared by its floors."""

    left: float
    right: float
    floor_y: np.ndarray  # n_floors + 1 row boundaries, the ground floor last
    col_x: np.ndarray  # n_cols + 1 column boundaries inside the pillars
    win_w: float  # window width and height as shares of a cell
    win_h: float
    blinds: str
    molding: bool
    deco: bool
    floor_cornices: bool
    balcony_p: float


def _draw_front(lab: np.ndarray, rng: np.random.Generator) -> _Front:
    """The wall, its cornice and pillars, and the grid of floors and columns (the draws come in this order)."""
    s = lab.shape[0]
    left, right = rng.uniform(0, 0.08) * s, s - rng.uniform(0, 0.08) * s
    top = rng.uniform(0.0, 0.16) * s
    _box(lab, top, s, left, right, FACADE)
    cornice_h = max(1.0, rng.uniform(0.015, 0.04) * s)
    _box(lab, top, top + cornice_h, left - 0.01 * s, right + 0.01 * s, CORNICE)
    inner_left, inner_right = left, right
    if rng.random() < 0.5:  # pillars framing the front
        pw = max(1.0, rng.uniform(0.02, 0.05) * s)
        _box(lab, top + cornice_h, s, left, left + pw, PILLAR)
        _box(lab, top + cornice_h, s, right - pw, right, PILLAR)
        inner_left, inner_right = left + pw, right - pw
    n_floors, n_cols = int(rng.integers(3, 7)), int(rng.integers(2, 7))
    weights = np.r_[np.ones(n_floors - 1), rng.uniform(1.1, 1.5)]  # the ground floor is taller
    body_top = top + cornice_h
    floor_y = body_top + np.r_[0, np.cumsum(weights)] / weights.sum() * (s - body_top)
    col_x = inner_left + np.arange(n_cols + 1) / n_cols * (inner_right - inner_left)
    win_w, win_h = rng.uniform(0.35, 0.65), rng.uniform(0.4, 0.65)
    blinds = str(rng.choice(["none", "shutters", "roller"], p=[0.5, 0.3, 0.2]))
    molding, deco = bool(rng.random() < 0.5), bool(rng.random() < 0.35)
    floor_cornices, balcony_p = bool(rng.random() < 0.5), rng.uniform(0, 0.6)
    return _Front(left, right, floor_y, col_x, win_w, win_h, blinds, molding, deco, floor_cornices, balcony_p)


def _draw_upper_window(lab: np.ndarray, rng: np.random.Generator, front: _Front, c: int, wy0: float, wh: float,
                       fh: float, balcony: bool) -> Window:
    """One upper-floor window in column c, with its molding, deco, shutters or blind, sill and balcony."""
    col_x = front.col_x
    cw = col_x[c + 1] - col_x[c]
    ww = max(2.0, front.win_w * cw)
    wx0 = col_x[c] + 0.5 * (cw - ww)
    m = max(1.0, 0.08 * ww)
    if front.molding:
        _box(lab, wy0 - m, wy0 + wh + m, wx0 - m, wx0 + ww + m, MOLDING)
    if front.deco:
        _box(lab, wy0 - m - max(1.0, 0.12 * wh), wy0 - m, wx0 - 2 * m, wx0 + ww + 2 * m, DECO)
    if front.blinds == "shutters":
        sw = min(0.45 * ww, 0.5 * (cw - ww))  # shutters stay inside their column
        _box(lab, wy0, wy0 + wh, wx0 - sw, wx0 + ww + sw, BLIND)
    _box(lab, wy0, wy0 + wh, wx0, wx0 + ww, WINDOW)
    window = tuple(int(round(v)) for v in (wy0, wy0 + wh, wx0, wx0 + ww))
    if front.blinds == "roller" and rng.random() < 0.6:  # some half-drawn roller blinds
        _box(lab, wy0, wy0 + rng.uniform(0.2, 0.7) * wh, wx0, wx0 + ww, BLIND)
    _box(lab, wy0 + wh, wy0 + wh + max(1.0, 0.05 * fh), wx0 - m, wx0 + ww + m, SILL)
    if balcony and not front.floor_cornices:
        _box(lab, wy0 + 0.7 * wh, wy0 + wh + max(1.0, 0.05 * fh), wx0 - 2 * m, wx0 + ww + 2 * m, BALCONY)
    return window


def _draw_upper_floors(lab: np.ndarray, rng: np.random.Generator, front: _Front) -> list[Window]:
    windows = []
    for f in range(len(front.floor_y) - 2):
        y0, y1 = front.floor_y[f], front.floor_y[f + 1]
        fh = y1 - y0
        if f > 0 and front.floor_cornices:
            _box(lab, y0, y0 + max(1.0, 0.06 * fh), front.left, front.right, CORNICE)
        wh = max(2.0, front.win_h * fh)
        wy0 = y0 + 0.5 * (fh - wh)
        balcony = rng.random() < front.balcony_p
        for c in range(len(front.col_x) - 1):
            windows.append(_draw_upper_window(lab, rng, front, c, wy0, wh, fh, balcony))
        if balcony and front.floor_cornices:  # one balcony along the whole floor
            _box(lab, wy0 + 0.7 * wh, wy0 + wh + max(1.0, 0.06 * fh), front.col_x[0], front.col_x[-1], BALCONY)
    return windows


def _draw_ground_floor(lab: np.ndarray, rng: np.random.Generator, front: _Front) -> list[Window]:
    """A door, shops, or windows in each column of the ground floor."""
    col_x, windows = front.col_x, []
    y0, y1 = front.floor_y[-2], front.floor_y[-1]
    fh, n_cols = y1 - y0, len(col_x) - 1
    door_col = int(rng.integers(n_cols)) if rng.random() < 0.85 else -1
    shop_p = rng.uniform(0, 1)
    for c in range(n_cols):
        cw = col_x[c + 1] - col_x[c]
        if c == door_col:
            dw, dh = rng.uniform(0.4, 0.7) * cw, rng.uniform(0.6, 0.85) * fh
            dx0 = col_x[c] + 0.5 * (cw - dw)
            if front.molding:
                side = max(1.0, 0.06 * dw)
                _box(lab, y1 - dh - max(1.0, 0.05 * fh), y1, dx0 - side, dx0 + dw + side, MOLDING)
            _box(lab, y1 - dh, y1, dx0, dx0 + dw, DOOR)
        elif rng.random() < shop_p:
            _box(lab, y0 + 0.15 * fh, y1 - 0.04 * fh, col_x[c] + 0.08 * cw, col_x[c + 1] - 0.08 * cw, SHOP)
        else:
            ww, wh = max(2.0, front.win_w * cw), max(2.0, front.win_h * fh)
            wx0, wy0 = col_x[c] + 0.5 * (cw - ww), y0 + 0.35 * (fh - wh)
            _box(lab, wy0, wy0 + wh, wx0, wx0 + ww, WINDOW)
            windows.append(tuple(int(round(v)) for v in (wy0, wy0 + wh, wx0, wx0 + ww)))
            _box(lab, wy0 + wh, wy0 + wh + max(1.0, 0.04 * fh), wx0 - 1, wx0 + ww + 1, SILL)
    return windows


def _facade_layout(rng: np.random.Generator, size: int) -> tuple[np.ndarray, list[Window]]:
    """A class-index map (size x size, uint8) of one rectified building front, and its window rectangles."""
    lab = np.full((size, size), BACKGROUND, np.uint8)
    front = _draw_front(lab, rng)
    windows = _draw_upper_floors(lab, rng, front)
    return lab, windows + _draw_ground_floor(lab, rng, front)


# ----------------------------------------------------------------------------------------------------------
# The photo


def _smooth_noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    # Low-frequency noise in about [-1, 1]: a few random values, upsampled smoothly (no per-pixel loop).
    small = rng.standard_normal((cells, cells)).astype(np.float32)
    return cv2.resize(small, (size, size), interpolation=cv2.INTER_LINEAR)  # 10x faster than cubic


def _colours(rng: np.random.Generator) -> np.ndarray:
    """One RGB colour per class, frame and glass shade: they vary from building to building."""
    u = lambda lo, hi, n=3: rng.uniform(lo, hi, n).astype(np.float32)
    walls = np.array([[196, 170, 130], [180, 90, 60], [225, 215, 190], [150, 150, 145], [210, 160, 150],
                      [170, 180, 160]])
    doors = np.array([[110, 70, 40], [50, 80, 60], [120, 40, 35], [70, 60, 55]])
    blinds = np.array([[60, 110, 70], [230, 230, 225], [120, 80, 50], [150, 150, 160]])
    colour = np.zeros((FRAME + 1 + _GLASS_LEVELS, 3), np.float32)  # 12 classes, frames, glass shades
    colour[FACADE] = walls[rng.integers(len(walls))] * u(0.85, 1.1)
    trim = np.array([235, 230, 220]) * u(0.85, 1.0) if rng.random() < 0.7 else colour[FACADE] * 0.8
    colour[[CORNICE, SILL, MOLDING, DECO, PILLAR]] = trim
    colour[WINDOW] = np.array([60, 75, 90]) * u(0.6, 1.4)
    colour[DOOR] = doors[rng.integers(4)] * u(0.8, 1.2)
    colour[SHOP] = np.array([45, 50, 55]) * u(0.7, 1.3)
    colour[BLIND] = blinds[rng.integers(4)] * u(0.85, 1.1)
    colour[BALCONY] = np.array([40, 40, 45]) * u(0.7, 1.5)
    colour[BACKGROUND] = np.array([150, 185, 225]) * u(0.8, 1.1)
    colour[FRAME] = np.array([240, 240, 235]) * u(0.6, 1.0)
    # Glass reflects the sky: shades from the glass colour (level 0) to the sky colour (the last level).
    t = np.linspace(0, 1, _GLASS_LEVELS, dtype=np.float32)[:, None]
    colour[FRAME + 1 :] = (1 - t) * colour[WINDOW] + t * (0.9 * colour[BACKGROUND])
    return colour


def _camera_view(lab: np.ndarray, windows: list[Window], rng: np.random.Generator) -> np.ndarray:
    """What the camera sees, as indices into the colour table: the classes, window frames, and glass by shade.

    Windows get white frames with a cross and a reflection ramp (sky at the top, dark glass below). Windows
    of one floor share their rows and windows of one column share their columns, so 1-D row and column
    profiles, filled window by window, describe every window at once; quantising the ramp lets one lookup
    colour the whole image. Roller blinds drawn over the glass keep their own look.
    """
    s = lab.shape[0]
    ramp = np.zeros(s, np.float32)
    frame_rows, frame_cols = np.zeros(s, bool), np.zeros(s, bool)
    f = max(1, s // 128)
    power = rng.uniform(1, 3)
    for y0, y1, x0, x1 in windows:
        h, w = y1 - y0, x1 - x0
        if h < 2 or w < 2:
            continue
        ramp[y0:y1] = np.linspace(1, 0, h, dtype=np.float32) ** power
        if w >= 6 and h >= 6:
            frame_rows[[*range(y0, y0 + f), *range(y1 - f, y1), *range(y0 + h // 3, y0 + h // 3 + f)]] = True
            mid = x0 + w // 2 - f // 2
            frame_cols[[*range(x0, x0 + f), *range(x1 - f, x1), *range(mid, mid + f)]] = True
    shade_row = (FRAME + 1 + np.rint(ramp * (_GLASS_LEVELS - 1))).astype(np.uint8)
    look = np.where(lab == WINDOW, shade_row[:, None], lab)
    look[(lab == WINDOW) & (frame_rows[:, None] | frame_cols[None, :])] = FRAME
    return look


def _wall_texture(rng: np.random.Generator, s: int, y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Brick (mortar lines, one shade per brick, odd courses shifted by half a brick) or stained plaster."""
    bh = max(2, round(s / rng.uniform(35, 60)))  # brick course height in pixels, scaled with the image
    if rng.random() >= 0.5:
        return 1 + 0.07 * _smooth_noise(rng, s, int(rng.integers(4, 12)))
    bw = 2 * bh + int(rng.integers(0, bh + 1))
    half = bw // 2
    odd = (y // bh) % 2 == 1
    shade = 1 + 0.08 * rng.standard_normal((s // bh + 2, s // bw + 3)).astype(np.float32)
    cells = cv2.resize(shade, (shade.shape[1] * bw, shade.shape[0] * bh), interpolation=cv2.INTER_NEAREST)
    wall = np.where(odd, cells[:s, bw + half : bw + half + s], cells[:s, bw : bw + s])
    mortar = (y % bh < max(1, bh // 5)) | ((x + np.where(odd, half, 0)) % bw < max(1, bh // 5))
    wall[mortar] = 1.15
    return wall


def _textures(lab: np.ndarray, rng: np.random.Generator, y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """One brightness factor per pixel, written class by class through masks (absent classes cost nothing)."""
    s = lab.shape[0]
    tex = np.ones((s, s), np.float32)
    present = np.bincount(lab.ravel(), minlength=12) > 0
    np.copyto(tex, _wall_texture(rng, s, y, x), where=lab == FACADE)
    np.copyto(tex, 1.1 - 0.25 * y / s, where=lab == BACKGROUND)  # sky, brighter at the top
    if present[DOOR]:  # wood grain
        grain = 1 + 0.12 * np.sin(x * rng.uniform(0.3, 0.9) * 256 / s + 4 * _smooth_noise(rng, s, 6))
        np.copyto(tex, grain, where=lab == DOOR)
    if present[BLIND]:  # slats
        np.copyto(tex, 1 - 0.25 * ((y // max(2, s // 64)) % 2), where=lab == BLIND)
    if present[BALCONY]:  # railing bars in front of a dark recess
        bar = max(2, s // 40)
        np.copyto(tex, np.where(x % bar < bar / 2, np.float32(1), np.float32(2.2)), where=lab == BALCONY)
    if present[SHOP]:  # lit goods behind the shop windows
        np.copyto(tex, 1 + 0.5 * np.clip(_smooth_noise(rng, s, 16), 0, None), where=lab == SHOP)
    return tex


def _light(lab: np.ndarray, rng: np.random.Generator, y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """A smooth gradient across the front, and shadows cast down-sideways by what sticks out."""
    s = lab.shape[0]
    a, b = (float(v) for v in rng.uniform(-0.3, 0.3, 2))
    light = 1 + a * (x / s - 0.5) + b * (y / s - 0.5)
    stick_out = np.take(_STICKS_OUT, lab)
    dy, dx = max(1, round(s * rng.uniform(0.005, 0.02))), round(s * rng.uniform(-0.01, 0.01))
    cast = np.zeros_like(stick_out)
    cast[dy:, max(dx, 0) : s + min(dx, 0)] = stick_out[:-dy, max(-dx, 0) : s - max(dx, 0)]
    shadow = np.where(cast & ~stick_out & (lab != BACKGROUND), np.float32(rng.uniform(0.55, 0.8)), np.float32(1))
    return light * shadow


def _facade_photo(lab: np.ndarray, windows: list[Window], rng: np.random.Generator) -> np.ndarray:
    """Render a photo (uint8, HxWx3) from a class map: per-class colours and textures, light, shadows, noise.

    Speed: everything is whole-image numpy on one-channel maps where possible (texture, light, masks); the
    three-channel image is touched only a few times, since masked writes to it are the slowest operations.
    """
    s = lab.shape[0]
    y = np.arange(s, dtype=np.float32)[:, None]
    x = np.arange(s, dtype=np.float32)[None, :]
    colour = _colours(rng)
    look = _camera_view(lab, windows, rng)
    tex = _textures(lab, rng, y, x)
    light = _light(lab, rng, y, x)
    # The image: colour x texture x light x sensor grain (grey, float32 uniforms: a third of the cost of
    # normals), in one pass over the three channels. Then a slightly soft camera, which also makes the
    # grain look less digital.
    grain = 1 + (rng.random((s, s), dtype=np.float32) - 0.5) * np.float32(rng.uniform(0.04, 0.15))
    img = np.take(colour, look, axis=0) * (tex * light * grain)[..., None]
    return cv2.GaussianBlur(np.clip(img, 0, 255).astype(np.uint8), (0, 0), sigmaX=0.4 * s / 256 + 0.2)


def render_synthetic_facade(seed: int, index: int, size: int = 256, variant: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """One synthetic (label map, photo) pair, both uint8 arrays of shape (size, size, 3), size from 64 to 512.

    The label map uses only FACADE_PALETTE colours (one per FACADE_CLASSES entry, no antialiasing). The
    layout depends on (seed, index) only; `variant` changes the photo's look (colours, textures, light,
    noise) on the same layout, to show that one label map fits many photos. Deterministic.
    """
    if not (isinstance(size, (int, np.integer)) and 64 <= size <= 512):
        raise ValueError(f"size must be an int from 64 to 512, got {size!r}")
    if min(seed, index, variant) < 0:
        raise ValueError(f"seed, index and variant must be >= 0, got {seed}, {index}, {variant}")
    lab, windows = _facade_layout(np.random.default_rng([seed, index, 0]), int(size))
    photo = _facade_photo(lab, windows, np.random.default_rng([seed, index, 1, variant]))
    return np.take(FACADE_PALETTE, lab, axis=0), photo


def classes_from_colours(label: np.ndarray, max_distance: float | None = None, ignore_index: int = 255) -> np.ndarray:
    """Class indices (uint8, shape label.shape[:-1]) of a colour label map (uint8, (..., 3)), by nearest palette colour.

    JPEG noise moves colours a little, so each pixel takes the class of the FACADE_PALETTE colour nearest to
    it (Euclidean RGB distance). A resized label map also has blended colours along class borders, which can
    land nearest to a third class (jet colours lie on a path); with `max_distance` (in 0-255 units), pixels
    farther than that from every palette colour get `ignore_index` instead of a guess.
    """
    label = np.asarray(label)
    if label.dtype != np.uint8 or label.ndim < 3 or label.shape[-1] != 3:
        got = f"{label.dtype} array of shape {label.shape}"
        raise ValueError(f"expected a uint8 colour label map of shape (..., H, W, 3), got {got}")
    # Each distinct colour once (a JPEG label map of 256 x 256 has about 1,200), then back to the pixels.
    packed = (label[..., 0].astype(np.int32) << 16) | (label[..., 1].astype(np.int32) << 8) | label[..., 2]
    unique, pixels = np.unique(packed.ravel(), return_inverse=True)
    colours = np.stack([unique >> 16, (unique >> 8) & 255, unique & 255], 1).astype(np.float32)
    # |c - p|^2 = |c|^2 - 2 c.p + |p|^2: one matrix product instead of a (colours x 12 x 3) difference array.
    # Every term is an integer below 2^24, so float32 holds it exactly: ties resolve as in integer arithmetic.
    palette = FACADE_PALETTE.astype(np.float32)
    dist2 = (colours**2).sum(1, keepdims=True) - 2 * colours @ palette.T + (palette**2).sum(1)
    classes = dist2.argmin(1).astype(np.uint8)
    if max_distance is not None:
        classes[dist2.min(1) > max_distance**2] = ignore_index
    return classes[pixels].reshape(label.shape[:-1])
