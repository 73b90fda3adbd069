from dataclasses import dataclass, field

import pytest

from avatar3d.config import BodyExportConfig, ConfigError, load_config, save_config


@dataclass(frozen=True)
class Inner:
    steps: int = 10
    rate: float = 0.1


@dataclass(frozen=True)
class Outer:
    name: str = "x"
    inner: Inner = field(default_factory=Inner)
    maybe: float | None = None


def test_defaults_then_file_then_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("name: y\ninner:\n  steps: 20\n")
    cfg = load_config(Outer, path, {"inner": {"rate": 0.5}})
    assert cfg == Outer(name="y", inner=Inner(steps=20, rate=0.5))


def test_unknown_key_names_key_and_file(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("inner:\n  stepz: 3\n")
    with pytest.raises(ConfigError, match=r"unknown config key\(s\) inner.stepz in .*c.yaml") as info:
        load_config(Outer, path)
    assert "steps" in str(info.value)  # says what the valid keys are


def test_wrong_types_are_errors(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("inner:\n  steps: many\n")
    with pytest.raises(ConfigError, match=r"inner.steps .* must be int, got 'many'"):
        load_config(Outer, path)
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_config(Outer, None, {"inner": 3})
    # ints are accepted for floats, None for optionals
    assert load_config(Outer, None, {"inner": {"rate": 1}, "maybe": None}).inner.rate == 1.0


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(Outer, tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(Outer, bad)
    listing = tmp_path / "list.yaml"
    listing.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="must hold a mapping"):
        load_config(Outer, listing)


def test_resolved_config_round_trips(tmp_path):
    cfg = load_config(BodyExportConfig, None, {"height_m": 1.7, "body": {"rig": "mixamo"}})
    save_config(cfg, tmp_path / "resolved.yaml")
    assert load_config(BodyExportConfig, tmp_path / "resolved.yaml") == cfg


def test_shipped_configs_load():
    from pathlib import Path

    files = sorted((Path(__file__).resolve().parents[1] / "configs" / "body").glob("*.yaml"))
    assert files
    for path in files:
        cfg = load_config(BodyExportConfig, path)
        assert isinstance(cfg, BodyExportConfig)


def test_invalid_choice_inside_nested_config():
    with pytest.raises(ConfigError, match="rig must be one of"):
        load_config(BodyExportConfig, None, {"body": {"rig": "unreal"}})
