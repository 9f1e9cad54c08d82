"""Fetch the public PTB-XL and SPH releases into the layout the project's readers expect.

Resulting layout under ``out`` (``<name>`` is ``folder``, by default the dataset's name)::

    out/<name>/ptbxl_database.csv, scp_statements.csv, records100/, records500/, ...  (ptbxl)
    out/<name>/metadata.csv, code.csv, records/A00001.h5, ...                          (sph)
    out/.downloads/<name>/         archives and checksum lists while in progress
    out/.downloads/<name>/complete.json   written last; its presence means "done"

- **PTB-XL** (PhysioNet, v1.0.3): the release zip from
  ``<base>/static/published-projects/ptb-xl/<zip>`` and the per-file checksum list
  ``<base>/files/ptb-xl/1.0.3/SHA256SUMS.txt``. The zip's single top folder
  (``ptb-xl-a-large-publicly-available-electrocardiography-dataset-1.0.3/``) is flattened
  into ``out/ptbxl``, and every file listed in ``SHA256SUMS.txt`` is verified there.
- **SPH** (figshare collection 5779802, Liu et al., Sci Data 2022): the files of every
  article of the collection as listed by ``<api>/collections/<id>/articles`` and
  ``<api>/articles/<id>/files``, each verified against figshare's MD5 and size.
  ``records.tar.gz`` is extracted into ``out/sph/records`` (its own top folder, if any, is
  flattened), the other files (``metadata.csv``, ``code.csv``, ...) are copied beside it.

The dataset folder is assembled in a temporary sibling and renamed into place only when
complete and verified, so an interrupted run never leaves a half-populated ``out/<name>``.
A failed run removes the folders it created that are still empty (a partial download is kept,
so the next run resumes it).
When an extracted file fails its checksum the archive is deleted (its bytes are wrong, so
resuming cannot help) and the next run downloads it again.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from tqdm import tqdm

from ecgtriage.atomic import atomic_path, write_json
from ecgtriage.errors import DataError, UserError
from ecgtriage.io.download import (
    DEFAULT_TIMEOUT,
    Checksum,
    ChecksumError,
    DownloadError,
    fetch,
    file_digest,
    read_json,
)
from ecgtriage.io.extract import ExtractLimits, safe_extract

PHYSIONET_URL = "https://physionet.org"
PTBXL_VERSION = "1.0.3"
PTBXL_ZIP = f"ptb-xl-a-large-publicly-available-electrocardiography-dataset-{PTBXL_VERSION}.zip"
FIGSHARE_API_URL = "https://api.figshare.com/v2"
SPH_COLLECTION_ID = 5779802
SPH_REQUIRED_FILES = ("metadata.csv", "code.csv", "records.tar.gz")
PTBXL_REQUIRED = ("ptbxl_database.csv", "scp_statements.csv", "records100", "records500")
DATASETS = ("ptbxl", "sph")


@dataclass(frozen=True)
class DownloadSummary:
    """Outcome of :func:`download_dataset`.

    Attributes
    ----------
    path : the dataset folder (``out/ptbxl`` or ``out/sph``).
    n_files : files in the dataset folder.
    n_verified : files whose checksum was verified (PTB-XL: per extracted file;
        SPH: per downloaded file).
    already_present : the folder was complete from an earlier run; nothing was fetched.
    """

    path: Path
    n_files: int
    n_verified: int
    already_present: bool


def download_dataset(name: str, out: str | os.PathLike, **kwargs) -> DownloadSummary:
    """Download ``"ptbxl"`` or ``"sph"`` into ``out``.

    Keyword arguments go to :func:`download_ptbxl` or :func:`download_sph`.
    """
    if name == "ptbxl":
        return download_ptbxl(out, **kwargs)
    if name == "sph":
        return download_sph(out, **kwargs)
    raise UserError(f"unknown dataset {name!r}: expected one of {', '.join(DATASETS)}")


def parse_sha256sums(text: str, source: str = "SHA256SUMS.txt") -> dict[str, str]:
    """Parse ``sha256sum`` output (``<64 hex> <path>``, optional ``*`` binary marker).

    Raises ``ValueError`` naming ``source`` and the line number for a malformed line.
    """
    sums: dict[str, str] = {}
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        digest, _, path = line.strip().partition(" ")
        path = path.lstrip(" ").removeprefix("*")
        try:
            Checksum("sha256", digest)
        except ValueError:
            raise DataError(
                f"{source} line {lineno}: expected '<64 hex digits> <path>', found {line!r}"
            ) from None
        if not path:
            raise DataError(f"{source} line {lineno}: missing file path after the digest")
        if path.startswith("/") or ".." in path.split("/"):
            # The list names files inside the release; anything else would hash files elsewhere.
            raise DataError(f"{source} line {lineno}: path {path!r} points outside the release")
        sums[path] = digest.lower()
    if not sums:
        raise DataError(f"{source}: no checksums found")
    return sums


def verify_tree(root: Path, sums: dict[str, str], source: str, progress: bool = True) -> int:
    """Check every file listed in ``sums`` under ``root``; return how many were verified.

    Raises :class:`ChecksumError` naming the first missing or mismatching file and, for a
    mismatch, the expected and found SHA-256.
    """
    for rel, expected in tqdm(sorted(sums.items()), desc=f"verify {root.name}", unit="file",
                              disable=None if progress else True, leave=False):
        path = root / rel
        if not path.is_file():
            raise ChecksumError(f"{rel} is listed in {source} but missing from the archive")
        found = file_digest(path, "sha256")
        if found != expected:
            raise ChecksumError(f"sha256 mismatch for {rel}: expected {expected}, found {found}")
    return len(sums)


def download_ptbxl(
    out: str | os.PathLike,
    *,
    base_url: str = PHYSIONET_URL,
    resume: bool = True,
    timeout: float = DEFAULT_TIMEOUT,
    keep_archives: bool = False,
    progress: bool = True,
    folder: str = "ptbxl",
    limits: ExtractLimits | None = None,
) -> DownloadSummary:
    """Download, extract and verify PTB-XL v1.0.3 into ``out/<folder>``.

    Parameters
    ----------
    out : parent folder; the dataset lands in ``out/<folder>``.
    base_url : PhysioNet site root (tests point it at a local server).
    resume : continue a partial download of the zip.
    timeout : seconds of socket silence before failing.
    keep_archives : keep the zip under ``out/.downloads/<folder>`` after success.
    progress : show tqdm bars.
    folder : name of the dataset folder under ``out`` (``ecgtriage download --out DIR`` passes
        DIR's name).
    limits : bounds on the archive's member count, uncompressed size and compression ratio
        (default :data:`ecgtriage.io.extract.DEFAULT_LIMITS`); an archive over them is refused
        before anything is extracted.
    """
    out = Path(out)
    target, work_dir, marker = _paths(out, folder)
    with _remove_empty_on_failure(out, work_dir):
        return _download_ptbxl(target, work_dir, marker, base_url, resume, timeout,
                               keep_archives, progress, limits)


def _download_ptbxl(target: Path, work_dir: Path, marker: Path, base_url: str, resume: bool,
                    timeout: float, keep_archives: bool, progress: bool,
                    limits: ExtractLimits | None) -> DownloadSummary:
    if marker.is_file() and target.is_dir():
        return _present(target)
    _refuse_foreign(target, marker)
    base = base_url.rstrip("/")
    sums_url = f"{base}/files/ptb-xl/{PTBXL_VERSION}/SHA256SUMS.txt"
    zip_url = f"{base}/static/published-projects/ptb-xl/{PTBXL_ZIP}"
    # Always refetched: a stale or damaged list left by an earlier run would fail every rerun.
    (work_dir / "SHA256SUMS.txt").unlink(missing_ok=True)
    sums_path = fetch(sums_url, work_dir / "SHA256SUMS.txt", resume=False, timeout=timeout,
                      progress=False)
    try:
        sums_text = sums_path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        # An error page or a binary body in place of the list: the server's answer, not a bug.
        raise DataError(f"{sums_url}: expected a text checksum list, found bytes that are not "
                        f"UTF-8 (byte {exc.start})") from None
    sums = parse_sha256sums(sums_text, source=sums_url)
    archive = fetch(zip_url, work_dir / PTBXL_ZIP, resume=resume, timeout=timeout,
                    progress=progress)
    try:
        with atomic_path(target) as staging:
            safe_extract(archive, staging, strip_top_dir=True, progress=progress, limits=limits)
            n_verified = verify_tree(staging, sums, "SHA256SUMS.txt", progress=progress)
            _require(staging, PTBXL_REQUIRED, archive.name)
    except (ChecksumError, ValueError) as exc:
        # Wrong or unreadable content cannot be repaired by resuming: fetch it afresh next time.
        archive.unlink()
        kind = type(exc) if isinstance(exc, UserError) else DataError
        raise kind(f"{exc}; deleted {archive.name}, rerun to download it again") from None
    return _finish(target, work_dir, marker, n_verified, keep_archives,
                   {"dataset": "ptbxl", "version": PTBXL_VERSION, "urls": [zip_url, sums_url]})


def download_sph(
    out: str | os.PathLike,
    *,
    api_url: str = FIGSHARE_API_URL,
    collection_id: int = SPH_COLLECTION_ID,
    resume: bool = True,
    timeout: float = DEFAULT_TIMEOUT,
    keep_archives: bool = False,
    progress: bool = True,
    folder: str = "sph",
    limits: ExtractLimits | None = None,
) -> DownloadSummary:
    """Download the SPH figshare collection, verify MD5s and lay it out in ``out/<folder>``.

    Parameters
    ----------
    out : parent folder; the dataset lands in ``out/<folder>``.
    api_url : figshare API root (tests point it at a local server).
    collection_id : figshare collection holding the SPH articles.
    resume, timeout, keep_archives, progress, folder, limits : as for :func:`download_ptbxl`.
    """
    out = Path(out)
    target, work_dir, marker = _paths(out, folder)
    with _remove_empty_on_failure(out, work_dir):
        return _download_sph(target, work_dir, marker, api_url, collection_id, resume, timeout,
                             keep_archives, progress, limits)


def _download_sph(target: Path, work_dir: Path, marker: Path, api_url: str, collection_id: int,
                  resume: bool, timeout: float, keep_archives: bool,
                  progress: bool, limits: ExtractLimits | None) -> DownloadSummary:
    if marker.is_file() and target.is_dir():
        return _present(target)
    _refuse_foreign(target, marker)
    files = list_figshare_files(api_url, collection_id, timeout=timeout)
    missing = [name for name in SPH_REQUIRED_FILES if name not in files]
    if missing:
        raise DownloadError(
            f"figshare collection {collection_id} lacks {', '.join(missing)} "
            f"(found: {', '.join(sorted(files)) or 'no files'})"
        )
    local = {}
    for name, info in files.items():
        local[name] = fetch(info["url"], work_dir / name, checksum=info["checksum"],
                            expected_size=info["size"], resume=resume, timeout=timeout,
                            progress=progress)
    with atomic_path(target) as staging:
        staging.mkdir()
        for name, path in local.items():
            if name != "records.tar.gz":
                shutil.copy2(path, staging / name)
                continue
            try:
                safe_extract(path, staging / "records", strip_top_dir=True, progress=progress,
                             limits=limits)
            except ValueError as exc:
                path.unlink()
                raise DataError(f"{exc}; deleted {name}, rerun to download it again") from None
        if not any((staging / "records").glob("*.h5")):
            found = sorted(p.name for p in (staging / "records").iterdir())[:5]
            raise DataError(
                f"records.tar.gz: expected records/*.h5 after extraction, found {found}"
            )
    urls = [info["url"] for info in files.values()]
    return _finish(target, work_dir, marker, len(local), keep_archives,
                   {"dataset": "sph", "collection_id": collection_id, "urls": urls})


def list_figshare_files(
    api_url: str, collection_id: int, *, timeout: float = DEFAULT_TIMEOUT
) -> dict[str, dict]:
    """Files of every article in a figshare collection.

    Returns ``{name: {"url", "size", "checksum" (MD5 Checksum or None)}}``; raises
    :class:`DownloadError` for an unexpected API answer or two files with the same name.
    """
    api = api_url.rstrip("/")
    articles_url = f"{api}/collections/{collection_id}/articles?page_size=1000"
    articles = read_json(articles_url, timeout=timeout)
    if not isinstance(articles, list) or not all(
        isinstance(a, dict) and "id" in a for a in articles
    ):
        raise DownloadError(f"expected a JSON list of articles with 'id' from {articles_url}")
    files: dict[str, dict] = {}
    for article in articles:
        files_url = f"{api}/articles/{quote(str(article['id']))}/files?page_size=1000"
        listing = read_json(files_url, timeout=timeout)
        if not isinstance(listing, list):
            raise DownloadError(f"expected a JSON list of files from {files_url}")
        for item in listing:
            name = item.get("name", "") if isinstance(item, dict) else ""
            if not isinstance(name, str) or not name or "/" in name or "\\" in name \
                    or name in (".", "..") or "\x00" in name:
                raise DownloadError(f"unsafe or missing file name {name!r} in {files_url}")
            if "download_url" not in item:
                raise DownloadError(f"file {name!r} has no download_url in {files_url}")
            if name in files:
                raise DownloadError(
                    f"file name {name!r} occurs twice in collection {collection_id}"
                )
            md5 = item.get("computed_md5") or item.get("supplied_md5")
            size = item.get("size")
            url = item["download_url"]
            # The API's answer is input like any file: a wrong type here must be a message
            # naming the listing, not a TypeError deep in the download.
            if md5 is not None and not isinstance(md5, str) or not isinstance(url, str) or (
                size is not None and (not isinstance(size, int) or isinstance(size, bool)
                                      or size < 0)):
                raise DownloadError(
                    f"file {name!r} in {files_url}: expected a string download_url and md5 and "
                    f"a non-negative integer size, found {url!r}, {md5!r}, {size!r}"
                )
            files[name] = {
                "url": url,
                "size": size,
                "checksum": Checksum("md5", md5) if md5 else None,
            }
    return files


@contextlib.contextmanager
def _remove_empty_on_failure(out: Path, work_dir: Path):
    """On an exception, remove the folders this call created that are still empty.

    A folder holding a partial download is kept (the next run resumes it); an empty one would
    only leave the user wondering whether something was downloaded.
    """
    # Top-down: out's missing ancestors, out, out/.downloads, out/.downloads/<name>.
    candidates = [*reversed(out.absolute().parents), out.absolute(), work_dir.parent.absolute(),
                  work_dir.absolute()]
    created = [d for d in candidates if not d.exists()]
    try:
        yield
    except BaseException:
        for folder in reversed(created):
            try:
                folder.rmdir()
            except OSError:
                pass  # not empty (a partial download to resume) or already gone
        raise


def _paths(out: Path, name: str) -> tuple[Path, Path, Path]:
    work_dir = out / ".downloads" / name
    return out / name, work_dir, work_dir / "complete.json"


def _refuse_foreign(target: Path, marker: Path) -> None:
    # Replacing a folder we did not write could destroy a user's own copy of the data.
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise UserError(
            f"{target} already exists and was not completed by 'ecgtriage download' "
            f"(no {marker}); remove it or choose another --out"
        )


def _require(root: Path, names: tuple[str, ...], archive: str) -> None:
    missing = [n for n in names if not (root / n).exists()]
    if missing:
        raise DataError(f"{archive}: expected {', '.join(missing)} in the release, not found")


def _count_files(root: Path) -> int:
    return sum(len(files) for _, _, files in os.walk(root))


def _present(target: Path) -> DownloadSummary:
    return DownloadSummary(target, _count_files(target), 0, already_present=True)


def _finish(target: Path, work_dir: Path, marker: Path, n_verified: int,
            keep_archives: bool, info: dict) -> DownloadSummary:
    if not keep_archives:
        for path in work_dir.iterdir():
            if path.is_file() and path != marker:
                path.unlink()
    n_files = _count_files(target)
    write_json(marker, {**info, "path": str(target), "n_files": n_files,
                        "n_verified": n_verified,
                        "completed": _dt.datetime.now(_dt.timezone.utc).isoformat()})
    return DownloadSummary(target, n_files, n_verified, already_present=False)
