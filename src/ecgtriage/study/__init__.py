"""The label-granularity study: one model per (label scheme, seed), scored on every test set.

Modules, each importing only from those above it in this list:

* :mod:`~ecgtriage.study.config` — ``StudyConfig`` (one file sets everything, flags override);
* :mod:`~ecgtriage.study.cells` — the (scheme × seed) grid, keyed by configuration hashes;
* :mod:`~ecgtriage.study.data` — corpora → caches, patient-level splits, data roles;
* :mod:`~ecgtriage.study.testsets` — internal / external / added test sets and noisy copies;
* :mod:`~ecgtriage.study.predict` — prediction tables, read once into ``Predictions``;
* :mod:`~ecgtriage.study.targets` — labels per (data set, scheme), computed once;
* :mod:`~ecgtriage.study.score` — per-model metrics in the native and common-ground views;
* :mod:`~ecgtriage.study.sections` — external validity, rare/unseen, robustness;
* :mod:`~ecgtriage.study.evaluation` — all of the above for a trained grid (``Scored``);
* :mod:`~ecgtriage.study.claims` — headline table and verdicts on the published claims;
* :mod:`~ecgtriage.study.results` — ``results.json`` and ``tables/*.csv``;
* :mod:`~ecgtriage.study.run` — ``run_study`` and ``evaluate_study``.

Layout of a study directory::

    config.json                 resolved StudyConfig
    data/sources/               generated corpora (synthetic study only)
    data/caches/<name>/         prepared caches
    data/splits.csv             record_id, split of the training data set
    cells/<scheme>-s<seed>-<hash>/
        cell.json               the cell's resolved key; written last (= trained)
        run/                    ecgtriage.train run directory (weights + model card)
        predictions/<test>.csv  record_id, patient_id, prob:<class>...
    added_test_sets.json        test sets added by `ecgtriage evaluate`
    results.json, tables/*.csv  written by run_study / evaluate_study
    report.html                 drawn from results.json by ecgtriage.report
"""

from ecgtriage.study.config import StudyConfig, load_study_config
from ecgtriage.study.run import evaluate_study, run_study

__all__ = ["StudyConfig", "evaluate_study", "load_study_config", "run_study"]
