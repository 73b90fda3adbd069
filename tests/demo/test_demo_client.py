"""Drive the running demo as a script would, with ``gradio_client`` (offline, local port)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers.gltf_validator import errors_of, validate

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client, handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
FULLBODY = ROOT / "assets" / "samples" / "person_fullbody.png"
PROMPT = "jump twice"


@pytest.fixture(scope="module")
def client(demo_url, tmp_path_factory):
    return Client(demo_url, verbose=False, download_files=str(tmp_path_factory.mktemp("downloads")))


def mp4_duration_s(path: str | Path) -> float:
    import cv2

    cap = cv2.VideoCapture(str(path))
    try:
        assert cap.isOpened(), f"cannot open {path}"
        frames, fps = cap.get(cv2.CAP_PROP_FRAME_COUNT), cap.get(cv2.CAP_PROP_FPS)
    finally:
        cap.release()
    assert frames > 0 and fps > 0
    return frames / fps


def check_glb(path: str | Path, animated: bool) -> None:
    report = validate(path)
    assert report["issues"]["numErrors"] == 0, errors_of(report)
    info = report.get("info", {})
    if animated:
        assert info.get("animationCount", 0) >= 1


@pytest.fixture(scope="module")
def created(client):
    return client.predict(handle_file(str(FULLBODY)), "petite young woman", PROMPT, "anny", api_name="/create")


def test_api_lists_create_and_animate(client):
    api = client.view_api(print_info=False, return_format="dict")
    create = api["named_endpoints"]["/create"]
    assert [p["label"] for p in create["parameters"]][:1] and len(create["parameters"]) == 4
    assert len(create["returns"]) == 3
    assert "/animate" in api["named_endpoints"]


def test_create_from_a_bundled_photo(created):
    glb, mp4, report = created
    check_glb(glb, animated=True)
    assert report["description"] == "petite young woman" and report["prompt"] == PROMPT
    assert 0.0 <= report["fit"]["silhouette_iou"] <= 1.0 and report["fit"]["keypoint_error_px"]
    assert mp4 is not None, "no MP4 came back"
    video = mp4["video"] if isinstance(mp4, dict) else mp4
    assert report["duration_s"] and abs(mp4_duration_s(video) - report["duration_s"]) < 0.25


def test_reanimate_without_refitting(client, created):
    glb, mp4, plan = client.predict("turn around", 0, api_name="/animate")
    assert plan["avatar"] == "yours" and plan["prompt"] == "turn around"
    check_glb(glb, animated=True)
    video = mp4["video"] if isinstance(mp4, dict) else mp4
    assert abs(mp4_duration_s(video) - plan["duration_s"]) < 0.25


def test_corrupt_upload_gives_a_readable_error(client, tmp_path):
    bad = tmp_path / "photo.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"this is not really a png" * 20)
    with pytest.raises(AppError) as caught:
        client.predict(handle_file(str(bad)), "", "wave", "anny", api_name="/create")
    message = str(caught.value)
    assert "photo.png" in message and "Traceback" not in message and "/tmp" not in message
    assert "upstream Gradio app has raised an exception" not in message


def test_a_pdf_is_refused_by_type(client, tmp_path):
    bad = tmp_path / "scan.jpg"
    bad.write_bytes(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj <<>> endobj\n" * 4)
    with pytest.raises(AppError, match="PDF"):
        client.predict(handle_file(str(bad)), "", "wave", "anny", api_name="/create")


def test_uploads_are_limited_in_size(client, tmp_path):
    big = tmp_path / "huge.png"
    big.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(16 * 2**20))  # over the demo's 15 MB limit
    with pytest.raises(Exception, match="(?i)size|large|413"):
        client.predict(handle_file(str(big)), "", "wave", "anny", api_name="/create")


def test_no_path_from_the_user_reaches_the_filesystem(demo_url):
    """A hand-made request naming a server file (gradio_client would upload it; raw HTTP does not)."""
    import httpx

    config = httpx.get(demo_url + "config", timeout=30).json()
    fn_index = next(d["id"] for d in config["dependencies"] if d.get("api_name") == "create")
    forged = {"path": "/etc/passwd", "meta": {"_type": "gradio.FileData"}, "orig_name": "photo.png"}
    session = "forgedpath01"
    joined = httpx.post(demo_url + "gradio_api/queue/join", timeout=30,
                        json={"data": [forged, "", "wave", "anny", None], "fn_index": fn_index, "session_hash": session})
    assert joined.status_code == 200
    done = None
    with httpx.stream("GET", demo_url + "gradio_api/queue/data", params={"session_hash": session}, timeout=60) as events:
        for line in events.iter_lines():
            if line.startswith("data:") and "process_completed" in line:
                done = json.loads(line[5:])
                break
    assert done is not None and done["success"] is False
    assert "root:" not in json.dumps(done)
