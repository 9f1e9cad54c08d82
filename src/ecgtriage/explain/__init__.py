"""Interpretability that measures: attributions (:mod:`.attribute`), the ECG's beat anatomy
(:mod:`.anatomy`) and scores of where a model looks against that anatomy (:mod:`.scores`).

Submodules are imported explicitly (``from ecgtriage.explain.attribute import gradcam``); the
package itself imports nothing so that captum stays optional.
"""
