"""Report sections beyond per-model scores, each a function of the study's predictions.

``external`` (label coverage, prevalence shift, EM-adjusted tiers), ``rare_unseen`` (how each
model treats statements that were rare or absent in training) and ``robustness`` (degradation
curves and their areas). Each receives the study's :class:`~ecgtriage.study.predict.Predictions`
and :class:`~ecgtriage.study.targets.StudyTargets` rather than reading files itself.
"""
