"""The container's health check: ``python -m app.healthcheck`` asks the process the
container runs whether it is alive.

One image runs both roles, so the check reads the container's main process (PID 1) to find
which it is: ``sleeptime serve`` answers ``/livez`` on its ``--port`` (8283 by default),
``sleeptime worker`` on ``SLEEPTIME_WORKER_HTTP_PORT`` (the image sets 8284). Anything else
the image runs (``sleeptime migrate``, a shell, a worker with no probe port) has nothing to
ask and counts as healthy. Exit status 0 is healthy, 1 is not, as Docker reads it.
"""

import itertools
import os
import sys
import urllib.request
from collections.abc import Sequence
from pathlib import Path

API_PORT = 8283
TIMEOUT_SECONDS = 2.0


def _command_line() -> list[str]:
    raw = Path("/proc/1/cmdline").read_bytes()
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def livez_url(argv: Sequence[str], environ: dict[str, str]) -> str | None:
    """Where the process started with ``argv`` answers ``/livez``; None if it serves none."""
    if "serve" in argv:
        port = API_PORT
        for flag, value in itertools.pairwise(argv):
            if flag == "--port":
                port = int(value)
        for arg in argv:
            if arg.startswith("--port="):
                port = int(arg.removeprefix("--port="))
        return f"http://127.0.0.1:{port}/livez"
    port_setting = environ.get("SLEEPTIME_WORKER_HTTP_PORT", "").strip()
    if "worker" in argv and port_setting:
        return f"http://127.0.0.1:{int(port_setting)}/livez"
    return None


def main() -> int:
    url = livez_url(_command_line(), dict(os.environ))
    if url is None:
        return 0
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310 (a fixed http URL)
            return 0 if response.status == 200 else 1
    except OSError as exc:  # refused, timed out, or an HTTP error status
        sys.stderr.write(f"unhealthy: {url}: {exc}\n")
        return 1


if __name__ == "__main__":
    sys.exit(main())
