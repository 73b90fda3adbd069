"""A small, structurally valid SMPL-X model file for tests (the real files cannot ship).

:func:`write_synthetic_smplx` writes ``SMPLX_NEUTRAL.npz`` with every array the real
``smplx.SMPLX`` loader reads, in the real sizes (10475 vertices, 55 joints, 486 pose-corrective
features, 45-D hand PCA, 51 face landmarks), so the file goes through the unmodified `smplx`
code.  The body is a procedural tube figure in the world frame of DESIGN.md: Y up, facing +Z,
its own left at +X, about 1.75 m tall.  The template is deliberately *not* standing on the
origin (``TEMPLATE_OFFSET``) so that the backend's placement is exercised, as with the real
SMPL-X template, whose pelvis is near the origin.

Design of the arrays:

* ``v_template``: one tube (rings of ``RING_SEGMENTS`` vertices) per bone parent -> child, plus
  a skull tube above the head joint; the SMPL-X face keypoint vertices (nose, eyes, ears at the
  ids in ``smplx.vertex_ids``) are placed on the face, the nose in front (+Z).
* ``J_regressor``: joint j = the mean of the ring centred on it, so the regressed joints sit
  exactly at ``JOINTS`` for zero betas and move with the shape.
* ``weights``: each tube vertex blends its bone's parent joint and child joint (<= 2 influences).
* ``shapedirs``: smooth random linear deformation fields (10 betas + 10 expressions, the
  SMPL-X v1.0 layout; 300 + 100 when more than 10 betas are asked for, the v1.1 layout).
* ``posedirs``: small random pose correctives, so skinning checks see them.
* hand PCA: identity components, zero means.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

NUM_VERTICES = 10475
NUM_JOINTS = 55
RING_SEGMENTS = 10
NUM_LANDMARKS = 51
POSE_FEATURES = (NUM_JOINTS - 1) * 9
#: Where the template's (0, 0, 0) ends up: the template floor is at y = -1.1, not 0.
TEMPLATE_OFFSET = np.array([0.02, -1.1, 0.03])
#: smplx.vertex_ids["smplx"] face keypoints (copied so the fixture documents its placement).
FACE_KEYPOINT_IDS = {"nose": 9120, "reye": 9929, "leye": 9448, "rear": 616, "lear": 6}

# fmt: off
SMPLX_PARENTS = (
    -1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19,  # body (SMPL-22)
    15, 15, 15,                                                                 # jaw, eyes
    20, 25, 26, 20, 28, 29, 20, 31, 32, 20, 34, 35, 20, 37, 38,                 # left hand
    21, 40, 41, 21, 43, 44, 21, 46, 47, 21, 49, 50, 21, 52, 53,                 # right hand
)
_LEFT_BODY = {  # joint index: position of the left-side joint (x > 0); right = mirrored
    1: (0.06, 0.86, 0.0), 4: (0.10, 0.48, 0.01), 7: (0.09, 0.08, -0.03), 10: (0.11, 0.03, 0.09),
    13: (0.07, 1.40, -0.01), 16: (0.17, 1.42, -0.02), 18: (0.43, 1.41, -0.04), 20: (0.68, 1.41, -0.04),
}
_CENTRE = {0: (0.0, 0.94, 0.0), 3: (0.0, 1.05, -0.01), 6: (0.0, 1.18, 0.0), 9: (0.0, 1.25, 0.01),
           12: (0.0, 1.48, -0.02), 15: (0.0, 1.56, 0.02), 22: (0.0, 1.55, 0.06)}
_LEFT_EYE = (0.03, 1.62, 0.08)
# Fingers of the left hand (index, middle, pinky, ring, thumb; SMPL-X order), 3 joints each.
_LEFT_FINGERS = (
    ((0.77, 1.41, 0.01), (0.81, 1.41, 0.01), (0.84, 1.41, 0.01)),
    ((0.77, 1.41, -0.03), (0.82, 1.41, -0.03), (0.85, 1.41, -0.03)),
    ((0.75, 1.41, -0.09), (0.78, 1.41, -0.09), (0.80, 1.41, -0.09)),
    ((0.76, 1.41, -0.06), (0.80, 1.41, -0.06), (0.83, 1.41, -0.06)),
    ((0.70, 1.39, 0.02), (0.73, 1.38, 0.04), (0.76, 1.37, 0.05)),
)
# fmt: on
SKULL_TOP = (0.0, 1.75, 0.02)


def synthetic_joints() -> np.ndarray:
    """``[55, 3]`` rest joint positions (before ``TEMPLATE_OFFSET``): Y up, facing +Z, left +X."""
    j = np.zeros((NUM_JOINTS, 3))
    for i, p in _CENTRE.items():
        j[i] = p
    for i, p in _LEFT_BODY.items():
        j[i] = p
        j[i + 1] = (-p[0], p[1], p[2])
    j[23] = _LEFT_EYE
    j[24] = (-_LEFT_EYE[0], _LEFT_EYE[1], _LEFT_EYE[2])
    for f, finger in enumerate(_LEFT_FINGERS):
        for k, p in enumerate(finger):
            j[25 + 3 * f + k] = p
            j[40 + 3 * f + k] = (-p[0], p[1], p[2])
    return j


def _radius(child: int) -> float:
    if child >= 25:
        return 0.008  # fingers
    if child in (22, 23, 24):
        return 0.01  # jaw, eyes
    if child in (1, 2, 3, 6, 9):
        return 0.12  # hips and torso
    if child in (4, 5, 7, 8):
        return 0.06  # legs
    return 0.04


def _ring_basis(direction: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two unit vectors e1, e2 with e1 x e2 = direction (so ring faces wind outwards)."""
    d = direction / np.linalg.norm(direction)
    helper = np.array([0.0, 0.0, 1.0]) if abs(d[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
    e1 = np.cross(helper, d)
    e1 /= np.linalg.norm(e1)
    return e1, np.cross(d, e1)


def _build_tubes(joints: np.ndarray, num_tube_vertices: int):
    """Tubes for every bone and the skull: positions, faces (local ids), weights, J rings."""
    segments = [(SMPLX_PARENTS[c], c, joints[SMPLX_PARENTS[c]], joints[c], _radius(c)) for c in range(1, NUM_JOINTS)]
    segments.append((15, 15, joints[15], np.array(SKULL_TOP), 0.09))
    total_rings = num_tube_vertices // RING_SEGMENTS
    assert total_rings * RING_SEGMENTS == num_tube_vertices
    lengths = np.array([np.linalg.norm(b - a) for _, _, a, b, _ in segments])
    extra = total_rings - 2 * len(segments)
    share = lengths / lengths.sum() * extra
    rings = 2 + np.floor(share).astype(int)
    for i in np.argsort(-(share - np.floor(share)))[: total_rings - rings.sum()]:
        rings[i] += 1
    theta = np.arange(RING_SEGMENTS) * (2 * np.pi / RING_SEGMENTS)
    positions, faces, weights = [], [], []
    joint_ring: dict[int, np.ndarray] = {}
    start = 0
    for (parent, child, a, b, radius), n in zip(segments, rings):
        e1, e2 = _ring_basis(b - a)
        t = np.linspace(0.0, 1.0, n)
        centres = a[None] + t[:, None] * (b - a)[None]
        offsets = radius * (np.cos(theta)[:, None] * e1 + np.sin(theta)[:, None] * e2)
        positions.append((centres[:, None] + offsets[None]).reshape(-1, 3))
        w = np.zeros((n * RING_SEGMENTS, NUM_JOINTS))
        tt = np.repeat(t, RING_SEGMENTS)
        w[:, parent] += 1.0 - 0.5 * tt
        w[:, child] += 0.5 * tt  # the skull tube (parent == child) stays fully on the head
        weights.append(w)
        ids = start + np.arange(n * RING_SEGMENTS).reshape(n, RING_SEGMENTS)
        a_, b_ = ids[:-1], np.roll(ids[:-1], -1, axis=1)
        c_, d_ = np.roll(ids[1:], -1, axis=1), ids[1:]
        faces.append(np.stack((a_, b_, c_), -1).reshape(-1, 3))
        faces.append(np.stack((a_, c_, d_), -1).reshape(-1, 3))
        joint_ring.setdefault(parent, ids[0])
        if child != parent:
            joint_ring[child] = ids[-1]
        start += n * RING_SEGMENTS
    return np.concatenate(positions), np.concatenate(faces), np.concatenate(weights), joint_ring


def write_synthetic_smplx(directory: Path, num_betas: int = 10, seed: int = 0) -> Path:
    """Write ``directory/SMPLX_NEUTRAL.npz`` (created if needed) and return its path.

    Takes about a second; the file is ~75 MB (the real-size pose correctives), so write it
    under a pytest ``tmp_path``, never into the repository.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    joints = synthetic_joints()
    special = np.array(sorted(FACE_KEYPOINT_IDS.values()))
    tube_ids = np.setdiff1d(np.arange(NUM_VERTICES), special)
    tube_pos, tube_faces, tube_w, joint_ring = _build_tubes(joints, len(tube_ids))

    v = np.zeros((NUM_VERTICES, 3))
    w = np.zeros((NUM_VERTICES, NUM_JOINTS))
    v[tube_ids], w[tube_ids] = tube_pos, tube_w
    head = joints[15]
    face = {
        "nose": (0.0, 1.60, 0.12), "leye": (0.035, 1.64, 0.095), "reye": (-0.035, 1.64, 0.095),
        "lear": (0.085, 1.62, 0.0), "rear": (-0.085, 1.62, 0.0),
    }
    for name, vid in FACE_KEYPOINT_IDS.items():
        v[vid] = face[name]
        w[vid, 15] = 1.0
    assert v[special][:, 1].min() > head[1]
    fk = FACE_KEYPOINT_IDS
    faces = np.concatenate((
        tube_ids[tube_faces],
        np.array([[fk["nose"], fk["leye"], fk["reye"]], [fk["lear"], fk["rear"], fk["nose"]]]),
    )).astype(np.uint32)

    j_regressor = np.zeros((NUM_JOINTS, NUM_VERTICES))
    for j in range(NUM_JOINTS):
        j_regressor[j, tube_ids[joint_ring[j]]] = 1.0 / RING_SEGMENTS

    # Smooth shape space: each component is a random linear field about the body centre.
    num_components = 20 if num_betas <= 10 else 400
    centre = np.array([0.0, 0.9, 0.0])
    fields = rng.normal(scale=0.02, size=(num_components, 3, 3))
    fields[0] = np.diag([0.01, 0.04, 0.01])  # beta0 mostly changes height, as in SMPL-X
    shapedirs = np.einsum("kij,vj->vik", fields, v - centre)

    kintree = np.stack((np.array(SMPLX_PARENTS, dtype=np.int64) % (2**32), np.arange(NUM_JOINTS)))
    data = {
        "v_template": (v + TEMPLATE_OFFSET).astype(np.float64),
        "f": faces,
        "J_regressor": j_regressor,
        "kintree_table": kintree,
        "weights": w,
        "shapedirs": shapedirs,
        "posedirs": (1e-3 * rng.standard_normal((NUM_VERTICES, 3, POSE_FEATURES), dtype=np.float32)),
        "hands_componentsl": np.eye(45),
        "hands_componentsr": np.eye(45),
        "hands_meanl": np.zeros(45),
        "hands_meanr": np.zeros(45),
        "lmk_faces_idx": rng.integers(0, len(faces), NUM_LANDMARKS),
        "lmk_bary_coords": np.full((NUM_LANDMARKS, 3), 1.0 / 3.0),
    }
    path = directory / "SMPLX_NEUTRAL.npz"
    np.savez(path, **data)
    return path
