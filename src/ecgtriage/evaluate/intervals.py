"""Intervals and verdicts for the study's claims: proportions, paired differences, seed spread.

* :func:`wilson_interval` / :func:`exact_interval` / :func:`proportion_ci`: binomial
  intervals for proportions with few events (a Serious sensitivity on ~7 records), where a
  percentile bootstrap is coarse and can collapse to a point. Both come from
  :meth:`scipy.stats.binomtest(...).proportion_ci <scipy.stats._result_classes.BinomTestResult.proportion_ci>`.
* :func:`paired_bootstrap_difference`: two schemes scored on the **same** records, with the
  same patient resamples applied to both, so the interval of the difference carries the
  correlation between them (an unpaired comparison of two marginal CIs is far too wide and
  says nothing about the difference). It runs on :func:`ecgtriage.evaluate.bootstrap.bootstrap_statistic`.
* :func:`seed_spread_ci`: a CI across training seeds that includes the between-seed variance.
* :func:`equivalence_verdict` / :func:`superiority_verdict`: pre-set margins turn an interval
  into "supported" / "not supported" / "inconclusive"; a wide interval can never be
  "supported".
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import numpy as np
from scipy import stats

from ecgtriage.atomic import json_safe
from ecgtriage.evaluate.bootstrap import bootstrap_statistic, percentile_interval

__all__ = [
    "wilson_interval",
    "exact_interval",
    "proportion_ci",
    "paired_bootstrap_difference",
    "seed_spread_ci",
    "equivalence_verdict",
    "superiority_verdict",
    "VERDICTS",
]

#: The three verdicts a claim can get.
VERDICTS = ("supported", "not supported", "inconclusive")


def _check_counts(k: int, n: int, alpha: float) -> None:
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha: expected a value in (0, 1), found {alpha}")
    if int(n) != n or int(k) != k:
        raise ValueError(f"k, n: expected whole counts, found k={k}, n={n}")
    if n < 0 or not 0 <= k <= max(n, 0):
        raise ValueError(f"k, n: expected 0 <= k <= n, found k={k}, n={n}")


def _binom_interval(k: int, n: int, alpha: float, method: str) -> tuple[float, float]:
    _check_counts(k, n, alpha)
    if n == 0:
        return (math.nan, math.nan)
    ci = stats.binomtest(int(k), int(n)).proportion_ci(confidence_level=1.0 - alpha, method=method)
    return (float(ci.low), float(ci.high))


def wilson_interval(k: int, n: int, alpha: float = 0.05) -> tuple[float, float]:
    """Wilson score interval of ``k`` successes in ``n`` trials; ``(nan, nan)`` when ``n == 0``.

    Preferred for small counts: unlike the Wald interval it never leaves [0, 1] and does not
    collapse to a point at 0/n or n/n (0/10 gives [0, 0.278]), and its coverage is close to
    nominal (Newcombe, Stat Med 17:857, 1998).
    """
    return _binom_interval(k, n, alpha, "wilson")


def exact_interval(k: int, n: int, alpha: float = 0.05) -> tuple[float, float]:
    """Clopper-Pearson ("exact") interval; ``(nan, nan)`` when ``n == 0``.

    Guarantees at least nominal coverage for every true proportion (it is conservative);
    use it where an interval must never under-cover, e.g. a sensitivity on a handful of
    Serious records quoted against a clinical requirement.
    """
    return _binom_interval(k, n, alpha, "exact")


_METHODS: dict[str, Callable[[int, int, float], tuple[float, float]]] = {
    "wilson": wilson_interval,
    "exact": exact_interval,
    "clopper-pearson": exact_interval,
}


def proportion_ci(k: int, n: int, alpha: float = 0.05, method: str = "wilson") -> dict[str, Any]:
    """A proportion with its interval: ``{"value", "low", "high", "k", "n", "method"}``.

    ``method`` is ``"wilson"`` (default) or ``"exact"`` (Clopper-Pearson; alias
    ``"clopper-pearson"``). ``value`` is ``k / n`` and NaN (with the bounds) when ``n == 0``;
    the dict is JSON-safe (NaN → ``None``).
    """
    try:
        fn = _METHODS[method]
    except KeyError:
        raise ValueError(f"method: expected one of {sorted(_METHODS)}, found {method!r}") from None
    low, high = fn(k, n, alpha)
    value = k / n if n else math.nan
    name = "exact" if fn is exact_interval else "wilson"
    return json_safe({"value": value, "low": low, "high": high, "k": int(k), "n": int(n), "method": name})


def paired_bootstrap_difference(
    stat: Callable[[Any, np.ndarray], np.ndarray],
    a_inputs: Any,
    b_inputs: Any,
    patient_ids: Sequence[Any],
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> dict[str, Any]:
    """Patient-bootstrap CI of ``stat(A) - stat(B)`` on the same records.

    Parameters
    ----------
    stat : callable
        ``stat(inputs, weights)`` with ``weights`` of shape (b, N) (one row of record weights
        per resample, as in :func:`~ecgtriage.evaluate.bootstrap.bootstrap_statistic`)
        returns the (b,) statistic of each resample, e.g. a weighted sensitivity.
    a_inputs, b_inputs
        Whatever ``stat`` needs for scheme A and scheme B (predictions on the **same** N
        records in the same order, with their shared truth).
    patient_ids : sequence, length N
        One resample draws patients; both schemes see exactly that resample.
    n_boot, seed, alpha : resamples, generator seed, 1 - coverage.

    Returns
    -------
    dict
        ``difference`` (A - B on the full sample), ``low``, ``high`` (percentile interval of
        the resampled differences), ``p_value`` (two-sided: twice the smaller share of
        resamples at or beyond 0 on either side, capped at 1; identical schemes give 1),
        ``a``, ``b`` (the two point estimates), ``n_boot``, ``n_valid`` (resamples where the
        difference is defined), ``seed``, ``alpha``, ``n_records``, ``n_patients``.
    """

    def diff(w: np.ndarray) -> np.ndarray:
        a = np.asarray(stat(a_inputs, w), dtype=np.float64).reshape(w.shape[0])
        b = np.asarray(stat(b_inputs, w), dtype=np.float64).reshape(w.shape[0])
        return np.stack([a - b, a, b], axis=1)

    res = bootstrap_statistic(diff, patient_ids, n_boot=n_boot, seed=seed, alpha=alpha,
                              return_samples=True)
    d = res["samples"][:, 0]
    d = d[~np.isnan(d)]
    if d.size:
        p_value = min(1.0, 2.0 * min(float((d <= 0).mean()), float((d >= 0).mean())))
    else:
        p_value = math.nan
    est = res["estimate"]
    out = {
        "difference": est[0],
        "low": res["low"][0],
        "high": res["high"][0],
        "p_value": p_value,
        "a": est[1],
        "b": est[2],
        "n_boot": n_boot,
        "n_valid": int(d.size),
        "seed": seed,
        "alpha": alpha,
        "n_records": res["n_records"],
        "n_patients": res["n_patients"],
        "unit": "patient",
    }
    return json_safe(out)


def seed_spread_ci(
    per_seed_points: Sequence[float],
    per_seed_boot: Sequence[np.ndarray] | None = None,
    alpha: float = 0.05,
) -> dict[str, Any]:
    """Mean across training seeds, their spread, and an interval that includes seed variance.

    A single seed's bootstrap interval covers only test-sample variation; quoting it around
    the mean of several seeds hides the run-to-run variation of training. The interval here
    is for the metric of **one training run (any seed) on a resampled test set**, so its
    variance is ``within + between``:

    * with ``per_seed_boot`` (each seed's bootstrap replicates of the metric): the percentile
      interval of the **mixture** of all seeds' replicates, every seed weighted equally
      (``method = "mixture"``). A mixture of distributions centred on each seed's estimate
      with spread ``within`` has variance ``within + between``, and needs no normality.
    * without it: a t prediction interval for a new seed,
      ``mean ± t(1 - alpha/2, k - 1) · sd · sqrt(1 + 1/k)`` (``method = "t-prediction"``),
      which carries the between-seed variance only (the within-seed part is unknown).

    This is deliberately wider than a CI of the seed mean (``sd / sqrt(k)``): the study
    reports what one trained model achieves, and the number of seeds is small.

    Returns
    -------
    dict
        ``mean``, ``sd`` (across seeds, ``ddof=1``; NaN for one seed), ``low``, ``high``,
        ``n_seeds``, ``method``, ``alpha``, and with replicates ``within_sd`` (root mean of
        the per-seed bootstrap variances).
    """
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha: expected a value in (0, 1), found {alpha}")
    points = np.asarray(per_seed_points, dtype=np.float64).ravel()
    k = points.size
    if k == 0:
        raise ValueError("per_seed_points: expected at least one seed, found none")
    mean = float(points.mean())
    sd = float(points.std(ddof=1)) if k > 1 else math.nan
    out: dict[str, Any] = {"mean": mean, "sd": sd, "n_seeds": k, "alpha": alpha}
    if per_seed_boot is not None:
        boots = [np.asarray(b, dtype=np.float64).ravel() for b in per_seed_boot]
        if len(boots) != k:
            raise ValueError(
                f"per_seed_boot: expected one replicate array per seed ({k}), found {len(boots)}"
            )
        boots = [b[~np.isnan(b)] for b in boots]
        if any(b.size == 0 for b in boots):
            raise ValueError("per_seed_boot: every seed needs at least one defined replicate")
        values = np.concatenate(boots)
        # Equal weight per seed whatever its number of valid replicates.
        weights = np.concatenate([np.full(b.size, 1.0 / b.size) for b in boots])
        low, high = np.quantile(values, [alpha / 2, 1 - alpha / 2], weights=weights,
                                method="inverted_cdf")
        out.update(low=float(low), high=float(high), method="mixture",
                   within_sd=float(np.sqrt(np.mean([b.var(ddof=1) if b.size > 1 else 0.0
                                                    for b in boots]))))
    elif k > 1:
        half = float(stats.t.ppf(1 - alpha / 2, k - 1)) * sd * math.sqrt(1 + 1 / k)
        out.update(low=mean - half, high=mean + half, method="t-prediction")
    else:
        out.update(low=math.nan, high=math.nan, method="t-prediction")
    return json_safe(out)


def _bounds(diff_ci: dict[str, Any], margin: float) -> tuple[float, float] | None:
    if not (margin >= 0 and math.isfinite(margin)):
        raise ValueError(f"margin: expected a finite value >= 0, found {margin}")
    try:
        low, high = diff_ci["low"], diff_ci["high"]
    except KeyError as exc:
        raise ValueError(f"diff_ci: expected keys 'low' and 'high', missing {exc}") from None
    if low is None or high is None:
        return None
    low, high = float(low), float(high)
    if math.isnan(low) or math.isnan(high):
        return None
    return low, high


def equivalence_verdict(diff_ci: dict[str, Any], margin: float) -> str:
    """Is a difference within ``±margin`` (equivalence, TOST-style)?

    * ``"supported"``: the whole interval lies strictly inside ``(-margin, +margin)``. With a
      ``1 - alpha`` interval this is two one-sided tests at ``alpha / 2`` each (conservative
      against the usual TOST with a ``1 - 2 alpha`` interval).
    * ``"not supported"``: the whole interval lies outside, i.e. ``high < -margin`` or
      ``low > margin``: the difference is shown to exceed the margin.
    * ``"inconclusive"``: anything else (the interval straddles a margin, however wide it is)
      and an undefined interval (NaN / None bounds). A wide interval is never "supported".
    """
    b = _bounds(diff_ci, margin)
    if b is None:
        return "inconclusive"
    low, high = b
    if -margin < low and high < margin:
        return "supported"
    if high < -margin or low > margin:
        return "not supported"
    return "inconclusive"


def superiority_verdict(diff_ci: dict[str, Any], margin: float = 0.0) -> str:
    """Is A better than B by more than ``margin`` (``diff = A - B``, higher is better)?

    * ``"supported"``: ``low > margin`` (the whole interval is above the margin).
    * ``"not supported"``: ``high < margin`` (the interval excludes a superiority of
      ``margin`` or more: A is at best less than ``margin`` better).
    * ``"inconclusive"``: the interval contains ``margin`` (``low <= margin <= high``), or
      it is undefined.

    ``margin = 0`` is ordinary superiority; a negative margin ``-m`` tests non-inferiority
    ("A is worse than B by less than m": supported when ``low > -m``).
    """
    if not math.isfinite(margin):
        raise ValueError(f"margin: expected a finite value, found {margin}")
    b = _bounds(diff_ci, abs(margin))
    if b is None:
        return "inconclusive"
    low, high = b
    if low > margin:
        return "supported"
    if high < margin:
        return "not supported"
    return "inconclusive"
