"""Resumable, verified downloads against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import random
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ecgtriage.io.download import Checksum, ChecksumError, DownloadError, fetch

_RANGE = re.compile(r"bytes=(\d+)-$")


class _Handler(BaseHTTPRequestHandler):
    """Serves ``server.routes[path]``; honours ``Range: bytes=N-`` when ``honour_range``."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        srv = self.server
        srv.requests.append((self.path, self.headers.get("Range")))
        if self.path in srv.redirects:
            self.send_response(302)
            self.send_header("Location", srv.redirects[self.path])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.path in srv.delay:
            time.sleep(srv.delay[self.path])
        body = srv.routes.get(self.path)
        if body is None:
            self.send_error(404, "Not Found")
            return
        total = len(body)
        match = _RANGE.match(self.headers.get("Range", ""))
        if srv.honour_range and match:
            start = int(match.group(1))
            if start >= total:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{total}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{total - 1}/{total}")
            payload = body[start:]
        else:
            self.send_response(200)
            payload = body
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Accept-Ranges", "bytes" if srv.honour_range else "none")
        self.end_headers()
        cut = srv.truncate_at.get(self.path)
        # Announce the whole length but hang up early, as a dropped connection does.
        self.wfile.write(payload if cut is None else payload[:cut])

    def log_message(self, *args) -> None:
        pass


class LocalServer:
    """A ThreadingHTTPServer in a thread with mutable routes and a request log."""

    def __init__(self) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.routes = {}
        self.httpd.requests = []
        self.httpd.honour_range = True
        self.httpd.truncate_at = {}
        self.httpd.redirects = {}
        self.httpd.delay = {}
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.01,), daemon=True)
        self.thread.start()

    routes = property(lambda self: self.httpd.routes)
    requests = property(lambda self: self.httpd.requests)
    truncate_at = property(lambda self: self.httpd.truncate_at)
    redirects = property(lambda self: self.httpd.redirects)
    delay = property(lambda self: self.httpd.delay)

    def set_honour_range(self, value: bool) -> None:
        self.httpd.honour_range = value

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def server():
    srv = LocalServer()
    yield srv
    srv.close()


@pytest.fixture
def payload() -> bytes:
    return random.Random(0).randbytes(300_000)


def _sha256(data: bytes) -> Checksum:
    return Checksum("sha256", hashlib.sha256(data).hexdigest())


def test_full_download_verified(server, payload, tmp_path):
    server.routes["/f.bin"] = payload
    dest = fetch(f"{server.url}/f.bin", tmp_path / "f.bin", checksum=_sha256(payload),
                 expected_size=len(payload), progress=False)
    assert dest.read_bytes() == payload
    assert not (tmp_path / "f.bin.part").exists()
    assert server.requests == [("/f.bin", None)]


def test_resume_truncated_part_with_range(server, payload, tmp_path):
    server.routes["/f.bin"] = payload
    (tmp_path / "f.bin.part").write_bytes(payload[:123_456])
    dest = fetch(f"{server.url}/f.bin", tmp_path / "f.bin", checksum=_sha256(payload),
                 progress=False)
    assert dest.read_bytes() == payload
    assert server.requests == [("/f.bin", "bytes=123456-")]


def test_resume_when_server_ignores_range_restarts_from_zero(server, payload, tmp_path):
    server.routes["/f.bin"] = payload
    server.set_honour_range(False)
    # A wrong prefix: appending the 200 body to it would corrupt the file.
    (tmp_path / "f.bin.part").write_bytes(b"\xff" * 5000)
    dest = fetch(f"{server.url}/f.bin", tmp_path / "f.bin", checksum=_sha256(payload),
                 progress=False)
    assert dest.read_bytes() == payload
    assert server.requests == [("/f.bin", "bytes=5000-")]


def test_complete_part_with_known_size_needs_no_request(server, payload, tmp_path):
    server.routes["/f.bin"] = payload
    (tmp_path / "f.bin.part").write_bytes(payload)
    dest = fetch(f"{server.url}/f.bin", tmp_path / "f.bin", checksum=_sha256(payload),
                 expected_size=len(payload), progress=False)
    assert dest.read_bytes() == payload
    assert server.requests == []


def test_complete_part_with_unknown_size_accepts_416(server, payload, tmp_path):
    server.routes["/f.bin"] = payload
    (tmp_path / "f.bin.part").write_bytes(payload)
    dest = fetch(f"{server.url}/f.bin", tmp_path / "f.bin", checksum=_sha256(payload),
                 progress=False)
    assert dest.read_bytes() == payload
    assert server.requests == [("/f.bin", f"bytes={len(payload)}-")]


def test_existing_verified_file_is_reused(server, payload, tmp_path):
    (tmp_path / "f.bin").write_bytes(payload)
    fetch(f"{server.url}/f.bin", tmp_path / "f.bin", checksum=_sha256(payload), progress=False)
    assert server.requests == []


