"""Torch dataset over cached signals (a memmap or any (N, leads, T) array) and its targets."""

from __future__ import annotations

import os

import numpy as np
import torch
from tqdm.auto import tqdm


class SignalDataset(torch.utils.data.Dataset):
    """Rows of a signal array (e.g. ``Cache.signals``) with their targets, as float32 tensors.

    Parameters
    ----------
    signals : (N_cache, leads, T) array; a float16 memmap is read lazily, row by row.
    rows : positions into ``signals`` of the records in this dataset (join on record ids first).
    targets : (len(rows), C) multi-hot or (len(rows),) class indices, aligned with ``rows``.
    record_ids : optional record ids aligned with ``rows`` (kept for prediction tables).
    """

    def __init__(self, signals, rows, targets, record_ids=None) -> None:
        rows = np.asarray(rows, dtype=np.int64)
        targets = np.asarray(targets)
        if signals.ndim != 3:
            raise ValueError(f"signals: expected shape (N, leads, samples), found {signals.shape}")
        if len(targets) != len(rows):
            raise ValueError(f"targets: expected {len(rows)} rows (one per record), found {len(targets)}")
        if len(rows) and (rows.min() < 0 or rows.max() >= len(signals)):
            raise ValueError(f"rows: expected positions in [0, {len(signals)}), found {rows.min()}..{rows.max()}")
        if record_ids is not None and len(record_ids) != len(rows):
            raise ValueError(f"record_ids: expected {len(rows)} ids, found {len(record_ids)}")
        self.signals, self.rows, self.targets = signals, rows, targets
        self.record_ids = None if record_ids is None else [str(r) for r in record_ids]

    @property
    def n_leads(self) -> int:
        return int(self.signals.shape[1])

    @property
    def n_samples(self) -> int:
        return int(self.signals.shape[2])

    @property
    def nbytes_float32(self) -> int:
        return len(self.rows) * self.n_leads * self.n_samples * 4

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = np.asarray(self.signals[self.rows[i]], dtype=np.float32)
        return torch.from_numpy(x), torch.as_tensor(self.targets[i])

    def target_tensor(self) -> torch.Tensor:
        t = torch.as_tensor(self.targets)
        return t.float() if t.ndim == 2 else t.long()

    def load_tensor(self, chunk: int = 1024, progress: bool = True) -> torch.Tensor:
        """All rows as one float32 tensor in RAM, read from the memmap once in sorted chunks."""
        out = torch.empty((len(self.rows), self.n_leads, self.n_samples), dtype=torch.float32)
        order = np.argsort(self.rows, kind="stable")  # sequential reads on the memmap
        bar = tqdm(total=len(self.rows), unit="rec", desc="loading signals",
                   disable=None if progress else True, leave=False)
        for start in range(0, len(order), chunk):
            pos = order[start:start + chunk]
            block = np.asarray(self.signals[self.rows[pos]], dtype=np.float32)
            out[torch.from_numpy(pos)] = torch.from_numpy(block)
            bar.update(len(pos))
        bar.close()
        return out


def available_memory_bytes() -> int:
    """Physical memory currently available (Linux ``SC_AVPHYS_PAGES``), or 0 when unknown."""
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 0
