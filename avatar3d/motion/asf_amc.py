"""Acclaim ASF (skeleton) / AMC (motion) reader, producing the :class:`MocapClip` of
:mod:`avatar3d.motion.bvh`.

How an ASF skeleton becomes clip joints (the same layout cgspeed's BVH conversions use):

* Each ASF bone becomes one joint placed at the bone's **start** (its parent bone's end); the
  root is a joint of its own at ``:root position``.  ``offsets[j]`` is the parent bone's
  ``direction * length`` (world axes at rest, metres); a bone with no children gets its own
  ``direction * length`` as an End Site.
* A bone's rotation is ``C @ E @ C.T`` with ``C`` the bone's ``axis`` frame and ``E`` the
  product of its ``dof`` rotations; both follow the ``axis`` order string, where ``XYZ`` means
  X is applied first, i.e. ``Rz @ Ry @ Rx`` (the CMU viewer's convention).  In the clip, the
  rotation channels are listed in matrix-product order (``Zrotation Yrotation Xrotation``, the
  BVH rule) and ``axes[j] = C``.
* Units: the ASF ``:units length L`` scale means file lengths are inches * ``L`` (CMU:
  ``L = 0.45``, so 1 unit = 1/0.45 in = 0.0564 m); ``angle deg|rad``.  AMC files carry no
  frame rate: CMU captures are 120 fps unless told otherwise.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from avatar3d.motion.bvh import MocapClip, axis_rotations

log = logging.getLogger(__name__)

INCH_M = 0.0254
#: CMU captures are 120 fps; AMC files do not say.
DEFAULT_AMC_FPS = 120.0
_DOF_AXES = {"rx": "X", "ry": "Y", "rz": "Z", "tx": "X", "ty": "Y", "tz": "Z"}


class ASFParseError(ValueError):
    """An ASF or AMC file that does not follow the format (the message says where)."""


@dataclass(frozen=True)
class ASFBone:
    """One ASF bone (lengths in file units, angles in degrees, world axes at rest).

    Attributes:
        name: bone name.
        direction: ``[3]`` unit direction of the bone at rest.
        length: bone length (file units).
        axis: ``[3]`` Euler angles of the bone's local frame (degrees).
        axis_order: e.g. ``"XYZ"`` (X applied first).
        dof: degrees of freedom in AMC value order, e.g. ``("rx", "ry", "rz")``.
    """

    name: str
    direction: np.ndarray
    length: float
    axis: np.ndarray
    axis_order: str
    dof: tuple[str, ...]


@dataclass(frozen=True)
class ASFSkeleton:
    """A parsed ASF file.

    Attributes:
        name: skeleton name.
        length_scale: ``:units length`` (file lengths = inches * scale).
        angle_unit: "deg" or "rad".
        root_order: the root's AMC channel order, e.g. ``("TX", "TY", "TZ", "RX", "RY", "RZ")``.
        root_axis_order: the root rotation order (``"XYZ"``: X applied first).
        root_position: ``[3]`` (file units).
        root_orientation: ``[3]`` Euler angles (file angle unit).
        bones: the bones by name.
        children: ``{parent name: [child names]}`` from ``:hierarchy`` ("root" included).
    """

    name: str
    length_scale: float
    angle_unit: str
    root_order: tuple[str, ...]
    root_axis_order: str
    root_position: np.ndarray
    root_orientation: np.ndarray
    bones: dict[str, ASFBone]
    children: dict[str, list[str]]

    @property
    def metres_per_unit(self) -> float:
        return INCH_M / self.length_scale


def _lines(text: str) -> list[str]:
    out = []
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line = line.split("#", 1)[0].strip()
        if line:
            out.append(line)
    return out


def parse_asf(text: str, name: str = "") -> ASFSkeleton:
    """Parse ASF text (see the module docstring for the conventions)."""
    lines = _lines(text)
    section = None
    length_scale, angle_unit = 1.0, "deg"
    root_order: tuple[str, ...] = ("TX", "TY", "TZ", "RX", "RY", "RZ")
    root_axis_order = "XYZ"
    root_position = np.zeros(3)
    root_orientation = np.zeros(3)
    bones: dict[str, ASFBone] = {}
    children: dict[str, list[str]] = {}
    current: dict | None = None
    skel_name = name
    for n, line in enumerate(lines):
        words = line.split()
        key = words[0]
        if key.startswith(":"):
            section = key[1:].lower()
            if section == "name" and len(words) > 1:
                skel_name = words[1]
            if section in ("units", "root", "bonedata", "hierarchy", "documentation"):
                continue
            continue
        if section == "units":
            if key == "length":
                length_scale = float(words[1])
            elif key == "angle":
                angle_unit = words[1].lower()[:3]
        elif section == "root":
            if key == "order":
                root_order = tuple(w.upper() for w in words[1:])
            elif key == "axis":
                root_axis_order = words[1].upper()
            elif key == "position":
                root_position = np.array([float(w) for w in words[1:4]])
            elif key == "orientation":
                root_orientation = np.array([float(w) for w in words[1:4]])
        elif section == "bonedata":
            if key == "begin":
                current = {"dof": ()}
            elif key == "end":
                if current is None or "name" not in current:
                    raise ASFParseError(f"{name or 'ASF'}: bone block without a name before line {n}")
                direction = np.asarray(current.get("direction", np.zeros(3)), dtype=np.float64)
                norm = np.linalg.norm(direction)
                bones[current["name"]] = ASFBone(
                    name=current["name"],
                    direction=direction / norm if norm > 0 else direction,
                    length=float(current.get("length", 0.0)),
                    axis=np.asarray(current.get("axis", np.zeros(3)), dtype=np.float64),
                    axis_order=current.get("axis_order", "XYZ"),
                    dof=current["dof"],
                )
                current = None
            elif current is not None:
                if key == "name":
                    current["name"] = words[1]
                elif key == "direction":
                    current["direction"] = [float(w) for w in words[1:4]]
                elif key == "length":
                    current["length"] = float(words[1])
                elif key == "axis":
                    current["axis"] = [float(w) for w in words[1:4]]
                    current["axis_order"] = words[4].upper() if len(words) > 4 else "XYZ"
                elif key == "dof":
                    dof = tuple(w.lower() for w in words[1:])
                    bad = [d for d in dof if d not in _DOF_AXES and d != "l"]
                    if bad:
                        raise ASFParseError(f"{name or 'ASF'}: bone {current.get('name')!r} has unknown dof {bad}")
                    current["dof"] = dof
        elif section == "hierarchy":
            if key in ("begin", "end"):
                continue
            children.setdefault(words[0], []).extend(words[1:])
    if not bones:
        raise ASFParseError(f"{name or 'ASF'}: no :bonedata")
    known = set(bones) | {"root"}
    for parent, kids in children.items():
        unknown = [k for k in [parent, *kids] if k not in known]
        if unknown:
            raise ASFParseError(f"{name or 'ASF'}: :hierarchy names unknown bones {unknown}")
    if angle_unit not in ("deg", "rad"):
        raise ASFParseError(f"{name or 'ASF'}: angle unit must be deg or rad, got {angle_unit!r}")
    return ASFSkeleton(
        name=skel_name,
        length_scale=length_scale,
        angle_unit=angle_unit,
        root_order=root_order,
        root_axis_order=root_axis_order,
        root_position=root_position,
        root_orientation=root_orientation,
        bones=bones,
        children=children,
    )


def read_asf(path: str | Path) -> ASFSkeleton:
    path = Path(path)
    return parse_asf(path.read_text(encoding="utf-8", errors="replace"), name=path.stem)


def parse_amc(text: str, name: str = "") -> list[dict[str, list[float]]]:
    """Frames of an AMC file: one ``{bone: values}`` dict per frame, values in file order."""
    frames: list[dict[str, list[float]]] = []
    current: dict[str, list[float]] | None = None
    for line in _lines(text):
        if line.startswith(":"):
            continue
        words = line.split()
        if len(words) == 1 and words[0].isdigit():
            current = {}
            frames.append(current)
            continue
        if current is None:
            raise ASFParseError(f"{name or 'AMC'}: bone values before the first frame number: {line[:40]!r}")
        try:
            current[words[0]] = [float(w) for w in words[1:]]
        except ValueError:
            raise ASFParseError(f"{name or 'AMC'}: frame {len(frames)}: non-numeric values in {line[:60]!r}") from None
    if not frames:
        raise ASFParseError(f"{name or 'AMC'}: no frames")
    return frames


def _euler_matrix(angles_deg: np.ndarray, order: str) -> np.ndarray:
    """``[3, 3]`` for axis angles (x, y, z) applied in ``order`` (first letter first)."""
    m = np.eye(3)
    for axis in order:
        m = axis_rotations(axis, np.deg2rad(angles_deg[_AXIS_POS[axis]])) @ m
    return m


_AXIS_POS = {"X": 0, "Y": 1, "Z": 2}


def asf_amc_to_clip(
    skeleton: ASFSkeleton,
    frames: list[dict[str, list[float]]],
    *,
    fps: float = DEFAULT_AMC_FPS,
    metres_per_unit: float | None = None,
    name: str = "",
) -> MocapClip:
    """Combine a parsed ASF and AMC into a :class:`MocapClip` (see the module docstring)."""
    unit = skeleton.metres_per_unit if metres_per_unit is None else metres_per_unit
    to_deg = 1.0 if skeleton.angle_unit == "deg" else 180.0 / np.pi
    # Depth-first order from the root, so parents precede children.
    order: list[tuple[str, int]] = []
    stack = [("root", -1)]
    while stack:
        bone, parent = stack.pop()
        index = len(order)
        order.append((bone, parent))
        for child in reversed(skeleton.children.get(bone, [])):
            stack.append((child, index))
    names = tuple(b for b, _ in order)
    parents = tuple(p for _, p in order)
    j = len(names)
    offsets = np.zeros((j, 3))
    axes = np.broadcast_to(np.eye(3), (j, 3, 3)).copy()
    end_sites: dict[int, np.ndarray] = {}
    channels: list[tuple[str, ...]] = []
    # Each column of the clip's value matrix is (bone, index into its AMC values, scale).
    columns: list[tuple[str, int, float]] = []
    for i, (bone, parent) in enumerate(order):
        if bone == "root":
            # AMC root translations are absolute; the ASF position only places a still root.
            has_translation = any(c.startswith("T") for c in skeleton.root_order)
            offsets[i] = 0.0 if has_translation else skeleton.root_position * unit
            axes[i] = _euler_matrix(skeleton.root_orientation * to_deg, skeleton.root_axis_order)
            ch = []
            for axis in "XYZ":
                if f"T{axis}" in skeleton.root_order:
                    ch.append(f"{axis}position")
                    columns.append(("root", skeleton.root_order.index(f"T{axis}"), unit))
            for axis in reversed(skeleton.root_axis_order):
                if f"R{axis}" in skeleton.root_order:
                    ch.append(f"{axis}rotation")
                    columns.append(("root", skeleton.root_order.index(f"R{axis}"), to_deg))
            channels.append(tuple(ch))
            continue
        b = skeleton.bones[bone]
        parent_name = names[parent]
        if parent_name != "root":
            pb = skeleton.bones[parent_name]
            offsets[i] = pb.direction * pb.length * unit
        if not skeleton.children.get(bone):
            end_sites[i] = b.direction * b.length * unit
        axes[i] = _euler_matrix(b.axis * to_deg, b.axis_order)
        if any(d in ("tx", "ty", "tz", "l") for d in b.dof):
            raise ASFParseError(f"bone {bone!r}: translation/length dofs {b.dof} are not supported")
        ch = []
        for axis in reversed(b.axis_order):
            dof = f"r{axis.lower()}"
            if dof in b.dof:
                ch.append(f"{axis}rotation")
                columns.append((bone, b.dof.index(dof), to_deg))
        channels.append(tuple(ch))

    values = np.zeros((len(frames), len(columns)))
    for t, frame in enumerate(frames):
        for c, (bone, k, scale) in enumerate(columns):
            vals = frame.get(bone)
            if vals is None:
                raise ASFParseError(f"{name or 'AMC'}: frame {t + 1} has no values for bone {bone!r}")
            values[t, c] = vals[k] * scale
    return MocapClip(
        names=names,
        parents=parents,
        offsets=offsets,
        channels=tuple(channels),
        values=values,
        fps=float(fps),
        end_sites=end_sites,
        axes=axes,
        name=name,
        metres_per_unit=unit,
    )


def read_asf_amc(
    asf_path: str | Path,
    amc_path: str | Path,
    *,
    fps: float = DEFAULT_AMC_FPS,
    metres_per_unit: float | None = None,
) -> MocapClip:
    """Read an ASF skeleton and an AMC motion into a :class:`MocapClip` named by the AMC stem.

    Args:
        asf_path, amc_path: the files (CMU: ``SUBJ.asf`` with ``SUBJ_TRIAL.amc``).
        fps: the capture rate (AMC does not store it; CMU: 120).
        metres_per_unit: override the unit taken from the ASF ``:units length``.
    """
    skeleton = read_asf(asf_path)
    amc_path = Path(amc_path)
    frames = parse_amc(amc_path.read_text(encoding="utf-8", errors="replace"), name=amc_path.stem)
    return asf_amc_to_clip(skeleton, frames, fps=fps, metres_per_unit=metres_per_unit, name=amc_path.stem)
