"""`avatar3d animate` as a user meets it: the DESIGN.md section-4 contract and bad input."""

import json
import subprocess
import sys

import imageio
import numpy as np
import pygltflib
import pytest

from avatar3d.core.joints import SMPL22
from tests.helpers.gltf_validator import errors_of, validate


def run(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "avatar3d.cli", *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def walked(tmp_path_factory):
    out = tmp_path_factory.mktemp("animate") / "walk"
    result = run("animate", "-p", "walk forward 2 meters then turn left 90 degrees", "-o", str(out))
    assert result.returncode == 0, result.stderr
    return out


def test_outputs_follow_the_contract(walked):
    assert {p.name for p in walked.iterdir()} == {"motion.npz", "plan.json", "motion.bvh", "animation.mp4", "avatar.glb"}
    data = np.load(walked / "motion.npz")
    names = [str(n) for n in data["joint_names"]]
    assert set(SMPL22) <= set(names)
    joints = data["joints"]
    assert joints.dtype == np.float32 and joints.ndim == 3 and joints.shape[1:] == (len(names), 3)
    fps = float(data["fps"])
    pelvis = joints[:, names.index("pelvis")]
    # starts near the origin facing +Z: the left hip is on +X at frame 0
    assert np.linalg.norm(pelvis[0, [0, 2]]) < 0.05
    assert joints[0, names.index("left_hip"), 0] > joints[0, names.index("right_hip"), 0]
    # walks 2 m forward (+Z) before turning
    assert 1.7 < pelvis[:, 2].max() < 2.4
    # the turn: the hip line ends up rotated by ~90 degrees to the left (counter-clockwise from above)
    hips = joints[-1, names.index("left_hip")] - joints[-1, names.index("right_hip")]
    heading = np.degrees(np.arctan2(-hips[2], hips[0]))
    assert 65 < heading < 115
    plan = json.loads((walked / "plan.json").read_text())
    actions = [step["action"] for group in plan["groups"] for step in group["steps"]]
    assert actions[:2] == ["walk", "turn"]
    # the video lasts as long as the motion
    reader = imageio.get_reader(walked / "animation.mp4")
    frames = sum(1 for _ in reader)
    assert reader.get_meta_data()["fps"] == pytest.approx(fps)
    assert abs(frames - joints.shape[0]) <= 1
    text = (walked / "motion.bvh").read_text()
    assert text.startswith("HIERARCHY") and f"Frames: {joints.shape[0]}" in text


def test_animated_glb_is_valid(walked):
    report = validate(walked / "avatar.glb")
    assert report["issues"]["numErrors"] == 0, errors_of(report)
    gltf = pygltflib.GLTF2.load(str(walked / "avatar.glb"))
    assert len(gltf.animations) == 1 and len(gltf.skins) == 1
    times = gltf.accessors[gltf.animations[0].samplers[0].input]
    data = np.load(walked / "motion.npz")
    assert times.max[0] == pytest.approx((data["joints"].shape[0] - 1) / float(data["fps"]), abs=1e-3)


def test_same_seed_same_motion_other_seed_varies(tmp_path):
    runs = {}
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        result = run("animate", "-p", "jump twice", "--seed", str(seed), "-o", str(tmp_path / name))
        assert result.returncode == 0, result.stderr
        runs[name] = np.load(tmp_path / name / "motion.npz")["joints"]
    assert np.array_equal(runs["a"], runs["b"])
    assert runs["a"].shape != runs["c"].shape or not np.allclose(runs["a"], runs["c"])


@pytest.mark.parametrize("prompt, message", [("   ", "empty"), ("🙂🙂🙂", "")])
def test_bad_prompt_is_a_clear_error(tmp_path, prompt, message):
    result = run("animate", "-p", prompt, "-o", str(tmp_path / "out"))
    assert result.returncode == 2
    assert message in result.stderr.lower()
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.slow  # renders the full 60 s capped clip; the caps themselves are unit-tested in tests/motion
def test_absurd_quantities_are_capped_with_a_warning(tmp_path):
    out = tmp_path / "out"
    result = run("animate", "-p", "jump 1000 times", "-o", str(out))
    assert result.returncode == 0, result.stderr
    plan = json.loads((out / "plan.json").read_text())
    assert plan["duration_s"] <= 60.0 + 1e-6
    assert any("1000" in w for w in plan["warnings"])