def test_existing_corrupt_file_is_downloaded_again(server, payload, tmp_path):
    server.routes["/f.bin"] = payload
    (tmp_path / "f.bin").write_bytes(b"old and wrong")
    fetch(f"{server.url}/f.bin", tmp_path / "f.bin", checksum=_sha256(payload), progress=False)
    assert (tmp_path / "f.bin").read_bytes() == payload


def test_no_resume_discards_part(server, payload, tmp_path):
    server.routes["/f.bin"] = payload
    (tmp_path / "f.bin.part").write_bytes(b"\x00" * 1000)
    fetch(f"{server.url}/f.bin", tmp_path / "f.bin", resume=False, progress=False)
    assert (tmp_path / "f.bin").read_bytes() == payload
    assert server.requests == [("/f.bin", None)]


def test_checksum_mismatch_names_file_and_both_hashes(server, payload, tmp_path):
    server.routes["/f.bin"] = payload
    wrong = hashlib.sha256(b"something else").hexdigest()
    with pytest.raises(ChecksumError) as err:
        fetch(f"{server.url}/f.bin", tmp_path / "f.bin", checksum=Checksum("sha256", wrong),
              progress=False)
    found = hashlib.sha256(payload).hexdigest()
    assert str(err.value) == (
        f"sha256 mismatch for f.bin: expected {wrong}, found {found} "
        f"(from {server.url}/f.bin; deleted, rerun to download it again)"
    )
    assert list(tmp_path.iterdir()) == []  # the bad .part is deleted, no dest either


def test_size_mismatch_is_a_checksum_error(server, payload, tmp_path):
    server.routes["/f.bin"] = payload
    with pytest.raises(ChecksumError, match=r"^size mismatch for f\.bin: expected 7 bytes, "
                                            r"found 300000 \(from http"):
        fetch(f"{server.url}/f.bin", tmp_path / "f.bin", expected_size=7, progress=False)


def test_http_404_names_url_and_status(server, tmp_path):
    url = f"{server.url}/missing.zip"
    with pytest.raises(DownloadError) as err:
        fetch(url, tmp_path / "missing.zip", progress=False)
    assert str(err.value) == f"HTTP 404 (Not Found) for {url}"
    assert list(tmp_path.iterdir()) == []


def test_dropped_connection_keeps_part_then_resumes(server, payload, tmp_path):
    url = f"{server.url}/f.bin"
    server.routes["/f.bin"] = payload
    server.truncate_at["/f.bin"] = 100_000
    part = tmp_path / "f.bin.part"
    with pytest.raises(DownloadError) as err:
        fetch(url, tmp_path / "f.bin", checksum=_sha256(payload), progress=False)
    assert str(err.value) == (
        f"connection to {url} closed after 100000 of 300000 bytes; rerun to resume from {part}"
    )
    assert part.read_bytes() == payload[:100_000]
    del server.truncate_at["/f.bin"]
    fetch(url, tmp_path / "f.bin", checksum=_sha256(payload), progress=False)
    assert (tmp_path / "f.bin").read_bytes() == payload
    assert server.requests[-1] == ("/f.bin", "bytes=100000-")


def test_resume_follows_redirect_with_range(server, payload, tmp_path):
    # figshare's download_url answers 302 to a storage host; the Range header must survive.
    server.routes["/store/f.bin"] = payload
    server.redirects["/ndownloader/files/1"] = f"{server.url}/store/f.bin"
    (tmp_path / "f.bin.part").write_bytes(payload[:2048])
    fetch(f"{server.url}/ndownloader/files/1", tmp_path / "f.bin", checksum=_sha256(payload),
          progress=False)
    assert (tmp_path / "f.bin").read_bytes() == payload
    assert server.requests == [("/ndownloader/files/1", "bytes=2048-"),
                               ("/store/f.bin", "bytes=2048-")]


def test_silent_server_times_out(server, payload, tmp_path):
    url = f"{server.url}/slow.bin"
    server.routes["/slow.bin"] = payload
    server.delay["/slow.bin"] = 1.0
    with pytest.raises(DownloadError) as err:
        fetch(url, tmp_path / "slow.bin", timeout=0.2, progress=False)
    assert str(err.value) == f"no response from {url} within 0.2 s"


def test_unreachable_host_names_url(tmp_path):
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/x.zip"
    with pytest.raises(DownloadError, match=rf"^cannot reach {re.escape(url)}: .*refused"):
        fetch(url, tmp_path / "x.zip", timeout=5, progress=False)


def test_checksum_rejects_malformed_digest():
    with pytest.raises(ValueError, match=r"^md5 checksum must be 32 hex digits, found 'abc'$"):
        Checksum("md5", "abc")


class _Always416(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self.send_response(416)
        self.send_header("Content-Range", "bytes */5")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def test_server_answering_416_to_everything_is_an_error_not_a_loop(tmp_path):
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Always416)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/f.bin"
        (tmp_path / "f.bin.part").write_bytes(b"abc")  # a stale part: resume asks bytes=3-
        with pytest.raises(DownloadError, match=r"^HTTP 416 \(Range Not Satisfiable\) without "
                                                r"a Range request for http://127\.0\.0\.1"):
            fetch(url, tmp_path / "f.bin", progress=False)
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)
