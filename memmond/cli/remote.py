"""The daemon's HTTP API as the CLI commands that read it (`trend`, `events`) see it: one GET, one way of
saying what went wrong."""

from __future__ import annotations


class DaemonUnavailable(Exception):
    """The daemon did not answer, or answered with an error; the message says which, `reason` in short."""

    def __init__(self, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason or message


def get(base_url: str, path: str, timeout: float = 10) -> bytes:
    """The body of GET base_url + path (urllib is imported here: only these commands need it)."""
    import urllib.error
    import urllib.request

    if "://" not in base_url:  # `--url localhost:9847`, as people type it (urllib: "unknown url type")
        base_url = f"http://{base_url}"
    url = f"{base_url.rstrip('/')}{path}"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.read()
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace").strip()
        raise DaemonUnavailable(f"{url}: HTTP {exc.code}: {detail}", f"HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        reason = getattr(reason, "strerror", None) or reason  # "Connection refused", not "[Errno 111] ..."
        raise DaemonUnavailable(
            f"cannot reach memmond at {base_url}: {reason} (is `memmond run` running?)", str(reason)
        ) from None
