"""BVH reader and the typed mocap clip shared by the motion readers (BVH, ASF/AMC).

A :class:`MocapClip` is a joint hierarchy with per-frame channel values, in the source's own
joint convention (not yet the canonical SMPL-22 one; see :mod:`avatar3d.motion.retarget`):

* Frame: the file's world axes (BVH files from CMU / cgspeed are Y up and face +Z at rest,
  like the glTF world frame of DESIGN.md).  Lengths are converted to **metres** on reading;
  Euler angles stay in **degrees**, as in the files.
* Rest pose: all channels zero.  Each joint's rest orientation is the identity in world axes,
  ``offsets[j]`` is joint j's rest position relative to its parent (world axes, metres).
* Rotation of joint j in frame t (a 3x3 matrix acting on column vectors):
  ``local[t, j] = axes[j] @ E(t, j) @ axes[j].T`` where ``E`` is the product of the joint's
  rotation channels **in the order listed** (``Zrotation Yrotation Xrotation`` gives
  ``Rz @ Ry @ Rx``: X is applied first), the BVH rule.  ``axes`` is the identity for BVH; ASF
  bones carry their ``axis`` frame there.
* Forward kinematics: ``G[j] = G[parent] @ local[j]`` and
  ``p[j] = p[parent] + G[parent] @ (offsets[j] + translation channels of j)``; the root's
  position is ``offsets[0]`` plus its position channels.

Parsing is whitespace-agnostic (tabs, CRLF, blank lines), takes any channel order per joint,
keeps ``End Site`` offsets, and can drop the T-pose frame 0 that cgspeed's MotionBuilder-friendly
CMU conversions (variants ``mb1``/``mb2``) put before the motion (see ``drop_tpose``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

#: Metres per CMU mocap unit: lengths are inches / 0.45 (ASF ``:units length 0.45``).
CMU_UNIT_M = 0.0254 / 0.45
ROTATION_CHANNELS = ("Xrotation", "Yrotation", "Zrotation")
POSITION_CHANNELS = ("Xposition", "Yposition", "Zposition")
_AXIS_INDEX = {"X": 0, "Y": 1, "Z": 2}

#: Rest-pose standing heights (file units) that identify the length unit when none is given:
#: (low, high, metres per unit).  The ranges do not overlap for adult skeletons.
_UNIT_GUESSES = (
    (0.8, 2.6, 1.0, "metres"),
    (15.0, 45.0, CMU_UNIT_M, "CMU units (1/0.45 in)"),
    (50.0, 100.0, 0.0254, "inches"),
    (100.0, 260.0, 0.01, "centimetres"),
    (800.0, 2600.0, 0.001, "millimetres"),
)
#: T-pose frame detection: the share of exactly-zero rotation values in frame 0.
TPOSE_ZERO_FRACTION = 0.75


class BVHParseError(ValueError):
    """A BVH file that does not follow the format (the message names the line or token)."""


@dataclass(frozen=True)
class MocapClip:
    """A mocap clip in its source skeleton's convention (see the module docstring).

    Attributes:
        names: J joint names, parents before children (file order).
        parents: J parent indices, -1 for the root.
        offsets: ``[J, 3]`` float64 rest offset of each joint from its parent, metres, world
            axes at rest (the root's is its rest position).
        channels: per joint, its channel names in file order (``Xposition`` ...
            ``Zrotation``); the values of joint j occupy ``values[:, channel_start[j] :
            channel_start[j] + len(channels[j])]``.
        values: ``[T, C]`` float64 channel values per frame: positions in metres, rotations
            in degrees.
        fps: frames per second.
        end_sites: ``{joint index: [3] offset}`` of ``End Site`` children (metres, the joint's
            rest frame = world axes at rest).
        axes: ``[J, 3, 3]`` optional per-joint rotation frames (ASF ``axis``); None = identity.
        name: clip name (file stem).
        metres_per_unit: the length unit of the source file, in metres.
        dropped_tpose: True when a T-pose frame 0 was removed on reading.
    """

    names: tuple[str, ...]
    parents: tuple[int, ...]
    offsets: np.ndarray
    channels: tuple[tuple[str, ...], ...]
    values: np.ndarray
    fps: float
    end_sites: dict[int, np.ndarray] = field(default_factory=dict)
    axes: np.ndarray | None = None
    name: str = ""
    metres_per_unit: float = 1.0
    dropped_tpose: bool = False

    def __post_init__(self) -> None:
        j = len(self.names)
        if len(self.parents) != j or len(self.channels) != j:
            raise ValueError(f"names, parents and channels must have {j} entries each")
        for i, p in enumerate(self.parents):
            if not (p == -1 if i == 0 else 0 <= p < i):
                raise ValueError(f"parents[{i}] = {p}: the root must come first and parents before children")
        if self.offsets.shape != (j, 3):
            raise ValueError(f"offsets must have shape [{j}, 3], got {list(self.offsets.shape)}")
        c = sum(len(ch) for ch in self.channels)
        if self.values.ndim != 2 or self.values.shape[1] != c:
            raise ValueError(f"values must have shape [T, {c}] (the channel count), got {list(self.values.shape)}")
        if self.axes is not None and self.axes.shape != (j, 3, 3):
            raise ValueError(f"axes must have shape [{j}, 3, 3], got {list(self.axes.shape)}")
        if not self.fps > 0:
            raise ValueError(f"fps must be positive, got {self.fps}")
        for ch in self.channels:
            for name in ch:
                if name not in ROTATION_CHANNELS + POSITION_CHANNELS:
                    raise ValueError(f"unknown channel {name!r}")

    # ------------------------------------------------------------------ basic facts
    @property
    def num_frames(self) -> int:
        return int(self.values.shape[0])

    @property
    def num_joints(self) -> int:
        return len(self.names)

    @property
    def duration_s(self) -> float:
        return self.num_frames / self.fps

    @property
    def channel_start(self) -> tuple[int, ...]:
        starts, n = [], 0
        for ch in self.channels:
            starts.append(n)
            n += len(ch)
        return tuple(starts)

    def index(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            raise ValueError(f"joint {name!r} is not in clip {self.name!r}; joints: {list(self.names)}") from None

    def children(self, j: int) -> list[int]:
        return [i for i, p in enumerate(self.parents) if p == j]

    def subset_frames(self, frames: slice | np.ndarray) -> MocapClip:
        """The same clip restricted to ``frames`` (a slice or an index array)."""
        return replace(self, values=np.ascontiguousarray(self.values[frames]))

    # ------------------------------------------------------------------ kinematics
    def local_rotations(self) -> np.ndarray:
        """``[T, J, 3, 3]`` each joint's rotation relative to its parent (world axes at rest)."""
        t = self.num_frames
        out = np.empty((t, self.num_joints, 3, 3))
        for j, (ch, start) in enumerate(zip(self.channels, self.channel_start)):
            rot = np.broadcast_to(np.eye(3), (t, 3, 3)).copy()
            for k, name in enumerate(ch):
                if name in ROTATION_CHANNELS:
                    rot = rot @ axis_rotations(name[0], np.deg2rad(self.values[:, start + k]))
            if self.axes is not None:
                rot = self.axes[j] @ rot @ self.axes[j].T
            out[:, j] = rot
        return out

    def translations(self) -> np.ndarray:
        """``[T, J, 3]`` each joint's offset from its parent per frame: rest offset plus its
        position channels (metres, parent's frame)."""
        out = np.broadcast_to(self.offsets, (self.num_frames,) + self.offsets.shape).copy()
        for j, (ch, start) in enumerate(zip(self.channels, self.channel_start)):
            for k, name in enumerate(ch):
                if name in POSITION_CHANNELS:
                    out[:, j, _AXIS_INDEX[name[0]]] += self.values[:, start + k]
        return out

    def forward_kinematics(self) -> tuple[np.ndarray, np.ndarray]:
        """Global joint positions ``[T, J, 3]`` (metres) and rotations ``[T, J, 3, 3]``."""
        local = self.local_rotations()
        trans = self.translations()
        pos = np.empty_like(trans)
        glob = np.empty_like(local)
        for j, p in enumerate(self.parents):
            if p < 0:
                glob[:, j] = local[:, j]
                pos[:, j] = trans[:, j]
            else:
                glob[:, j] = glob[:, p] @ local[:, j]
                pos[:, j] = pos[:, p] + np.einsum("tab,tb->ta", glob[:, p], trans[:, j])
        return pos, glob

    def end_site_positions(self, positions: np.ndarray, rotations: np.ndarray) -> dict[int, np.ndarray]:
        """``{joint: [T, 3]}`` End Site positions from the outputs of :meth:`forward_kinematics`."""
        return {j: positions[:, j] + rotations[:, j] @ off for j, off in self.end_sites.items()}

    def rest_positions(self) -> np.ndarray:
        """``[J, 3]`` joint positions with every channel at zero (the skeleton's zero pose)."""
        pos = np.zeros_like(self.offsets)
        for j, p in enumerate(self.parents):
            pos[j] = self.offsets[j] if p < 0 else pos[p] + self.offsets[j]
        return pos

    def bone_lengths(self) -> np.ndarray:
        """``[J]`` rest length of the bone from each joint's parent to it (root: 0)."""
        lengths = np.linalg.norm(self.offsets, axis=1)
        lengths[0] = 0.0
        return lengths


def axis_rotations(axis: str, angle: np.ndarray) -> np.ndarray:
    """``[..., 3, 3]`` right-handed rotations by ``angle`` radians about 'X', 'Y' or 'Z'."""
    c, s = np.cos(angle), np.sin(angle)
    one, zero = np.ones_like(angle), np.zeros_like(angle)
    axis = axis.upper()
    if axis == "X":
        rows = ((one, zero, zero), (zero, c, -s), (zero, s, c))
    elif axis == "Y":
        rows = ((c, zero, s), (zero, one, zero), (-s, zero, c))
    elif axis == "Z":
        rows = ((c, -s, zero), (s, c, zero), (zero, zero, one))
    else:
        raise ValueError(f"axis must be 'X', 'Y' or 'Z', got {axis!r}")
    return np.stack([np.stack(r, axis=-1) for r in rows], axis=-2)


# ---------------------------------------------------------------------- BVH reading
class _Tokens:
    """Whitespace tokens of the HIERARCHY section with their line numbers (for messages)."""

    def __init__(self, lines: list[str]) -> None:
        self.items = [(tok, n + 1) for n, line in enumerate(lines) for tok in line.split()]
        self.pos = 0

    def next(self, what: str) -> str:
        if self.pos >= len(self.items):
            raise BVHParseError(f"unexpected end of hierarchy, expected {what}")
        tok = self.items[self.pos][0]
        self.pos += 1
        return tok

    def expect(self, word: str) -> None:
        tok = self.next(repr(word))
        if tok != word:
            raise BVHParseError(f"line {self.items[self.pos - 1][1]}: expected {word!r}, got {tok!r}")

    def number(self, what: str) -> float:
        tok = self.next(what)
        try:
            return float(tok)
        except ValueError:
            raise BVHParseError(f"line {self.items[self.pos - 1][1]}: {what} must be a number, got {tok!r}") from None

    def peek(self) -> str | None:
        return self.items[self.pos][0] if self.pos < len(self.items) else None


def parse_bvh(
    text: str,
    *,
    metres_per_unit: float | None = None,
    drop_tpose: bool | None = None,
    fps: float | None = None,
    name: str = "",
) -> MocapClip:
    """Parse BVH text into a :class:`MocapClip`.

    Args:
        text: the whole file.
        metres_per_unit: the file's length unit in metres (CMU/cgspeed BVH: :data:`CMU_UNIT_M`);
            None guesses it from the rest skeleton's height (metres, CMU units, inches, cm,
            mm) and logs the guess.
        drop_tpose: remove frame 0 (cgspeed's added T-pose).  None: remove it when it looks
            like one (every rotation value an integer, most of them exactly 0, and frame 1
            not so), which is right for the CMU variants mb1/mb2 and leaves the others alone.
        fps: override the ``Frame Time`` of the file.
        name: clip name for messages.
    """
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    motion_line = next((i for i, line in enumerate(lines) if line.strip().upper() == "MOTION"), None)
    if motion_line is None:
        raise BVHParseError(f"{name or 'BVH'}: no MOTION section")
    tokens = _Tokens(lines[:motion_line])
    tokens.expect("HIERARCHY")

    names: list[str] = []
    parents: list[int] = []
    offsets: list[list[float]] = []
    channels: list[tuple[str, ...]] = []
    end_sites: dict[int, list[float]] = {}

    def read_offset() -> list[float]:
        tokens.expect("OFFSET")
        return [tokens.number("OFFSET x"), tokens.number("OFFSET y"), tokens.number("OFFSET z")]

    def read_joint(parent: int) -> None:
        joint_name = tokens.next("joint name")
        index = len(names)
        names.append(joint_name)
        parents.append(parent)
        tokens.expect("{")
        offsets.append(read_offset())
        chans: tuple[str, ...] = ()
        if tokens.peek() == "CHANNELS":
            tokens.next("CHANNELS")
            count = int(tokens.number("channel count"))
            chans = tuple(tokens.next("channel name") for _ in range(count))
            for c in chans:
                if c not in ROTATION_CHANNELS + POSITION_CHANNELS:
                    raise BVHParseError(f"joint {joint_name!r}: unknown channel {c!r}")
        channels.append(chans)
        while True:
            tok = tokens.next("JOINT, End Site or '}'")
            if tok == "}":
                return
            if tok == "JOINT":
                read_joint(index)
            elif tok == "End":
                tokens.expect("Site")
                tokens.expect("{")
                end_sites[index] = read_offset()
                tokens.expect("}")
            else:
                raise BVHParseError(f"line {tokens.items[tokens.pos - 1][1]}: unexpected {tok!r} in joint {joint_name!r}")

    tokens.expect("ROOT")
    read_joint(-1)
    if tokens.peek() is not None:
        raise BVHParseError(f"line {tokens.items[tokens.pos][1]}: only one ROOT hierarchy is supported")

    # MOTION header: "Frames: N" and "Frame Time: dt" (tolerant about spacing).
    header = " ".join(lines[motion_line + 1 : motion_line + 3]).replace(":", " : ").split()
    try:
        n_frames = int(header[header.index("Frames") + 2])
        frame_time = float(header[header.index("Time") + 2])
    except (ValueError, IndexError):
        raise BVHParseError(f"{name or 'BVH'}: MOTION must be followed by 'Frames: N' and 'Frame Time: dt'") from None
    n_channels = sum(len(c) for c in channels)
    data = np.array(" ".join(lines[motion_line + 3 :]).split(), dtype=np.float64)
    if n_channels == 0:
        raise BVHParseError(f"{name or 'BVH'}: no channels")
    if data.size % n_channels:
        raise BVHParseError(f"{name or 'BVH'}: {data.size} motion values is not a multiple of {n_channels} channels")
    values = data.reshape(-1, n_channels)
    if values.shape[0] != n_frames:
        log.warning("%s: header says %d frames, data holds %d; using the data", name or "BVH", n_frames, values.shape[0])
    if not frame_time > 0:
        raise BVHParseError(f"{name or 'BVH'}: Frame Time must be positive, got {frame_time}")

    offsets_arr = np.asarray(offsets, dtype=np.float64)
    if metres_per_unit is None:
        metres_per_unit = guess_metres_per_unit(names, parents, offsets_arr, end_sites, name)
    pos_mask = np.array([c in POSITION_CHANNELS for ch in channels for c in ch])
    values = values.copy()
    values[:, pos_mask] *= metres_per_unit

    dropped = False
    rot_mask = ~pos_mask
    if drop_tpose is None:
        drop_tpose = looks_like_tpose_frame(values[:, rot_mask])
    if drop_tpose and values.shape[0] > 1:
        values = values[1:]
        dropped = True
    return MocapClip(
        names=tuple(names),
        parents=tuple(parents),
        offsets=offsets_arr * metres_per_unit,
        channels=tuple(channels),
        values=np.ascontiguousarray(values),
        fps=float(fps) if fps else round_fps(1.0 / frame_time),
        end_sites={j: np.asarray(v, dtype=np.float64) * metres_per_unit for j, v in end_sites.items()},
        name=name,
        metres_per_unit=metres_per_unit,
        dropped_tpose=dropped,
    )


def read_bvh(
    path: str | Path,
    *,
    metres_per_unit: float | None = None,
    drop_tpose: bool | None = None,
    fps: float | None = None,
) -> MocapClip:
    """Read a BVH file (see :func:`parse_bvh` for the options); the clip is named by the stem."""
    path = Path(path)
    text = path.read_text(encoding="utf-8", errors="replace")
    return parse_bvh(text, metres_per_unit=metres_per_unit, drop_tpose=drop_tpose, fps=fps, name=path.stem)


def round_fps(fps: float) -> float:
    """Snap a rate computed from a rounded frame time (1/.0083333 = 120.0005) to the nearest
    integer when within 0.1 %."""
    nearest = round(fps)
    return float(nearest) if nearest and abs(fps - nearest) < 1e-3 * nearest else float(fps)


def looks_like_tpose_frame(rotations: np.ndarray) -> bool:
    """Whether frame 0 of ``[T, R]`` rotation values (degrees) is a hand-made T-pose: every
    value an integer, at least :data:`TPOSE_ZERO_FRACTION` of them exactly 0, and frame 1
    not integral (real motion)."""
    if rotations.shape[0] < 2 or rotations.shape[1] == 0:
        return False
    first, second = rotations[0], rotations[1]
    integral = np.all(np.abs(first - np.round(first)) < 1e-9)
    mostly_zero = np.mean(first == 0.0) >= TPOSE_ZERO_FRACTION
    second_integral = np.all(np.abs(second - np.round(second)) < 1e-9)
    return bool(integral and mostly_zero and not second_integral)


def guess_metres_per_unit(
    names: list[str], parents: list[int], offsets: np.ndarray, end_sites: dict[int, list[float]], name: str = ""
) -> float:
    """Metres per file unit from the rest skeleton's vertical extent (see ``_UNIT_GUESSES``)."""
    pos = np.zeros_like(offsets)
    for j, p in enumerate(parents):
        pos[j] = offsets[j] if p < 0 else pos[p] + offsets[j]
    points = [pos] + [pos[j][None] + np.asarray(o)[None] for j, o in end_sites.items()]
    allp = np.concatenate(points)
    extent = float(np.max(allp.max(0) - allp.min(0)))
    # Zero-pose skeletons may have the arms out (T-pose): the largest extent is height or span.
    for low, high, unit, label in _UNIT_GUESSES:
        if low <= extent <= high:
            log.info("%s: skeleton extent %.3g units, assuming %s", name or "BVH", extent, label)
            return unit
    raise BVHParseError(
        f"{name or 'BVH'}: cannot tell the length unit from a skeleton extent of {extent:.4g}; "
        "pass metres_per_unit"
    )

