"""Video rendering (following camera, ground, texture) and the MP4 writer, on a synthetic
'character' (a textured box walking 5 m along +Z)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from avatar3d.render.video import (
    VideoConfig, follow_camera, ground_tiles, iter_render_animation, render_animation, write_mp4,
)

SIZE = 128
FPS = 30.0
T = 30


def box(width=0.5, height=1.7, depth=0.3):
    """A box standing on y = 0 (vertices [8, 3], outward faces [12, 3]) with UVs."""
    x, y, z = width / 2, height, depth / 2
    v = torch.tensor([[-x, 0, -z], [x, 0, -z], [x, y, -z], [-x, y, -z], [-x, 0, z], [x, 0, z], [x, y, z], [-x, y, z]])
    f = torch.tensor([[0, 2, 1], [0, 3, 2], [4, 5, 6], [4, 6, 7], [0, 1, 5], [0, 5, 4],
                      [3, 7, 6], [3, 6, 2], [1, 2, 6], [1, 6, 5], [0, 4, 7], [0, 7, 3]])
    uvs = torch.tensor([[0.1, 0.1], [0.9, 0.1], [0.9, 0.9]])
    face_uvs = torch.tensor([[0, 1, 2]]).expand(12, 3).clone()
    return v.float(), f, uvs, face_uvs


@pytest.fixture(scope="module")
def walk_frames():
    v, f, uvs, face_uvs = box()
    offsets = torch.zeros(T, 1, 3)
    offsets[:, 0, 2] = torch.linspace(0.0, 5.0, T)
    return v[None] + offsets, f, uvs, face_uvs


def red_mask(frames: np.ndarray) -> np.ndarray:
    f = frames.astype(int)
    return (f[..., 0] - f[..., 1] > 60) & (f[..., 0] - f[..., 2] > 60)


def test_render_shows_the_character_centred_over_a_checker_ground(walk_frames):
    verts, faces, uvs, face_uvs = walk_frames
    red = torch.zeros(8, 8, 3)
    red[..., 0] = 0.9
    frames = render_animation(verts, faces, uvs, face_uvs, red, FPS, size=SIZE)
    assert frames.shape == (T, SIZE, SIZE, 3) and frames.dtype == np.uint8
    mask = red_mask(frames)
    counts = mask.reshape(T, -1).sum(1)
    assert counts.min() > 0.03 * SIZE * SIZE  # the character is visible in every frame
    rows, cols = np.mgrid[:SIZE, :SIZE]
    for k in (0, T // 2, T - 1):  # the camera follows it over the 5 m
        cy, cx = rows[mask[k]].mean(), cols[mask[k]].mean()
        assert abs(cx - SIZE / 2) < 0.15 * SIZE and abs(cy - SIZE / 2) < 0.2 * SIZE
    # the ground: light and dark grey checker squares in the lower part of the image
    low = frames[:, int(0.75 * SIZE):].astype(int).reshape(-1, 3)
    low = low[~red_mask(low[None])[0]]
    grey = np.abs(low[:, 0] - low[:, 2]) < 30
    value = low[grey].mean(1)
    assert (value > 150).mean() > 0.1 and (value < 140).mean() > 0.1
    # the sky at the top differs from the ground
    assert frames[:, 0].astype(int)[..., 2].mean() > frames[:, 0].astype(int)[..., 0].mean() + 15  # bluish


def test_untextured_render_differs_only_on_the_character(walk_frames):
    verts, faces, uvs, face_uvs = walk_frames
    red = torch.zeros(8, 8, 3)
    red[..., 0] = 0.9
    config = VideoConfig(batch_frames=4)
    textured = render_animation(verts[::6], faces, uvs, face_uvs, red, FPS, size=SIZE, config=config)
    plain = render_animation(verts[::6], faces, None, None, None, FPS, size=SIZE, config=config)
    body = red_mask(textured)
    changed = np.abs(textured.astype(int) - plain.astype(int)).max(-1) > 40
    assert body.sum() > 0 and not red_mask(plain).any()
    iou = (body & changed).sum() / (body | changed).sum()
    assert iou > 0.85


def test_follow_camera_keeps_the_whole_body_in_frame(walk_frames):
    verts = walk_frames[0]
    cams = follow_camera(verts, FPS, SIZE)
    # the target follows the body (a uniform walk: zero-phase smoothing has no lag mid-clip)
    centre_z = 0.5 * (verts[:, :, 2].amin(1) + verts[:, :, 2].amax(1))
    assert torch.allclose(cams.targets[T // 2, 2].float(), centre_z[T // 2], atol=0.02)
    # same distance and viewing direction all along
    eye = -(cams.R.transpose(1, 2) @ cams.t[..., None])[..., 0]
    dist = (eye - cams.targets).norm(dim=-1)
    assert float(dist.max() - dist.min()) < 1e-6 and torch.allclose(cams.R, cams.R[:1].expand_as(cams.R), atol=1e-9)
    cam_pts = verts.double() @ cams.R.transpose(1, 2) + cams.t[:, None]
    uv = (cam_pts @ cams.K.T)[..., :2] / cam_pts[..., 2:]
    assert float(uv.min()) > 0 and float(uv.max()) < SIZE


def test_ground_tiles_checker_covers_the_path():
    path = torch.stack((torch.zeros(50), torch.linspace(0.0, 10.0, 50)), -1)
    config = VideoConfig()
    vertices, faces, dark = ground_tiles(path, config)
    assert faces.shape[0] == 2 * dark.shape[0] and vertices.shape[0] == 4 * dark.shape[0]
    assert bool((vertices[:, 1] == 0).all())
    assert 0.3 < float(dark.float().mean()) < 0.7
    xz = vertices[:, [0, 2]]
    assert float(xz[:, 1].min()) <= -config.fog_end_m and float(xz[:, 1].max()) >= 10 + config.fog_end_m
    # tiles far from the path are dropped (a corridor, not the bounding square of a long walk)
    far = torch.cdist(xz.double(), path.double()).amin(1) > config.fog_end_m + 3 * config.checker_m
    assert not bool(far.any())


def test_write_mp4_round_trip(tmp_path):
    import imageio.v2 as imageio

    frames = np.zeros((45, 64, 96, 3), np.uint8)
    frames[..., 1] = np.linspace(0, 255, 96, dtype=np.uint8)[None, None, :]
    frames[:, :, :, 0] = (np.arange(45) * 5)[:, None, None]
    path = write_mp4(frames, FPS, tmp_path / "clip.mp4")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]  # no temporary left behind
    reader = imageio.get_reader(str(path), format="FFMPEG")
    try:
        meta = reader.get_meta_data()
        assert reader.count_frames() == 45 and meta["fps"] == pytest.approx(FPS)
        assert tuple(meta["size"]) == (96, 64) and meta["codec"] == "h264" and meta["pix_fmt"].startswith("yuv420p")
        back = reader.get_data(40).astype(int)
    finally:
        reader.close()
    assert np.abs(back - frames[40].astype(int)).mean() < 6


def test_write_mp4_streams_batches_and_rejects_bad_frames(walk_frames, tmp_path):
    import imageio.v2 as imageio

    verts, faces, _, _ = walk_frames
    batches = iter_render_animation(verts[:10], faces, fps=24.0, size=64, config=VideoConfig(batch_frames=4))
    path = write_mp4(batches, 24.0, tmp_path / "stream.mp4")
    reader = imageio.get_reader(str(path), format="FFMPEG")
    try:
        assert reader.count_frames() == 10 and reader.get_meta_data()["fps"] == pytest.approx(24.0)
    finally:
        reader.close()
    with pytest.raises(ValueError, match="even"):
        write_mp4(np.zeros((2, 63, 64, 3), np.uint8), FPS, tmp_path / "odd.mp4")
    with pytest.raises(ValueError, match="uint8"):
        write_mp4(np.zeros((2, 64, 64, 3), np.float32), FPS, tmp_path / "float.mp4")
    assert not (tmp_path / "odd.mp4").exists() and not (tmp_path / "float.mp4").exists()
    with pytest.raises(ValueError, match="even"):
        render_animation(verts[:2], faces, size=63)
