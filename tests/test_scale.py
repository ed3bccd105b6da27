"""Beyond one process (issue 16): two real `omnilive serve` processes on one real PostgreSQL
(started by the tests), with Debian's nginx in front pinning each token to one process
(deploy/nginx.conf). A memory written through one process is read through the other, a second
live connection for a token on the other process is refused, and /metrics is per process."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from helpers import free_port, wait_until

ROOT = Path(__file__).resolve().parents[1]


class Serve:
    """One `omnilive serve` process on a free port, sharing the PostgreSQL memory."""

    def __init__(self, env: dict[str, str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen([sys.executable, "-m", "omnilive", "serve", "--port", str(self.port)], env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def wait_ready(self, deadline: float) -> None:
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.3)
        self.proc.kill()
        pytest.fail("omnilive serve did not start:\n" + self.proc.stdout.read()[-3000:])

    def sessions(self) -> int:
        return httpx.get(f"{self.url}/health").json()["sessions"]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@pytest.fixture(scope="module")
def servers(postgres):
    env = {**os.environ, "OMNILIVE_MEMORY__URL": postgres.url, "OMNILIVE_LLM__MODEL": "qwen2.5-0.5b",
           "OMNILIVE_LLM__THREADS": "1", "OMNILIVE_SERVER__NEW_SESSIONS_PER_MINUTE": "100"}  # one test client
    both = [Serve(env), Serve(env)]
    deadline = time.monotonic() + 600
    for s in both:
        s.wait_ready(deadline)
    yield both
    for s in both:
        s.stop()


@pytest.fixture(scope="module")
def nginx(servers, tmp_path_factory):
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(binary).exists():
        pytest.fail("nginx is required for the reverse-proxy test: apt-get install nginx")
    prefix = tmp_path_factory.mktemp("nginx")
    port = free_port()
    conf = (ROOT / "deploy" / "nginx.conf").read_text().replace("@PREFIX@", str(prefix)).replace(
        "@LISTEN@", f"127.0.0.1:{port}").replace("@SERVERS@", " ".join(f"server 127.0.0.1:{s.port};" for s in servers))
    (prefix / "nginx.conf").write_text(conf)
    proc = subprocess.Popen([binary, "-c", str(prefix / "nginx.conf"), "-p", str(prefix), "-g", "daemon off;"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            httpx.get(f"{url}/health", timeout=2)
            break
        except httpx.HTTPError:
            time.sleep(0.1)
    else:
        pytest.fail("nginx did not start:\n" + (proc.stdout.read() if proc.poll() is not None else ""))
    yield url
    proc.terminate()
    proc.wait(10)


def ws_url(http: str, token: str) -> str:
    return http.replace("http://", "ws://") + f"/ws?token={token}"


def ask(ws, text: str, timeout: float = 120) -> dict:
    ws.send(json.dumps({"type": "ask", "text": text, "speak": False}))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        msg = ws.recv(timeout=deadline - time.monotonic())
        if isinstance(msg, str) and json.loads(msg)["type"] == "answer":
            return json.loads(msg)
    raise AssertionError(f"no answer to {text!r}")


def ready(ws) -> dict:
    msg = json.loads(ws.recv(timeout=60))
    assert msg["type"] == "ready", msg
    return msg


def test_memory_written_through_one_process_is_read_through_the_other_and_one_live_connection_per_token(servers):
    a, b = servers
    token = httpx.post(f"{a.url}/api/sessions").json()["token"]
    with connect(ws_url(a.url, token)) as live:
        ready(live)
        confirmed = ask(live, "Remember that my locker code is 4512.")
        assert "4512" in confirmed["text"], confirmed
        # the same token on the other process, while it is live here: refused, and reads say why
        with connect(ws_url(b.url, token)) as second:
            refusal = json.loads(second.recv(timeout=60))
            with pytest.raises(ConnectionClosed) as closed:
                second.recv(timeout=30)
        assert refusal["type"] == "error" and closed.value.rcvd.code == 4409, (refusal, closed.value)
        # its history is read in place meanwhile (no lock); a search, which loads the memory, says why not
        assert wait_until(lambda: "locker" in str(httpx.get(f"{b.url}/api/history", params={"token": token}).json()))
        busy = httpx.get(f"{b.url}/api/memory", params={"token": token, "q": "locker"})
        assert busy.status_code == 409 and "in use" in busy.json()["detail"]
    assert wait_until(lambda: a.sessions() == 0)

    history = httpx.get(f"{b.url}/api/history", params={"token": token})  # the other process, from the database
    assert history.status_code == 200 and "locker" in history.json()["turns"][0]["heard"].lower()
    with connect(ws_url(b.url, token)) as live:
        ready(live)
        answer = ask(live, "What is my locker code?")
    assert "4512" in answer["text"], answer

    def started(s: Serve) -> float:
        line = next(x for x in httpx.get(f"{s.url}/metrics").text.splitlines() if x.startswith("omnilive_sessions_total"))
        return float(line.split()[-1])

    assert started(a) == 1 and started(b) == 1  # each process counts its own
    assert httpx.get(f"{a.url}/api/session", params={"token": "not-a-token"}).status_code == 401


def test_nginx_pins_every_request_of_a_token_to_one_process(servers, nginx):
    tokens = [httpx.post(f"{nginx}/api/sessions").json()["token"] for _ in range(24)]
    served = {}
    for token in tokens:
        by = {httpx.get(f"{nginx}/api/session", headers={"Authorization": f"Bearer {token}"})
              .headers["x-omnilive-process"] for _ in range(3)}
        by |= {httpx.get(f"{nginx}/api/history", params={"token": token}).headers["x-omnilive-process"]}
        assert len(by) == 1, by  # the bearer header and ?token= hash alike
        served[token] = by.pop()
    assert len(set(served.values())) == 2, served  # 24 users are spread over both processes (all on one: 2^-23)
    token = tokens[0]
    with connect(nginx.replace("http://", "ws://") + "/ws", subprotocols=["omnilive", f"token.{token}"],
                 origin=nginx) as live:
        ready(live)  # through the proxy, with the token as a subprotocol ...
        pid = served[token].rsplit(":", 1)[1]
        mine = next(s for s in servers if str(s.proc.pid) == pid)
        assert mine.sessions() == 1  # ... on the process its API calls go to
        assert ask(live, "Remember that the spare key is under the blue pot.")["text"]


def test_a_database_that_is_down_is_a_clear_error_without_its_password():
    closed = free_port()
    env = {**os.environ, "OMNILIVE_MEMORY__URL": f"postgresql://omnilive:hunter2-secret@127.0.0.1:{closed}/omnilive"}
    proc = subprocess.run([sys.executable, "-m", "omnilive", "recall", "--memory", "alice", "where is my cat?"],
                          capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 2 and "not reachable" in proc.stderr and "memory.url" in proc.stderr, proc.stderr
    assert "hunter2-secret" not in proc.stderr + proc.stdout and "omnilive:***@" in proc.stderr
