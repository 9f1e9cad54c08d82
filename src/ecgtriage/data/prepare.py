"""``prepare``: read every record of a source, preprocess it, and write a cache.

Records are processed in chunks by a process pool; each worker opens the source files itself
and writes its rows straight into the memory-mapped ``signals.npy`` (no signal data crosses a
pipe). The cache is built in a hidden temporary folder and renamed into place at the end, so an
interrupted run leaves nothing that looks complete.
"""

from __future__ import annotations

import datetime as _dt
import errno
import hashlib
import json
import math
import multiprocessing
import os
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from ecgtriage import __version__, atomic
from ecgtriage.config import to_dict
from ecgtriage.data.cache import (
    CACHE_LAYOUT_VERSION,
    EXCLUDED_FILE,
    INDEX_COLUMNS,
    INDEX_FILE,
    MANIFEST_FILE,
    SIGNALS_FILE,
    Cache,
    is_cache,
    open_cache,
)
from ecgtriage.data.fingerprint import source_fingerprint
from ecgtriage.data.quality import DEFAULT_QUALITY, QualityLimits, quality_problem, rate_problem
from ecgtriage.errors import ConfigError, DataError
from ecgtriage.io.base import Source
from ecgtriage.leads import CANONICAL_LEADS
from ecgtriage.signal.filters import effective_band
from ecgtriage.signal.preprocess import PreprocessConfig, preprocess_many

#: ``prepare``'s settings are exactly the preprocessing settings (rate, window, filter, policies).
PrepareConfig = PreprocessConfig


class PrepareError(DataError):
    """``--strict`` prepare found records it would exclude; ``excluded`` lists them."""

    def __init__(self, message: str, excluded: pd.DataFrame) -> None:
        super().__init__(message)
        self.excluded = excluded


def preprocessing_record(config: PreprocessConfig) -> dict[str, Any]:
    """The ``preprocessing`` block of ``manifest.json``: the config plus what it resolved to."""
    low, high = effective_band(config.fs, config.band_low_hz, config.band_high_hz)
    return {
        **to_dict(config),
        "n_samples": config.n_samples,
        "steps": [
            "resample (scipy.signal.resample_poly, rational ratio)",
            f"band-pass Butterworth order {config.filter_order}, zero-phase sosfiltfilt, "
            f"{low if low is not None else 'none'}-{high if high is not None else 'none'} Hz",
            f"window {config.seconds:g} s: crop {config.crop}, pad {config.pad} at {config.pad_side}",
            f"amplitude {config.amplitude_policy} at ±{config.amplitude_limit_mv:g} mV",
            "store float16",
        ],
        "effective_band_hz": [low, high],
    }


