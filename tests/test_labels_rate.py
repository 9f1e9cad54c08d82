"""The AF/AFL > 110/min rule on cached signals (the rate itself is tested in test_signal_rate)."""

import numpy as np
import pandas as pd

from ecgtriage.labels import encode_targets
from test_signal_rate import irregular_beats, spike_train


def test_af_rate_rule_on_cached_signals():
    fs, rng = 100, np.random.default_rng(0)
    signals = np.zeros((4, 12, 1000), np.float16)
    signals[0, 1] = spike_train(irregular_beats(140, rng), fs)   # fast AF
    signals[1, 1] = spike_train(irregular_beats(80, rng), fs)    # controlled AF
    # row 2: flat lead II -> measurement fails -> falls back to Moderate
    signals[3, 1] = spike_train(irregular_beats(150, rng), fs)   # fast, but not AF
    index = pd.DataFrame({
        "record_id": ["fast", "slow", "flat", "stach"], "row": [0, 1, 2, 3],
        "statements": ["AFIB;SR", "AFLT", "AFIB", "STACH"],
    })
    t = encode_targets(index, "ptbxl", "tier4", signals=signals, fs=fs)
    assert t.y.tolist() == [3, 2, 2, 1]
    assert t.details["rate_status"].tolist()[:2] == ["measured", "measured"]
    assert t.details["rate_status"][2].startswith("failed: lead is flat")
    assert t.details["rate_status"][3] == ""  # no AF statement: rate never measured
    assert t.details["ventricular_rate"][0] > 110 > t.details["ventricular_rate"][1]
    assert t.details["rules"].tolist() == ["P4", "", "", ""]
