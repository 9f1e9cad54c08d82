"""Training: objectives, the epoch loop, decision thresholds, checkpoints, prediction, export.

Modules: ``config`` (TrainConfig), ``objectives`` (losses, logits → probabilities), ``loop``
(``fit``), ``run`` (``train`` on a cache, ``train_on_arrays`` on datasets), ``thresholds``,
``checkpoint`` (``load_checkpoint``), ``predict`` (``predict_proba``), ``export`` (ONNX),
``distributed`` (DDP helpers), ``state`` (resumable ``last.pt``), ``toy`` (a tiny learnable task).
Heavy imports stay inside these modules; importing the package is cheap.
"""
