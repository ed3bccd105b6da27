"""End to end in a real browser: headless Chromium (Debian's, driven by Playwright) with its fake
camera and microphone fed from files, against the real server on the real models."""

import shutil
import tempfile
from pathlib import Path

import av
import pytest

from helpers import app_on_port
from omnilive.dsp import float_to_pcm16

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def camera_file(video: Path, dst: Path, seconds: int = 40, fps: int = 5) -> Path:
    """A real video clip as the camera: the y4m that Chromium's fake camera plays (looped)."""
    frames = []
    with av.open(str(video)) as src:
        for frame in src.decode(video=0):
            if frame.time is not None and frame.time >= len(frames) / fps:
                frames.append(frame.to_image().convert("RGB").resize((320, 240)))
    with av.open(str(dst), "w", format="yuv4mpegpipe") as out:
        stream = out.add_stream("rawvideo", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        for i in range(seconds * fps):
            out.mux(stream.encode(av.VideoFrame.from_image(frames[i % len(frames)]).reformat(format="yuv420p")))
        out.mux(stream.encode(None))
    return dst


@pytest.fixture(scope="module")
def server(settings, models, tmp_path_factory):
    settings = settings.model_copy(update={"memory": settings.memory.model_copy(
        update={"dir": tmp_path_factory.mktemp("browser-memory")})})
    with app_on_port(settings, models) as url:
        yield url


def pcm_b64(samples) -> str:
    import base64

    return base64.b64encode(float_to_pcm16(samples)).decode()


def page_state(page) -> str:
    """The page's turns and every event it received, for a failure message."""
    turns = page.eval_on_selector_all("#conversation .turn", """els => els.map(e => [e.dataset.turn,
        e.className, e.querySelector('.heard .text').innerText,
        e.querySelector('.reply') && e.querySelector('.reply').dataset.state])""")
    log = page.evaluate("window.omniliveLog")
    return f"turns={turns} events={[(e['type'], e['turn'], e.get('detail')) for e in log if e['type'] not in ('play', 'dropped')]}"


def test_spoken_question_in_the_browser_gets_a_grounded_spoken_answer_and_can_be_interrupted(
        server, models, evaldata):
    """Every cue waits for the event it follows (no fixed seconds): the question once the camera
    has made a memory clip, the story request once that answer has played, the barge-in once the
    story is playing."""
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian chromium is required for the browser test: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    tmp = Path(tempfile.mkdtemp())
    cam = camera_file(evaldata / "video/vid_imageio_cockatoo.mp4", tmp / "cam.y4m")
    question = pcm_b64(models.tts.synthesize("What did you see?"))
    story = pcm_b64(models.tts.synthesize("Tell me a long story about a bird."))
    barge_in = pcm_b64(models.tts.synthesize("Wait, what else did you see?"))  # a question: it cuts the story
    args = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-video-capture={cam}",
            "--autoplay-policy=no-user-gesture-required", "--no-sandbox", "--disable-gpu",
            "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"]
    with sync_playwright() as p:
        # (bypass_csp: Playwright's wait_for_function evaluates strings, which the page's CSP forbids;
        # tests/test_hardening.py runs the page under its CSP)
        ctx = p.chromium.launch_persistent_context(str(tmp / "profile"), executable_path=CHROMIUM,
                                                   headless=True, args=args, bypass_csp=True)
        try:
            page = ctx.new_page()
            page.add_init_script(path=str(Path(__file__).with_name("browser_mic.js")))
            page.goto(server)
            page.click("#start")
            page.wait_for_function("document.querySelectorAll('#timeline .item').length > 0", timeout=60_000)
            page.evaluate("b => window.testMic.say(b)", question)
            page.wait_for_function("document.querySelector('#transcript').innerText.toLowerCase().includes('what did you see')",
                                   timeout=60_000)
            first = page.wait_for_function(
                "(() => { const e = window.omniliveLog.find(e => e.type === 'play'); return e ? [e.turn] : null; })()",
                timeout=60_000).json_value()[0]
            page.wait_for_function(f"window.omniliveLog.some(e => e.type === 'answer' && e.turn === {first})"
                                   " && !window.omniliveAudio.playing", timeout=60_000)
            answer = page.inner_text(f"#conversation .turn[data-turn='{first}'] .reply .text").lower()
            page.evaluate("b => window.testMic.say(b)", story)
            page.wait_for_function(f"window.omniliveLog.some(e => e.type === 'play' && e.turn !== {first})",
                                   timeout=90_000)
            page.evaluate("b => window.testMic.say(b)", barge_in)  # the user talks over the story
            page.wait_for_function(  # the barge-in was heard, understood as a question, and the story ended
                f"window.omniliveLog.some(c => c.type === 'interrupt' && c.turn != null && c.turn !== {first}"
                " && window.omniliveLog.some(a => a.type === 'answer' && a.turn === c.turn))", timeout=60_000)
            try:  # the page marks the cut answer
                page.wait_for_function("document.querySelector('.turn .reply[data-state=interrupted]')", timeout=10_000)
            except Exception as exc:  # say what the page had instead
                raise AssertionError(f"the cut story is not marked interrupted: {page_state(page)}") from exc
            seen = page.eval_on_selector_all("#timeline .item", "els => els.map(e => e.dataset.label)")
            turns = page.eval_on_selector_all("#conversation .turn", """els => els.map(e => ({
                turn: +e.dataset.turn, heard: e.querySelector('.heard .text').innerText,
                reply: e.querySelector('.reply') && e.querySelector('.reply').dataset.state}))""")
            log = page.evaluate("window.omniliveLog")
            playing = page.evaluate("window.omniliveAudio.playing")
            token = page.evaluate("localStorage.getItem('omniliveToken')")
            page.click("#stop")
        finally:
            ctx.close()
    trace = str([(e["type"], e["turn"], round(e["at"])) for e in log])
    assert seen, "no memory clip reached the page"
    # grounded: the answer names what the memory timeline (the camera) holds
    assert any(label and label.lower() in answer for label in seen), (answer, seen)
    # one .turn per question, holding what was heard and the reply; the story's reply is marked as cut
    asked = [t for t in turns if t["reply"]]
    assert "what did you see" in asked[0]["heard"].lower() and asked[0]["reply"] == "answered", turns
    assert "story" in asked[1]["heard"].lower() and asked[1]["reply"] == "interrupted", turns
    turn = next(e["turn"] for e in log if e["type"] == "play" and e["turn"] != first)  # the story's turn
    played = [i for i, e in enumerate(log) if e["type"] == "play" and e["turn"] == turn]
    cut = next((i for i, e in enumerate(log) if e["type"] == "interrupt" and e["turn"] == turn), None)
    assert cut is not None, trace
    assert played and played[0] < cut, trace  # the answer was playing when the user spoke again ...
    assert not [i for i in played if i > cut], trace  # ... and not one more chunk of it was played after
    assert next(e for e in log if e["type"] == "answer" and e["turn"] == turn)  # the turn ended
    assert not playing and token  # silent now; the session token is kept for the next visit
