"""Deployment path: a media server (nginx-rtmp, started here) receives a real clip pushed over RTMP,
and a live session pulls its camera from it while the client's socket carries only events."""

import shutil
import socket
import subprocess
import threading
import time
from fractions import Fraction
from pathlib import Path

import av
import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from helpers import free_port
from omnilive.server.app import create_app

RTMP_MODULE = Path("/usr/lib/nginx/modules/ngx_rtmp_module.so")


@pytest.fixture
def rtmp_server(tmp_path):
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists() or not RTMP_MODULE.exists():
        pytest.fail("nginx with the RTMP module is required: apt-get install nginx libnginx-mod-rtmp")
    port = free_port()
    conf = tmp_path / "nginx.conf"
    conf.write_text(f"""load_module {RTMP_MODULE};
daemon off;
pid {tmp_path}/nginx.pid;
error_log {tmp_path}/error.log info;
events {{}}
rtmp {{ server {{ listen 127.0.0.1:{port}; application live {{ live on; record off; idle_streams off; }} }} }}
""")
    proc = subprocess.Popen([nginx, "-c", str(conf), "-p", str(tmp_path), "-e", str(tmp_path / "error.log")])
    for _ in range(50):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.1)
    yield f"rtmp://127.0.0.1:{port}/live/", tmp_path / "error.log"
    proc.terminate()
    proc.wait(10)


def push(video: Path, url: str) -> None:
    """What OBS or `ffmpeg -re -i clip.mp4 -f flv rtmp://...` does: publish a clip in real time."""
    with av.open(str(video)) as src, av.open(url, "w", format="flv") as out:
        vs = out.add_stream("libx264", rate=20)
        vs.width, vs.height, vs.pix_fmt = 640, 360, "yuv420p"
        vs.options = {"preset": "ultrafast", "tune": "zerolatency", "g": "20"}
        t0 = time.perf_counter()
        for i, frame in enumerate(src.decode(video=0)):
            time.sleep(max(0.0, t0 + frame.time - time.perf_counter()))
            f = frame.reformat(width=640, height=360, format="yuv420p")
            f.pts, f.time_base = i, Fraction(1, 20)
            for p in vs.encode(f):
                out.mux(p)
        for p in vs.encode():
            out.mux(p)


def test_session_pulls_its_camera_from_an_rtmp_server(rtmp_server, settings, models, evaldata, tmp_path):
    rtmp_server, server_log = rtmp_server
    url = rtmp_server + "cam"
    app_settings = settings.model_copy(update={
        "memory": settings.memory.model_copy(update={"dir": tmp_path / "memory"}),
        "server": settings.server.model_copy(update={"pull_prefixes": [rtmp_server]})})
    pusher = threading.Thread(target=push, args=(evaldata / "video/vid_imageio_cockatoo.mp4", url), daemon=True)
    pusher.start()
    for _ in range(100):  # until the publisher is on air
        if "publish: name='cam'" in server_log.read_text():
            break
        time.sleep(0.1)
    with TestClient(create_app(app_settings, models)) as client:
        token = client.post("/api/sessions").json()["token"]
        events = []
        with client.websocket_connect(f"/ws?token={token}&source={url}") as ws:
            while True:  # until the media server ends the stream
                ev = ws.receive_json()
                events.append(ev)
                if ev["type"] == "error":
                    break
        assert "ended" in events[-1]["message"], events[-1]
        clips = [e for e in events if e["type"] == "clip"]
        assert clips and clips[-1]["end"] >= 8  # the camera was watched for most of the 14 s clip
        memory = client.get("/api/memory", params={"token": token, "q": "where was the bird?", "k": 1}).json()
        assert memory["memory"]["clips_sealed"] >= 2 and memory["clips"]

        with client.websocket_connect(f"/ws?token={token}&source=file:///etc/passwd") as ws:  # not allowed
            assert "not allowed" in ws.receive_json()["message"]
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_json()
            assert closed.value.code == 4403
    pusher.join(30)
