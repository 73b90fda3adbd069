"""The CLI as a user meets it: help everywhere, real outputs, clear errors with exit code 2."""

import json
import subprocess
import sys

import pytest
import trimesh
from typer.testing import CliRunner

from avatar3d.cli import app

runner = CliRunner()
COMMANDS = [["doctor"], ["body"], ["create"], ["animate"], ["bench"], ["bench", "body"], ["bench", "fit"],
            ["bench", "raster"], ["bench", "motion"], ["bench", "demo"], ["bench", "encoder"], ["train"], ["train", "encoder"]]


def run(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "avatar3d.cli", *args], capture_output=True, text=True, timeout=timeout)


def test_top_level_help_lists_only_implemented_commands():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for name in ("doctor", "body", "create", "animate", "bench", "train"):
        assert name in result.output
    for unimplemented in ("encode",):
        assert f" {unimplemented} " not in result.output


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_help_on_every_command(command):
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_body_export_writes_a_mesh_of_the_asked_height(tmp_path):
    out = tmp_path / "body.obj"
    result = run("body", "--height", "1.72", "-o", str(out))
    assert result.returncode == 0, result.stderr
    mesh = trimesh.load(out, process=False)
    assert mesh.bounds[0][1] == pytest.approx(0.0, abs=1e-3)
    assert mesh.bounds[1][1] - mesh.bounds[0][1] == pytest.approx(1.72, abs=0.005)
    assert "1.720 m" in result.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["--height", "3.5"], "height must be within"),
        (["--gender", "1.5"], "gender must be in [0, 1], got 1.5"),
        (["--rig", "unreal"], "rig must be one of"),
        (["--model", "smpl"], "body model must be one of"),
        (["-o", "body.fbx"], "unsupported output format '.fbx'"),
    ],
)
def test_body_bad_input_is_a_clear_error(tmp_path, args, message):
    args = [a if a != "body.fbx" else str(tmp_path / a) for a in args]
    if "-o" not in args:
        args += ["-o", str(tmp_path / "b.glb")]
    result = run("body", *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert not any(tmp_path.iterdir())  # nothing half-written


def test_smplx_without_files_says_where_to_get_them(tmp_path, monkeypatch):
    monkeypatch.delenv("AVATAR3D_SMPLX_DIR", raising=False)
    result = run("body", "--model", "smplx", "--smplx-dir", str(tmp_path / "none"), "-o", str(tmp_path / "b.glb"))
    assert result.returncode == 2
    assert "smpl-x.is.tue.mpg.de" in result.stderr and "AVATAR3D_SMPLX_DIR" in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_option_is_a_usage_error():
    result = run("body", "--heigth", "1.8")
    assert result.returncode == 2
    assert "No such option" in result.stderr


def test_doctor_reports_backends_and_gpu():
    result = run("doctor")
    assert result.returncode == 0, result.stderr
    for key in ("torch", "anny", "body: anny", "body: smplx", "rasteriser", "anny cache", "gpu"):
        assert any(line.startswith(key) for line in result.stdout.splitlines()), key


def test_bench_body_prints_one_json_line_last():
    result = run("bench", "body", "--repeats", "3", timeout=600)
    assert result.returncode == 0, result.stderr
    last = json.loads(result.stdout.strip().splitlines()[-1])
    assert last["bench"] == "body"
    assert last["anny_b1_fwd_ms"] > 0 and last["anny_direct_b16_fwd_ms"] > 0
    assert "max_ratio" in last and "pass" in last