def cache_key(source: Source, config: PreprocessConfig, fingerprint: str,
              quality: QualityLimits = DEFAULT_QUALITY) -> str:
    """Hash of everything a cache depends on: source files, format, preprocessing, quality
    limits, layout and package version."""
    blob = json.dumps(
        {
            "quality": to_dict(quality),
            "source_fingerprint": fingerprint,
            "format": source.format,
            "preprocessing": to_dict(config),
            "layout": CACHE_LAYOUT_VERSION,
            # A new release may preprocess differently under the same settings.
            "package_version": __version__,
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()


def default_workers() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


# -- worker side ----------------------------------------------------------------------------------
_WORKER_SOURCE: Source | None = None


#: Records preprocessed together (bounded so a batch of long 500 Hz records stays small).
_BATCH = 32


def _init_worker(source: Source) -> None:
    global _WORKER_SOURCE
    _WORKER_SOURCE = source
    try:
        # Each worker is one core's worth of work; a multi-threaded BLAS inside scipy's filter
        # design would oversubscribe the cores (measured: 2 workers slower than 1 without this).
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except ImportError:
        pass


def _write_row(signals: np.ndarray, pos: int, signal: np.ndarray) -> None:
    """Store one preprocessed record in the (pre-allocated) signals array."""
    signals[pos] = signal


def _process_chunk(
    positions: list[int], record_ids: list[str], config: PreprocessConfig, signals_path: str,
    source: Source | None = None, quality: QualityLimits = DEFAULT_QUALITY,
) -> list[dict[str, Any]]:
    """Preprocess records and write them at ``positions`` of ``signals_path``; one result each.

    Records that are not usable ECGs (:mod:`ecgtriage.data.quality`) come back excluded with
    the reason and are not written.
    """
    src = source if source is not None else _WORKER_SOURCE
    signals = np.load(signals_path, mmap_mode="r+")
    results: list[dict[str, Any]] = []
    for start in range(0, len(record_ids), _BATCH):
        batch = list(zip(positions[start : start + _BATCH], record_ids[start : start + _BATCH]))
        records = []
        for pos, rid in batch:
            try:
                record = src.read(rid, fs=config.fs)
            except Exception as exc:  # noqa: BLE001 - one broken record must not abort the run
                results.append(_excluded(src, rid, pos, exc, config.fs))
                continue
            # Before preprocessing: resampling a 1 Hz "ECG" to 100 Hz only invents samples.
            problem = rate_problem(record.extra.get("fs_source", record.fs), quality)
            if problem:
                results.append({"record_id": rid, "pos": pos, "reason": problem,
                                "file": _file_of(src, rid, config.fs)})
                continue
            records.append((pos, rid, record))
        outs = preprocess_many([r.signal for _, _, r in records], [r.fs for _, _, r in records], config)
        for (pos, rid, record), out in zip(records, outs):
            if isinstance(out, Exception):
                results.append(_excluded(src, rid, pos, out, config.fs))
                continue
            problem = quality_problem(record.signal, out.signal, out.n_clipped, quality)
            if problem:
                results.append({"record_id": rid, "pos": pos, "reason": problem,
                                "file": _file_of(src, rid, config.fs)})
                continue
            _write_row(signals, pos, out.signal)
            results.append({
                "record_id": rid, "pos": pos, "reason": None, "file": _file_of(src, rid, config.fs),
                "fs_source": float(record.extra["fs_source"]),
                "n_samples_source": int(record.extra["n_samples_source"]),
                "n_clipped": out.n_clipped,
            })
    signals.flush()
    del signals
    return results


def _excluded(src: Source, rid: str, pos: int, exc: BaseException, fs: float) -> dict[str, Any]:
    if isinstance(exc, (ValueError, OSError, KeyError)):
        reason = _reason(exc)
    else:
        reason = f"{type(exc).__name__}: {exc}"
    return {"record_id": rid, "pos": pos, "reason": reason, "file": _file_of(src, rid, fs)}


def _reason(exc: BaseException) -> str:
    text = str(exc)
    # KeyError repr-quotes its message.
    return text[1:-1] if isinstance(exc, KeyError) and len(text) > 1 and text[0] == text[-1] == "'" else text


def _file_of(source: Source, rid: str, fs: float) -> str:
    try:
        return source.relative(source.record_file(rid, fs))
    except Exception:  # noqa: BLE001 - only used to label an exclusion
        return ""


# -- driver ---------------------------------------------------------------------------------------
def prepare(
    source: Source | str | os.PathLike,
    out: str | os.PathLike,
    config: PrepareConfig | None = None,
    strict: bool = False,
    workers: int | None = None,
    progress: bool | None = None,
    log: Callable[[str], None] | None = None,
    quality: QualityLimits = DEFAULT_QUALITY,
) -> Cache:
    """Preprocess every record of ``source`` into the cache folder ``out`` and open it.

    Parameters
    ----------
    source : a :class:`~ecgtriage.io.base.Source` or a folder for :func:`open_source`.
    out : cache folder. An existing cache with the same ``content_hash`` (same source files,
        format and preprocessing) is reused as is; any other cache there is replaced.
    config : preprocessing settings (default ``PrepareConfig()``: 100 Hz, 10 s).
    strict : raise :class:`PrepareError` listing the records that would be excluded, writing
        nothing, instead of excluding them.
    workers : processes (default: all available cores); 1 runs in this process.
    progress : show a tqdm bar (``None``: only on a terminal).
    log : where to report reuse and exclusions (default: print to stderr).
    quality : limits beyond which a record is excluded as not a usable ECG (flat, mostly
        clipped, implausible rate; :mod:`ecgtriage.data.quality`).

    Returns
    -------
    Cache
        The opened cache; ``cache.reused`` tells whether it was already up to date.
    """
    from ecgtriage.io.sources import open_source

    config = config or PrepareConfig()
    say = log or (lambda msg: print(msg, file=sys.stderr))
    src = source if isinstance(source, Source) else open_source(source)
    out_path = Path(out)
    _check_output_folder(out_path)
    # Also when the cache turns out up to date below: an earlier run killed mid-write (or on
    # a full disk) may have left its temporary folder beside it.
    atomic.clean_stale_temporaries(out_path)

    metadata = src.metadata()
    problems = src.problems()
    fingerprint = source_fingerprint(src.root, skip=out_path)
    key = cache_key(src, config, fingerprint, quality)

    existing = _existing_cache(out_path, key)
    if existing is not None:
        say(f"reusing the existing cache at {out_path} (content hash {key[:12]} matches)")
        _check_strict(strict, existing.excluded, src)
        existing.reused = True
        return existing

    if strict and len(problems):
        _check_strict(strict, problems, src)

    workers = max(1, int(workers or default_workers()))
    # Replacing a folder is safe here: _check_output_folder let through only an empty folder
    # or a cache (which prepare wrote).
    with atomic.atomic_path(out_path, replace_dir=True) as tmp:
        excluded = _write_cache(tmp, src, metadata, problems, config, key, fingerprint,
                                strict=strict, workers=workers, progress=progress, quality=quality)
    if len(excluded):
        say(f"excluded {len(excluded)} of {len(metadata) + len(problems)} records "
            f"(see {out_path / EXCLUDED_FILE}); first: "
            f"{excluded['record_id'].iloc[0]}: {excluded['reason'].iloc[0]}")
    return open_cache(out_path)


def _check_output_folder(out_path: Path) -> None:
    """Refuse an output that is a file, or a non-empty folder that is not a cache: replacing
    it would delete whatever the user keeps there."""
    if out_path.exists() and not out_path.is_dir():
        raise ConfigError(f"cache output {out_path} exists and is not a folder")
    if out_path.is_dir() and any(out_path.iterdir()) and not (out_path / MANIFEST_FILE).is_file():
        raise ConfigError(f"refusing to write the cache into {out_path}: it is not empty and holds no {MANIFEST_FILE}")


def _write_cache(
    tmp: Path,
    src: Source,
    metadata: pd.DataFrame,
    problems: pd.DataFrame,
    config: PrepareConfig,
    key: str,
    fingerprint: str,
    *,
    strict: bool,
    workers: int,
    progress: bool | None,
    quality: QualityLimits = DEFAULT_QUALITY,
) -> pd.DataFrame:
    """Write a whole cache into the empty temporary folder ``tmp``; return its exclusions.

    Raises before the manifest is written (strict mode, nothing cached), so an interrupted or
    refused run never leaves a folder that looks complete.
    """
    ids = metadata["record_id"].tolist()
    n = len(ids)
    tmp.mkdir()
    partial = tmp / ("partial-" + SIGNALS_FILE)
    _allocate_signals(partial, (n, 12, config.n_samples))
    results = _run(src, ids, config, str(partial), workers, progress, quality)
    results.sort(key=lambda r: r["pos"])
    kept = [r for r in results if r["reason"] is None]
    dropped = [r for r in results if r["reason"] is not None]
    excluded = pd.concat(
        [problems, pd.DataFrame([{k: r[k] for k in ("record_id", "file", "reason")} for r in dropped],
                                columns=["record_id", "file", "reason"])],
        ignore_index=True,
    )
    _check_strict(strict, excluded, src)
    if not kept:
        first = excluded.iloc[0] if len(excluded) else None
        raise DataError(
            f"no record of {src.root} could be cached ({len(excluded)} excluded"
            + (f"; first: {first['record_id']}: {first['reason']})" if first is not None else ")")
        )
    _finalise_signals(tmp, partial, [r["pos"] for r in kept], n)
    index = _index_table(src, metadata, kept)
    index.to_csv(tmp / INDEX_FILE, index=False)
    excluded.to_csv(tmp / EXCLUDED_FILE, index=False)
    # The manifest is the completeness marker: written last.
    atomic.write_json(tmp / MANIFEST_FILE, {**_manifest(src, config, key, fingerprint, len(index),
                                                        len(excluded)), "quality": to_dict(quality)})
    return excluded


def _manifest(
    src: Source, config: PrepareConfig, key: str, fingerprint: str, n_records: int, n_excluded: int
) -> dict[str, Any]:
    """``manifest.json``: what the cache holds and everything that decided its content."""
    return {
        "source": str(src.root.resolve()),
        "format": src.format,
        "fs": config.fs,
        "seconds": config.seconds,
        "n_samples": config.n_samples,
        "leads": list(CANONICAL_LEADS),
        "units": "mV",
        "dtype": "float16",
        "preprocessing": preprocessing_record(config),
        "package_version": __version__,
        "content_hash": key,
        "source_fingerprint": fingerprint,
        "layout_version": CACHE_LAYOUT_VERSION,
        "n_records": n_records,
        "n_excluded": n_excluded,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


def _existing_cache(out_path: Path, key: str) -> Cache | None:
    if not is_cache(out_path):
        return None
    try:
        cache = open_cache(out_path)
    except (OSError, ValueError):
        return None
    return cache if cache.manifest.get("content_hash") == key else None


def _check_strict(strict: bool, excluded: pd.DataFrame, source: Source) -> None:
    if not strict or not len(excluded):
        return
    lines = [f"  {r.record_id} ({r.file}): {r.reason}" for r in excluded.head(20).itertuples()]
    more = f"\n  ... and {len(excluded) - 20} more" if len(excluded) > 20 else ""
    raise PrepareError(
        f"--strict: {len(excluded)} record(s) of {source.root} cannot be cached:\n" + "\n".join(lines) + more,
        excluded,
    )


def _chunks(n: int, workers: int) -> list[range]:
    size = max(16, min(256, math.ceil(n / max(1, workers * 8))))
    return [range(i, min(n, i + size)) for i in range(0, n, size)]


def _run(
    src: Source, ids: list[str], config: PreprocessConfig, signals_path: str, workers: int,
    progress: bool | None, quality: QualityLimits = DEFAULT_QUALITY,
) -> list[dict[str, Any]]:
    from tqdm.auto import tqdm

    chunks = _chunks(len(ids), workers)
    results: list[dict[str, Any]] = []
    bar = tqdm(total=len(ids), unit="rec", desc=f"prepare {src.format}", disable=None if progress is None else not progress)
    try:
        if workers == 1 or len(chunks) <= 1:
            for chunk in chunks:
                results += _process_chunk(list(chunk), [ids[i] for i in chunk], config, signals_path, src,
                                          quality)
                bar.update(len(chunk))
            return results
        methods = multiprocessing.get_all_start_methods()
        # fork shares the parsed metadata with the workers for free; elsewhere it is pickled once.
        context = multiprocessing.get_context("fork" if "fork" in methods else None)
        with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_init_worker, initargs=(src,)) as pool:
            futures = {
                pool.submit(_process_chunk, list(chunk), [ids[i] for i in chunk], config, signals_path,
                            None, quality): len(chunk)
                for chunk in chunks
            }
            try:
                for future in as_completed(futures):
                    results += future.result()
                    bar.update(futures[future])
            except BaseException:
                # A failed chunk (a full disk) fails the run: do not wait for the others.
                pool.shutdown(wait=True, cancel_futures=True)
                raise
        return results
    finally:
        bar.close()


def _allocate_signals(path: Path, shape: tuple[int, ...]) -> None:
    """Create the float16 ``.npy`` at ``path`` with every block of its data reserved on disk.

    ``open_memmap`` makes a sparse file; writing through a memory map into a sparse file on a
    full disk kills the writer with SIGBUS (a worker dies and the pool breaks). Reserving the
    space first turns a full disk into an ``OSError`` (ENOSPC) here, before any work.
    """
    signals = np.lib.format.open_memmap(path, mode="w+", dtype=np.float16, shape=shape)
    offset = signals.offset
    del signals
    size = offset + int(np.prod(shape)) * 2
    with open(path, "r+b") as handle:
        if hasattr(os, "posix_fallocate") and size > 0:
            try:
                os.posix_fallocate(handle.fileno(), 0, size)
            except OSError as exc:
                if exc.errno in (errno.EINVAL, errno.EOPNOTSUPP):  # file system without it
                    return
                raise OSError(exc.errno, exc.strerror, str(path)) from None


def _finalise_signals(tmp: Path, partial: Path, keep: list[int], n: int) -> None:
    """Rename the partial array into place, compacting it first when records were excluded."""
    final = tmp / SIGNALS_FILE
    if len(keep) == n:
        os.replace(partial, final)
        return
    source = np.load(partial, mmap_mode="r")
    _allocate_signals(final, (len(keep),) + source.shape[1:])
    target = np.load(final, mmap_mode="r+")
    keep_arr = np.asarray(keep, dtype=np.int64)
    step = 1024
    for start in range(0, len(keep_arr), step):
        target[start : start + step] = source[keep_arr[start : start + step]]
    target.flush()
    del source, target
    partial.unlink()


def _index_table(src: Source, metadata: pd.DataFrame, kept: list[dict[str, Any]]) -> pd.DataFrame:
    per_record = pd.DataFrame(kept, columns=["record_id", "file", "fs_source", "n_samples_source", "n_clipped"])
    per_record.insert(1, "row", np.arange(len(per_record), dtype=np.int64))
    extra = [c for c in src.index_columns if c in metadata.columns and c not in per_record.columns]
    base = metadata[["record_id", "patient_id", "fold", "statements", "age", "sex", *extra]]
    index = per_record.merge(base, on="record_id", how="left", validate="one_to_one")
    return index[list(INDEX_COLUMNS) + extra]
