"""Evaluation library: plain arrays in, JSON-serialisable dicts and pandas tables out.

Modules (import them directly; this package imports nothing so that ``import ecgtriage`` stays
light):

* :mod:`~ecgtriage.evaluate.metrics`: ``compute_metrics`` / ``single_label_metrics`` /
  ``multilabel_metrics`` (accuracy, macro/per-class precision, recall, F1, AUROC, AUPRC,
  confusion matrices; undefined classes reported as ``None`` and left out of macro averages).
* :mod:`~ecgtriage.evaluate.bootstrap`: ``bootstrap_metrics`` and ``bootstrap_statistic``,
  patient-level (cluster) bootstrap percentile CIs, vectorised over resamples.
* :mod:`~ecgtriage.evaluate.intervals`: ``wilson_interval`` / ``exact_interval`` /
  ``proportion_ci`` (few events), ``paired_bootstrap_difference`` (same patient resamples for
  both schemes), ``seed_spread_ci``, ``equivalence_verdict`` / ``superiority_verdict``.
* :mod:`~ecgtriage.evaluate.calibration`: ``calibration_report`` (ECE, Brier,
  reliability-diagram data).
* :mod:`~ecgtriage.evaluate.collapse`: ``common_ground_scores`` (every model scored at tier4 /
  tier3 on identical targets), ``serious_operating_point``.
* :mod:`~ecgtriage.evaluate.prior_shift`: ``em_prior_shift`` (Saerens et al. 2002; from the
  priors the outputs encode, ``effective_priors`` for class-weighted training),
  ``prevalence_shift_table``.
* :mod:`~ecgtriage.evaluate.external`: label coverage of a test set, ``external_scores``
  (raw and prior-adjusted).
* :mod:`~ecgtriage.evaluate.rare_unseen`: ``rare_unseen_analysis`` (per-statement table,
  abnormal-detection rate on unseen pathologies).
* :mod:`~ecgtriage.evaluate.robustness`: ``CORRUPTIONS`` registry, ``apply_corruption``,
  ``evaluate_corruptions``, ``degradation_summary``.
* :mod:`~ecgtriage.evaluate.reference`: ``PUBLISHED``, the reference study's published numbers
  (one :class:`~ecgtriage.evaluate.reference.PublishedResult` per scheme).
"""
