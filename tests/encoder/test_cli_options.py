"""The encoder's command-line surface: create --describe / --no-encoder, train and bench encoder."""

from typer.testing import CliRunner

from avatar3d.cli import app
from avatar3d.config import CreateConfig, load_config

runner = CliRunner()


def test_create_has_describe_and_no_encoder_options():
    out = runner.invoke(app, ["create", "--help"], terminal_width=200).output
    assert "--describe" in out and "--no-encoder" in out


def test_train_and_bench_encoder_commands_exist():
    assert "encoder" in runner.invoke(app, ["train", "--help"]).output
    assert "--data" in runner.invoke(app, ["bench", "encoder", "--help"]).output
    assert "--data-cache" in runner.invoke(app, ["train", "encoder", "--help"], terminal_width=200).output


def test_create_config_switches_the_encoder(tmp_path):
    assert CreateConfig().use_encoder is True
    cfg = tmp_path / "c.yaml"
    cfg.write_text("use_encoder: false\nencoder_checkpoint: /nowhere/encoder.pt\n")
    loaded = load_config(CreateConfig, cfg)
    assert loaded.use_encoder is False and loaded.encoder_checkpoint == "/nowhere/encoder.pt"
