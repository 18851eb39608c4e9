"""Start and always stop local servers (Jupyter Server, Voilà).

A chapter starts a server in one cell and stops it in a later one. If a
cell in between fails, execution stops and that later cell never runs,
so every server is also registered with atexit: when the kernel shuts
down, the server goes too. Servers bind 127.0.0.1 only, on a free port,
in a new process group so that the whole group (server and its kernels)
is stopped together.
"""

from __future__ import annotations

import atexit
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

_running: list[LocalServer] = []


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing is listening on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class LocalServer:
    """A server on 127.0.0.1, stopped by .stop() or at kernel exit."""

    def __init__(
        self,
        argv: list[str],
        port: int,
        log_path: Path,
        env: dict | None = None,
    ):
        self.argv, self.port, self.log_path = argv, port, Path(log_path)
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            argv,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            # its own process group, stopped as a whole
            start_new_session=True,
        )
        _running.append(self)

    def wait_until_ready(
        self, url: str, timeout: float = 30.0, context=None
    ) -> None:
        """Poll url until the server answers (any HTTP status is up)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log = self.log_path.read_text()[-2000:]
                raise RuntimeError(f"server exited early; log:\n{log}")
            try:
                urllib.request.urlopen(
                    url, timeout=2, context=context
                ).close()
                return
            except urllib.error.HTTPError:
                return
            except (
                urllib.error.URLError,
                ConnectionError,
                TimeoutError,
                OSError,
            ):
                time.sleep(0.2)
        self.stop()
        raise TimeoutError(
            f"server did not answer {url} within {timeout} s"
        )

    def stop(self) -> int | None:
        """Stop the process group: SIGTERM, then SIGKILL after 10 s."""
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
            except ProcessLookupError:
                pass
        self._log.close()
        if self in _running:
            _running.remove(self)
        return self.process.returncode


def stop_all() -> None:
    for server in list(_running):
        server.stop()


atexit.register(stop_all)
