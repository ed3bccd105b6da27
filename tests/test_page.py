"""The page a person keeps open (issue 11), in a real browser against the real server: it stays
within the viewport with a long memory, typed questions work before Start, a reload brings the
conversation and the timeline back, a stale token and a second tab recover in the page, a killed
and restarted server is reconnected to, and Chinese renders. Screenshots of the main states go to
``$OMNILIVE_SCREENSHOTS`` (default ``.screenshots/`` in the repository)."""

from __future__ import annotations

import hashlib
import os
import socket
import tempfile
import threading
import time
from pathlib import Path

import pytest
import uvicorn
from PIL import Image

from omnilive.memory.store import MemoryStore
from omnilive.runtime.ingest import ingest
from omnilive.server.app import create_app
from omnilive.server.sessions import Tokens
from helpers import load
from test_browser import CHROMIUM, camera_file, pcm_b64

SHOTS = Path(os.environ.get("OMNILIVE_SCREENSHOTS", Path(__file__).resolve().parents[1] / ".screenshots"))
IMAGES = ["img_skimage_chelsea.png", "img_ultralytics_bus.jpg", "img_skimage_coffee.png", "img_skimage_rocket.jpg",
          "img_skimage_astronaut.png", "img_imageio_dinosaurs.jpg", "img_skimage_motorcycle.png", "img_skimage_horse.png"]
WIDE_OK = "document.documentElement.scrollWidth <= window.innerWidth"


