"""Training: objectives, the epoch loop, decision thresholds, checkpoints, prediction, export.

Modules: ``config`` (TrainConfig), ``objectives`` (losses, logits → probabilities), ``loop``
(``fit``), ``run`` (``train`` on a cache, ``train_on_arrays`` on datasets), ``thresholds``,
``card`` (``ModelCard``: input contract, classes, thresholds and the decision rule),
``checkpoint`` (``load_checkpoint``), ``predict`` (``predict_proba``), ``export`` (ONNX),
``distributed`` (DDP helpers), ``state`` (resumable ``last.pt``).
Heavy imports stay inside these modules; importing the package is cheap.
"""
