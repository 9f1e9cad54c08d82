"""Triage of single ECG files with a trained model.

Modules: ``model`` (``load_triage_model``: a run folder, a study's cell or an exported
``.onnx``; torch eager or onnxruntime behind one ``TriageModel`` protocol) and ``core``
(``triage_file``/``triage_signal``: quality gate → the study's preprocessing → model → the
card's decision, referral on uncertainty, the missing-lead rule). The ONNX path imports no
torch; importing this package imports neither torch nor onnxruntime.

Examples
--------
>>> from ecgtriage.triage import load_triage_model, triage_file      # doctest: +SKIP
>>> model = load_triage_model("model.onnx")                          # doctest: +SKIP
>>> triage_file("record.hea", model).status                          # doctest: +SKIP
'ok'
"""

from ecgtriage.triage.core import (EXIT_OK, EXIT_REFERRED, EXIT_UNREADABLE, TriageResult, exit_code,
                                   model_input, preprocess_config, triage_file, triage_files,
                                   triage_signal)
from ecgtriage.triage.model import (MISSING_LEAD_MARGIN, OnnxTriageModel, TorchTriageModel,
                                    TriageModel, load_triage_model)

__all__ = ["EXIT_OK", "EXIT_REFERRED", "EXIT_UNREADABLE", "MISSING_LEAD_MARGIN", "OnnxTriageModel",
           "TorchTriageModel", "TriageModel", "TriageResult", "exit_code", "load_triage_model",
           "model_input", "preprocess_config", "triage_file", "triage_files", "triage_signal"]