class Server:
    """The real app on a fixed port, which a test may kill and start again (same memory on disk)."""

    def __init__(self, settings, models) -> None:
        self.settings, self.models = settings, models
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.start()

    def start(self) -> None:
        self.srv = uvicorn.Server(uvicorn.Config(create_app(self.settings, self.models), host="127.0.0.1",
                                                 port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.srv.run, daemon=True)
        self.thread.start()
        deadline = time.time() + 60
        while not self.srv.started and time.time() < deadline:
            time.sleep(0.05)
        assert self.srv.started, "the server did not start"

    def stop(self) -> None:
        self.srv.should_exit = True
        self.thread.join(30)


@pytest.fixture(scope="module")
def server(settings, models, tmp_path_factory):
    settings = settings.model_copy(update={"memory": settings.memory.model_copy(
        update={"dir": tmp_path_factory.mktemp("page-memory")})})
    srv = Server(settings, models)
    yield srv
    srv.stop()


def fill_memory(server: Server, token: str, evaldata: Path, seconds: int, tmp: Path) -> None:
    """``seconds`` of camera at 1 fps (a different photo every 2 s) ingested through the real
    encoder into the token's memory: a moment every 2 s, as minutes of streaming leave."""
    import av

    video = tmp / "photos.y4m"
    photos = [Image.open(evaldata / "images" / name).convert("RGB").resize((320, 240)) for name in IMAGES]
    with av.open(str(video), "w", format="yuv4mpegpipe") as out:
        stream = out.add_stream("rawvideo", rate=1)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        for t in range(seconds):
            out.mux(stream.encode(av.VideoFrame.from_image(photos[(t // 2) % len(photos)]).reformat(format="yuv420p")))
        out.mux(stream.encode(None))
    key = hashlib.sha256(token.encode()).hexdigest()[:32]
    store = MemoryStore.open(Path(server.settings.memory.dir) / "sessions" / key, server.models.visual,
                             server.settings.memory)
    try:
        ingest(video, server.models, server.settings, store, progress=False)
    finally:
        store.close()


def browser(p, tmp: Path, evaldata: Path):
    cam = camera_file(evaldata / "video/vid_imageio_cockatoo.mp4", tmp / "cam.y4m", seconds=20)
    args = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-video-capture={cam}", "--autoplay-policy=no-user-gesture-required",
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"]
    # (bypass_csp: Playwright's wait_for_function evaluates strings, which the page's CSP forbids;
    # tests/test_hardening.py runs the page under its CSP)
    return p.chromium.launch_persistent_context(str(tmp / "profile"), executable_path=CHROMIUM, headless=True,
                                                args=args, viewport={"width": 1280, "height": 800}, bypass_csp=True)


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def status(page) -> str:
    return page.get_attribute("#status", "data-state")


def wait_status(page, *states: str, timeout: int = 60_000) -> None:
    page.wait_for_function(f"{list(states)}.includes(document.querySelector('#status').dataset.state)",
                           timeout=timeout)


def turns(page) -> list[dict]:
    return page.eval_on_selector_all("#conversation .turn", """els => els.map(e => ({
        heard: e.querySelector('.heard .text').innerText, source: e.dataset.source || '',
        reply: e.querySelector('.reply') ? e.querySelector('.reply .text').innerText : null,
        state: e.querySelector('.reply') ? e.querySelector('.reply').dataset.state : null}))""")


@pytest.fixture(scope="module")
def playwright():
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian chromium is required for the browser tests: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


def test_a_long_memory_fits_the_screen_typed_questions_work_before_start_and_a_reload_restores_all(
        server, playwright, evaldata):
    import httpx

    tmp = Path(tempfile.mkdtemp())
    token = httpx.post(f"{server.url}/api/sessions").json()["token"]
    fill_memory(server, token, evaldata, seconds=240, tmp=tmp)  # four minutes of camera: ~120 moments
    ctx = browser(playwright, tmp, evaldata)
    try:
        page = ctx.new_page()
        page.add_init_script(f"localStorage.getItem('omniliveToken') || localStorage.setItem('omniliveToken', '{token}')")
        page.goto(server.url)
        page.wait_for_function("document.querySelectorAll('#timeline .item').length >= 60", timeout=30_000)
        items = page.eval_on_selector_all("#timeline .item", "els => els.map(e => [+e.dataset.start, e.dataset.kind])")
        assert all(kind == "seen" for _, kind in items) and [s for s, _ in items] == sorted(s for s, _ in items)
        assert page.evaluate(WIDE_OK), page.evaluate("[document.documentElement.scrollWidth, innerWidth]")
        assert page.evaluate("document.querySelector('#timeline').scrollHeight > document.querySelector('#timeline').clientHeight")
        caption = page.inner_text("#timeline .item >> nth=0")
        assert ":" in caption and "s " not in caption  # a clock time, not raw stream seconds

        # typed before Start: a text-only session answers it; one .turn holds question and answer
        page.fill("#question", "How many different things did you see?")
        page.click("#ask")
        page.wait_for_function("document.querySelector('#conversation .turn .reply[data-state=answered]')",
                               timeout=120_000)
        assert status(page) == "text"
        first = turns(page)
        assert len(first) == 1 and first[0]["source"] == "typed" and first[0]["reply"], first
        # watches, typed: listed under the camera, one cancelled with its button
        for n, request in enumerate(("Tell me when you see a bus in the next hour.", "Let me know if the phone rings."), 2):
            page.fill("#question", request)
            page.click("#ask")  # each confirmed before the next, as a person waits for the reply
            page.wait_for_function(f"document.querySelectorAll('#conversation .turn .reply[data-state=answered]')"
                                   f".length === {n}", timeout=60_000)
        page.wait_for_function("document.querySelectorAll('#watches li').length === 2", timeout=60_000)
        watches = page.eval_on_selector_all("#watches li", "els => els.map(e => [e.dataset.kind, e.innerText])")
        assert [k for k, _ in watches] == ["seen", "sound"] and "bus" in watches[0][1], watches
        assert "until" in watches[0][1] and "until" not in watches[1][1], watches  # the one with an end says when
        page.click("#watches li[data-kind=sound] .unwatch")
        page.wait_for_function("document.querySelectorAll('#watches li').length === 1")
        page.click("#timeline .item >> nth=-1")  # a moment opens large
        assert page.is_visible("#viewer img")
        page.keyboard.press("Escape")
        page.fill("#search", "a bus")
        page.press("#search", "Enter")
        page.wait_for_function("document.querySelector('#timeline .results')")
        found = page.eval_on_selector_all("#timeline .item", "els => els.map(e => e.dataset.label)")
        assert found and any("bus" in label for label in found), found
        shot(page, "desktop-text-session")
        page.set_viewport_size({"width": 390, "height": 844})
        page.fill("#search", "")
        page.press("#search", "Enter")
        page.wait_for_function("document.querySelectorAll('#timeline .item').length >= 60")
        assert page.evaluate(WIDE_OK), page.evaluate("[document.documentElement.scrollWidth, innerWidth]")
        shot(page, "phone-text-session")

        page.reload()  # the conversation and the timeline come back from the server
        page.wait_for_function("document.querySelectorAll('#conversation .turn').length >= 3 && "
                               "document.querySelectorAll('#timeline .item').length >= 60 && "
                               "document.querySelectorAll('#watches li').length === 1", timeout=30_000)
        again = turns(page)
        assert again[0] == {**first[0], "state": "answered"} and len(again) == 3, (again, first)
        assert "tell you when you see a bus for the next hour" in again[1]["reply"], again
        assert "bus" in page.inner_text("#watches li") and "until" in page.inner_text("#watches li")
        assert page.evaluate(WIDE_OK)
        page.click("#watches .unwatch")  # not connected now: cancelled through the API
        page.wait_for_selector("#watches", state="hidden")
        assert httpx.get(f"{server.url}/api/watches", params={"token": token}).json()["items"] == []
    finally:
        ctx.close()


def test_stale_token_second_tab_and_server_restart_recover_in_the_page(server, playwright, evaldata):
    ctx = browser(playwright, Path(tempfile.mkdtemp()), evaldata)
    try:
        page = ctx.new_page()
        page.add_init_script(path=str(Path(__file__).with_name("browser_mic.js")))
        page.goto(server.url)
        page.evaluate("localStorage.setItem('omniliveToken', 'a-token-this-server-never-made')")
        page.reload()  # a stale token: the page asks, then starts a new memory without clearing site data
        page.wait_for_selector("#banner:not([hidden])")
        assert "no longer" in page.inner_text("#banner p")
        page.click("#banner .actions button >> nth=0")
        page.wait_for_function("localStorage.getItem('omniliveToken') !== 'a-token-this-server-never-made'")
        page.click("#start")
        wait_status(page, "listening")
        page.wait_for_function("document.querySelectorAll('#timeline .item').length > 0", timeout=60_000)
        # a dog barks at the microphone: heard memory puts it on the timeline, in plain words
        page.evaluate("b => window.testMic.say(b)", pcm_b64(load(evaldata, "events/wav16k/ev_esc50_4-183992-A-0_dog.wav")))
        page.wait_for_function("[...document.querySelectorAll('#timeline .item[data-heard=sound]')]"
                               ".some(e => e.dataset.label.includes('dog'))", timeout=60_000)
        shot(page, "desktop-listening")
        page.click("#remember")  # pause memory: the server confirms, the page shows it plainly
        page.wait_for_selector("#remember[data-state=paused]", timeout=20_000)
        assert "keeps nothing" in page.inner_text("#banner p")
        shot(page, "desktop-memory-paused")
        page.click("#remember")
        page.wait_for_selector("#remember[data-state=on]", timeout=20_000)

        other = ctx.new_page()  # a second tab: it says so and offers to take over
        other.goto(server.url)
        other.wait_for_selector("#banner:not([hidden])")
        assert "another tab" in other.inner_text("#banner p")
        other.click("#banner .actions button >> nth=0")
        wait_status(other, "listening")
        wait_status(page, "elsewhere", timeout=20_000)
        assert "another tab" in page.inner_text("#banner p")
        shot(page, "desktop-taken-over")

        server.stop()  # the server dies: the live tab shows it is reconnecting ...
        wait_status(other, "reconnecting", "offline", timeout=20_000)
        shot(other, "desktop-reconnecting")
        server.start()  # ... and is back without a click
        wait_status(other, "listening", timeout=60_000)
        other.wait_for_function("document.querySelectorAll('#timeline .item').length > 0", timeout=60_000)

        other.click("#open-settings")  # the page in Chinese, with a CJK font
        shot(other, "desktop-settings")
        other.select_option("#ui-language", "zh")
        other.click("#settings button[value=close]")
        assert other.inner_text("#start") == "开始" and other.inner_text("#status") == "正在听"
        glyphs = other.evaluate("""() => {
            const c = document.createElement('canvas'); c.width = c.height = 40;
            const g = c.getContext('2d'); g.font = '24px ' + getComputedStyle(document.body).fontFamily;
            const draw = (ch) => { g.clearRect(0, 0, 40, 40); g.fillText(ch, 4, 30); return g.getImageData(0, 0, 40, 40).data.join(); };
            return [draw('你'), draw('好'), draw('\\uE000')];
        }""")
        assert len(set(glyphs)) == 3, "Chinese renders as empty boxes: install fonts-noto-cjk"
        shot(other, "desktop-chinese")
        other.set_viewport_size({"width": 390, "height": 844})
        assert other.evaluate(WIDE_OK)
        shot(other, "phone-chinese")

        # "New memory": asked first, then the old token and its memory are deleted on the server
        old = other.evaluate("localStorage.getItem('omniliveToken')")
        other.click("#open-settings")
        other.click("#new-memory")
        other.wait_for_selector("#banner:not([hidden])")
        shot(other, "phone-new-memory-asked")
        other.click("#banner .actions button >> nth=0")
        other.wait_for_function(f"localStorage.getItem('omniliveToken') !== '{old}'", timeout=60_000)
        gone = other.evaluate("t => fetch('/api/session', {headers: {Authorization: 'Bearer ' + t}}).then(r => r.status)", old)
        assert gone == 401
        assert not (Path(server.settings.memory.dir) / "sessions" / Tokens.key(old)).exists()
    finally:
        ctx.close()
