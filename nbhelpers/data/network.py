"""Whether a download can start, and running it with a time limit: how load_mnist("auto")
decides between fetching full MNIST and falling back to the embedded digits, without
hanging on a machine that has no network."""

from __future__ import annotations

import socket
import threading
import urllib.parse
import urllib.request

__all__ = ["download_endpoint", "run_with_timeout", "reachable"]


def download_endpoint(origin: str) -> tuple[str, int]:
    """Host and port a download of ``origin`` would connect to first (the proxy, if one is set)."""
    proxy = urllib.request.getproxies().get("https")
    url = urllib.parse.urlsplit(proxy if proxy else origin)
    if proxy and not url.hostname:  # "host:port" without a scheme
        url = urllib.parse.urlsplit(f"http://{proxy}")
    port = url.port or (443 if url.scheme == "https" else 80)
    return url.hostname or "", port


def run_with_timeout(fn, timeout: float):
    """Run fn in a daemon thread; (finished, result, error, thread)."""
    box = {}

    def target():
        try:
            box["result"] = fn()
        except BaseException as e:  # noqa: BLE001 - reported to the caller
            box["error"] = e

    t = threading.Thread(target=target, daemon=True, name="nbhelpers-mnist")
    t.start()
    t.join(max(timeout, 0.0))
    return (not t.is_alive()), box.get("result"), box.get("error"), t


def reachable(origin: str, timeout: float) -> tuple[bool, str]:
    """Can the host of ``origin`` (or the proxy) be reached within timeout? DNS included."""
    host, port = download_endpoint(origin)

    def probe():
        socket.create_connection((host, port), timeout=timeout).close()

    done, _, err, _ = run_with_timeout(probe, timeout)
    if not done:
        return False, f"no answer from {host}:{port} within {timeout:g} s"
    if err is not None:
        return False, f"{host}:{port} unreachable ({type(err).__name__}: {err})"
    return True, ""
