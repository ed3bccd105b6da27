"""A real PostgreSQL server for the tests: Debian's ``postgresql`` binaries, ``initdb`` into a
temporary directory and ``pg_ctl`` start on a free loopback port, as an unprivileged user (the
server refuses to run as root, and CI runs as root)."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

from helpers import free_port


def pg_bin(tool: str) -> str:
    found = shutil.which(tool) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{tool}"), reverse=True)), None)
    if found is None:
        raise RuntimeError(f"PostgreSQL's {tool} is required for the PostgreSQL memory tests: apt-get install postgresql")
    return found


def _as_server_user(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@dataclass
class Postgres:
    data: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql://omnilive@127.0.0.1:{self.port}/postgres"

    @classmethod
    def start(cls) -> "Postgres":
        root = Path(tempfile.mkdtemp(prefix="omnilive-pg-"))
        if os.geteuid() == 0:
            shutil.chown(root, "postgres")
        data, port = root / "data", free_port()
        subprocess.run(_as_server_user([pg_bin("initdb"), "-D", str(data), "-U", "omnilive", "-A", "trust",
                                        "--no-sync", "-E", "UTF8"]), check=True, capture_output=True)
        opts = f"-p {port} -c listen_addresses=127.0.0.1 -k {root} -c fsync=off -c max_connections=200"
        subprocess.run(_as_server_user([pg_bin("pg_ctl"), "-D", str(data), "-o", opts, "-l", str(root / "log"),
                                        "-w", "-t", "60", "start"]), check=True, capture_output=True)
        return cls(data, port)

    def stop(self) -> None:
        subprocess.run(_as_server_user([pg_bin("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"]),
                       capture_output=True)
        shutil.rmtree(self.data.parent, ignore_errors=True)


def memory_name() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"
