"""End to end in a real browser: headless Chromium (Debian's, driven by Playwright) with its fake
camera and microphone fed from files, against the real server on the real models."""

import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path

import av
import pytest
import uvicorn
from PIL import Image

from omnilive.server.app import create_app
from helpers import mix, write_wav

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def camera_file(photo: Path, dst: Path, seconds: int = 4, fps: int = 5) -> Path:
    """A real photo held in front of the camera: the y4m that Chromium's fake camera plays."""
    image = Image.open(photo).convert("RGB").resize((320, 240))
    with av.open(str(dst), "w", format="yuv4mpegpipe") as out:
        stream = out.add_stream("rawvideo", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        for _ in range(seconds * fps):
            out.mux(stream.encode(av.VideoFrame.from_image(image).reformat(format="yuv420p")))
        out.mux(stream.encode(None))
    return dst


@pytest.fixture(scope="module")
def server(settings, models):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(create_app(settings, models), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.time() + 60
    while not srv.started and time.time() < deadline:
        time.sleep(0.1)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(10)


def test_spoken_question_in_the_browser_gets_a_grounded_spoken_answer(server, models, evaldata):
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian chromium is required for the browser test: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    tmp = Path(tempfile.mkdtemp())
    cam = camera_file(evaldata / "images/img_skimage_chelsea.png", tmp / "cam.y4m")
    mic = write_wav(tmp / "mic.wav", mix(14.0, [(9.0, models.tts.synthesize("What animal did you see?"))]))
    args = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-video-capture={cam}", f"--use-file-for-fake-audio-capture={mic}",
            "--autoplay-policy=no-user-gesture-required", "--no-sandbox", "--disable-gpu",
            "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"]
    with sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(str(tmp / "profile"), executable_path=CHROMIUM,
                                                   headless=True, args=args)
        try:
            page = ctx.new_page()
            page.goto(server)
            page.click("#start")
            page.wait_for_function("document.querySelector('#transcript').innerText.includes('animal')",
                                   timeout=60_000)
            page.wait_for_function("document.querySelector('#answer').innerText.trim().length > 0", timeout=60_000)
            page.wait_for_function("(window.omniliveAudio || {}).chunks > 0", timeout=30_000)
            answer = page.inner_text("#answer").lower()
            seen = page.eval_on_selector_all("#timeline figcaption", "els => els.map(e => e.innerText)")
            page.click("#stop")
        finally:
            ctx.close()
    assert seen, "no memory clip reached the page"
    assert "cat" in answer, (answer, seen)  # the camera showed a cat; the answer says so
