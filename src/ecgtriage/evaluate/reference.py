"""What the reference study (SPH → PTB-XL, 1D ResNet) published: the one copy of its numbers.

The study's claims are tested against these numbers and the report prints them beside this
run's, so both must read the same values; a second copy could drift silently.

Examples
--------
>>> PUBLISHED["tier3"].internal_f1, PUBLISHED["tier3"].external_accuracy
(0.87, 0.605)
>>> PUBLISHED["tier4"].gap_below_tier3
0.02
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping


@dataclass(frozen=True)
class PublishedResult:
    """The reference study's published figures for one labelling scheme.

    Attributes
    ----------
    scheme : the scheme name (``"tier3"``, ``"tier4"``, ``"aha44"``).
    internal_f1 : macro-F1 on the internal (SPH) test set, or ``None`` where not published.
    external_accuracy : accuracy on the external set (PTB-XL), or ``None``.
    gap_below_tier3 : how far this scheme's internal macro-F1 was below tier3's, or ``None``.
    note : the published statement in words, as the report shows it.
    """

    scheme: str
    internal_f1: float | None
    external_accuracy: float | None
    gap_below_tier3: float | None
    note: str


#: Published results by scheme (read-only: a test or a caller must not change a citation).
PUBLISHED: Mapping[str, PublishedResult] = MappingProxyType({
    "tier3": PublishedResult("tier3", internal_f1=0.87, external_accuracy=0.605,
                             gap_below_tier3=None,
                             note="best generalisation of the three schemes"),
    "tier4": PublishedResult("tier4", internal_f1=None, external_accuracy=None,
                             gap_below_tier3=0.02, note="about 2 % below 3-tier"),
    "aha44": PublishedResult("aha44", internal_f1=None, external_accuracy=None,
                             gap_below_tier3=None,
                             note="F1 = 0 on rare conditions externally"),
})


#: The PTB-XL benchmark (Strodthoff, Wagner, Schaeffter & Samek 2021, IEEE JBHI 25:1519,
#: Table II): test-fold (fold 10) macro AUROC per task for the models the ladder re-implements
#: (``None`` where this module does not cite a figure), ``"best"`` the best model of the paper per
#: task, and ``"s4"`` the structured-state-space model of Mehari & Strodthoff (2023) on ``all``.
#: Read-only, the one copy the ladder benchmark prints beside its own numbers.
PTBXL_TASKS: tuple[str, ...] = ("all", "diagnostic", "subdiagnostic", "superdiagnostic", "form", "rhythm")
PTBXL_BENCHMARK_AUROC: Mapping[str, Mapping[str, float | None]] = MappingProxyType({
    "xresnet1d101": MappingProxyType({"all": 0.925, "diagnostic": 0.937, "subdiagnostic": 0.929,
                                      "superdiagnostic": 0.928, "form": 0.896, "rhythm": 0.957}),
    "best": MappingProxyType({"all": 0.925, "diagnostic": 0.937, "subdiagnostic": 0.930,
                              "superdiagnostic": 0.930, "form": 0.899, "rhythm": 0.957}),
    "s4": MappingProxyType({"all": 0.9417, "diagnostic": None, "subdiagnostic": None,
                            "superdiagnostic": None, "form": None, "rhythm": None}),
})
