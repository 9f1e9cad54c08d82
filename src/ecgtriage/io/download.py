"""Resumable, checksum-verified HTTP downloads (standard library ``urllib`` only).

A file is streamed into ``<dest>.part``; on the next call the transfer resumes from the
``.part``'s size with an HTTP ``Range`` request. Servers that ignore ``Range`` answer ``200``
with the whole body: the ``.part`` is then truncated and rewritten from byte 0, so a resume
can never splice two different bodies together. Only a complete, verified file is renamed
to ``dest``.

Checksum policy: when the verified digest differs from the published one, the ``.part`` is
**deleted** (resuming cannot repair wrong bytes) and :class:`ChecksumError` names the file,
the algorithm and both digests; the next run downloads the file from scratch.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from ecgtriage import __version__
from ecgtriage.errors import DataError, UserError

#: Seconds a socket may stay silent (connect or read) before the download fails.
DEFAULT_TIMEOUT = 60.0
_CHUNK = 1 << 20
_USER_AGENT = f"ecgtriage/{__version__} (+urllib)"
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")
_UNSATISFIED_RANGE = re.compile(r"bytes\s+\*/(\d+)")


class DownloadError(UserError):
    """A transfer failed (HTTP status, network, truncated body); the message names the URL."""


class ChecksumError(DownloadError):
    """A downloaded file's digest differs from the published one."""


@dataclass(frozen=True)
class Checksum:
    """A published digest: ``algorithm`` is a :mod:`hashlib` name (``"sha256"``, ``"md5"``)."""

    algorithm: str
    hexdigest: str

    def __post_init__(self) -> None:
        expected_len = hashlib.new(self.algorithm).digest_size * 2
        if not re.fullmatch(rf"[0-9a-fA-F]{{{expected_len}}}", self.hexdigest):
            raise DataError(
                f"{self.algorithm} checksum must be {expected_len} hex digits, "
                f"found {self.hexdigest!r}"
            )


def file_digest(path: str | os.PathLike, algorithm: str, progress: bool = False) -> str:
    """Hex digest of a file, read in 1 MiB chunks.

    Parameters
    ----------
    path : file to hash.
    algorithm : a :mod:`hashlib` name, e.g. ``"sha256"`` or ``"md5"``.
    progress : show a tqdm bar (useful for multi-GB archives).
    """
    path = Path(path)
    digest = hashlib.new(algorithm)
    with open(path, "rb") as fh, tqdm(
        total=path.stat().st_size, unit="B", unit_scale=True, unit_divisor=1024,
        desc=f"{algorithm} {path.name}", disable=None if progress else True, leave=False,
    ) as bar:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
            bar.update(len(chunk))
    return digest.hexdigest()


def verify_file(
    path: str | os.PathLike, checksum: Checksum, progress: bool = False, label: str | None = None
) -> None:
    """Raise :class:`ChecksumError` naming the file and both digests when they differ.

    ``label`` is the name used in the message (default: the file's own name).
    """
    found = file_digest(path, checksum.algorithm, progress=progress)
    if found.lower() != checksum.hexdigest.lower():
        raise ChecksumError(
            f"{checksum.algorithm} mismatch for {label or Path(path).name}: "
            f"expected {checksum.hexdigest.lower()}, found {found}"
        )


def open_url(url: str, *, timeout: float = DEFAULT_TIMEOUT, headers: dict[str, str] | None = None):
    """``urlopen`` with the project's User-Agent, turning failures into :class:`DownloadError`.

    ``416`` responses are returned (not raised) because the resume logic interprets them.
    """
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT, **(headers or {})})
    try:
        return urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 - http(s) URLs only
    except urllib.error.HTTPError as exc:
        if exc.code == 416:
            return exc
        exc.close()
        raise DownloadError(f"HTTP {exc.code} ({exc.reason}) for {url}") from None
    except urllib.error.URLError as exc:
        raise DownloadError(f"cannot reach {url}: {exc.reason}") from None
    except TimeoutError:
        raise DownloadError(f"no response from {url} within {timeout:g} s") from None


def read_bytes(url: str, *, timeout: float = DEFAULT_TIMEOUT) -> bytes:
    """Whole body of a small resource (an API answer, a checksum list)."""
    with open_url(url, timeout=timeout) as response:
        try:
            return response.read()
        except TimeoutError:
            raise DownloadError(f"no data from {url} within {timeout:g} s") from None


def read_json(url: str, *, timeout: float = DEFAULT_TIMEOUT) -> Any:
    """Parse a JSON resource; a non-JSON body raises :class:`DownloadError` naming the URL."""
    body = read_bytes(url, timeout=timeout)
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DownloadError(f"expected JSON from {url}, found: {body[:80]!r} ({exc})") from None


def fetch(
    url: str,
    dest: str | os.PathLike,
    *,
    checksum: Checksum | None = None,
    expected_size: int | None = None,
    resume: bool = True,
    timeout: float = DEFAULT_TIMEOUT,
    progress: bool = True,
) -> Path:
    """Download ``url`` to ``dest``, resuming a previous ``dest.part`` and verifying it.

    Parameters
    ----------
    url : http(s) URL of the file.
    dest : final path; the transfer writes ``dest.part`` and renames it when verified.
    checksum : published digest; ``None`` skips verification (the size is still checked).
    expected_size : published size in bytes, checked before the rename.
    resume : continue an existing ``.part`` with a ``Range`` request; ``False`` discards it.
    timeout : seconds of socket silence before failing.
    progress : show a tqdm bar with bytes, rate and ETA.

    Returns
    -------
    ``dest``. An existing ``dest`` is reused without any request when it passes the
    checksum (or the size when no checksum is published); one that fails is deleted and
    downloaded again.

    Raises
    ------
    DownloadError : HTTP status (URL and status in the message), unreachable host, timeout,
        or a body shorter than announced (the ``.part`` is kept for the next resume).
    ChecksumError : digest or size mismatch; the ``.part`` is deleted.
    """
    dest = Path(dest)
    part = dest.with_name(dest.name + ".part")
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists():
        try:
            _check_complete(dest, dest.name, checksum, expected_size, progress)
            return dest
        except ChecksumError:
            # A damaged earlier result must not block a fresh download.
            dest.unlink()
    if part.exists() and not resume:
        part.unlink()
    offset = part.stat().st_size if part.exists() else 0
    if expected_size is not None and offset > expected_size:
        part.unlink()
        offset = 0
    if expected_size is None or offset < expected_size:
        _transfer(url, part, offset, expected_size, timeout, progress)
    try:
        _check_complete(part, dest.name, checksum, expected_size, progress)
    except ChecksumError as exc:
        part.unlink()
        raise ChecksumError(f"{exc} (from {url}; deleted, rerun to download it again)") from None
    os.replace(part, dest)
    return dest


def _check_complete(
    path: Path, label: str, checksum: Checksum | None, expected_size: int | None, progress: bool
) -> None:
    size = path.stat().st_size
    if expected_size is not None and size != expected_size:
        raise ChecksumError(
            f"size mismatch for {label}: expected {expected_size} bytes, found {size}"
        )
    if checksum is not None:
        verify_file(path, checksum, progress=progress, label=label)


def _transfer(
    url: str, part: Path, offset: int, expected_size: int | None, timeout: float, progress: bool
) -> None:
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    with open_url(url, timeout=timeout, headers=headers) as response:
        status = response.status if hasattr(response, "status") else response.code
        if status == 416:
            # Range past the end: the .part already holds the whole body when the server's
            # announced total equals its size; otherwise it is stale and must be refetched.
            match = _UNSATISFIED_RANGE.match(response.headers.get("Content-Range", ""))
            if match and int(match.group(1)) == offset:
                return
            if not offset:
                # 416 to a request without Range: retrying would loop (until RecursionError).
                raise DownloadError(f"HTTP 416 (Range Not Satisfiable) without a Range request "
                                    f"for {url}")
            part.unlink()
            _transfer(url, part, 0, expected_size, timeout, progress)
            return
        if status == 206:
            match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
            if not match or int(match.group(1)) != offset:
                raise DownloadError(
                    f"server answered Range bytes={offset}- with Content-Range "
                    f"{response.headers.get('Content-Range')!r} for {url}"
                )
            total = None if match.group(3) == "*" else int(match.group(3))
            mode = "ab"
        else:
            # 200: the server ignored Range and is sending the whole body from byte 0.
            offset = 0
            length = response.headers.get("Content-Length")
            total = int(length) if length is not None else expected_size
            mode = "wb"
        _stream(response, part, mode, offset, total, url, timeout, progress)


def _stream(
    response, part: Path, mode: str, offset: int, total: int | None, url: str,
    timeout: float, progress: bool,
) -> None:
    received = offset
    with open(part, mode) as fh, tqdm(
        total=total, initial=offset, unit="B", unit_scale=True, unit_divisor=1024,
        desc=part.name.removesuffix(".part"), disable=None if progress else True,
        leave=False,
    ) as bar:
        while True:
            try:
                chunk = response.read(_CHUNK)
            except TimeoutError:
                raise DownloadError(
                    f"no data from {url} within {timeout:g} s after {received} bytes; "
                    f"rerun to resume from {part}"
                ) from None
            except (OSError, http.client.HTTPException) as exc:
                raise DownloadError(
                    f"connection to {url} failed after {received} bytes ({exc}); "
                    f"rerun to resume from {part}"
                ) from None
            if not chunk:
                break
            fh.write(chunk)
            received += len(chunk)
            bar.update(len(chunk))
    if total is not None and received < total:
        raise DownloadError(
            f"connection to {url} closed after {received} of {total} bytes; "
            f"rerun to resume from {part}"
        )
