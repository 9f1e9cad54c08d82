"""The statement vocabulary the simulator understands and how a record's statements are parsed.

SPH statements are AHA codes with an optional modifier (``"50+346"``); PTB-XL statements with
no SPH counterpart are accepted by their SCP key (:data:`EXTRA_PATHOLOGIES`).  Territories are
lead-space weight patterns over the eight independent leads (I, II, V1-V6); the derived limb
leads inherit their reciprocal changes through Einthoven's and Goldberger's identities.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

import numpy as np

from ecgtriage.errors import ConfigError
from ecgtriage.io.aha_code import Statement

#: The 44 primary SPH statements (AHA/ACC/HRS 2007 codes) and their names.
SPH_STATEMENTS: dict[int, str] = {
    1: "Normal ECG",
    21: "Sinus tachycardia",
    22: "Sinus bradycardia",
    23: "Sinus arrhythmia",
    30: "Atrial premature complex(es)",
    31: "Atrial premature complexes, nonconducted",
    36: "Junctional premature complex(es)",
    37: "Junctional escape complex(es)",
    50: "Atrial fibrillation",
    51: "Atrial flutter",
    54: "Junctional tachycardia",
    60: "Ventricular premature complex(es)",
    80: "Short PR interval",
    81: "AV conduction ratio N:D",
    82: "Prolonged PR interval",
    83: "Second-degree AV block, Mobitz type I (Wenckebach)",
    84: "Second-degree AV block, Mobitz type II",
    85: "2:1 AV block",
    86: "AV block, varying conduction",
    87: "AV block, advanced (high-grade)",
    88: "AV block, complete (third-degree)",
    101: "Left anterior fascicular block",
    102: "Left posterior fascicular block",
    104: "Left bundle-branch block",
    105: "Incomplete right bundle-branch block",
    106: "Right bundle-branch block",
    108: "Ventricular preexcitation",
    120: "Right-axis deviation",
    121: "Left-axis deviation",
    125: "Low voltage",
    140: "Left atrial enlargement",
    142: "Left ventricular hypertrophy",
    143: "Right ventricular hypertrophy",
    145: "ST deviation",
    146: "ST deviation with T-wave change",
    147: "T-wave abnormality",
    148: "Prolonged QT interval",
    152: "TU fusion",
    153: "ST-T change due to ventricular hypertrophy",
    155: "Early repolarization",
    160: "Anterior MI",
    161: "Inferior MI",
    165: "Anteroseptal MI",
    166: "Extensive anterior MI",
}

#: The 15 SPH modifiers.
MODIFIERS: dict[int, str] = {
    308: "Occasional",
    310: "Frequent",
    330: "Acute",
    331: "Recent",
    332: "Old",
    340: "Couplets",
    341: "In a bigeminal pattern",
    342: "In a trigeminal pattern",
    346: "With a rapid ventricular response",
    347: "With a slow ventricular response",
    349: "With aberrancy",
    350: "Polymorphic",
    362: "Depression",
    363: "Elevation",
    367: "Inversion",
}

#: PTB-XL statements with no SPH code that the simulator draws (SCP key -> what is drawn).
EXTRA_PATHOLOGIES: dict[str, str] = {
    "PACE": "paced rhythm: pacing spikes, wide LBBB-like QRS with superior axis, discordant T",
    "SVTAC": "supraventricular tachycardia: narrow regular QRS at 150-220/min, no sinus P",
    "PSVT": "paroxysmal supraventricular tachycardia (drawn like SVTAC)",
    "INJAS": "subendocardial injury, anteroseptal: ST depression V1-V4",
    "INJAL": "subendocardial injury, anterolateral: ST depression I, aVL, V3-V6",
    "INJIN": "subendocardial injury, inferior: ST depression II, III, aVF",
    "INJLA": "subendocardial injury, lateral: ST depression I, aVL, V5-V6",
    "INJIL": "subendocardial injury, inferolateral: ST depression II, III, aVF, V5-V6",
    "IVCD": "non-specific intraventricular conduction delay: QRS 110-130 ms, no BBB shape",
    "ILBBB": "incomplete LBBB: LBBB shape with QRS 110-119 ms",
    "LMI": "lateral MI (old): Q waves in I, aVL, V5-V6",
    "ALMI": "anterolateral MI (old): Q waves in I, aVL, V3-V6",
    "ILMI": "inferolateral MI (old): Q waves in II, III, aVF, V5-V6",
    "PMI": "posterior MI (old): tall R and ST depression in V1-V3",
    "ISCAL": "ischaemic T inversion, anterolateral",
    "ISCAS": "ischaemic T inversion, anteroseptal",
    "ISCIN": "ischaemic T inversion, inferior",
    "ISCIL": "ischaemic T inversion, inferolateral",
    "ISCLA": "ischaemic T inversion, lateral",
    "ISCAN": "ischaemic T inversion, anterior",
    "RAO/RAE": "right atrial enlargement: tall peaked P (>= 0.25 mV) in II",
}

#: Lead-space territory patterns over (I, II, V1, V2, V3, V4, V5, V6); 1.0 is the most involved
#: lead, negative entries are reciprocal leads.
TERRITORIES: dict[str, np.ndarray] = {
    "anteroseptal": np.array([0.1, -0.05, 0.8, 1.0, 0.9, 0.4, 0.0, -0.05]),
    "anterior": np.array([0.15, -0.05, 0.3, 0.8, 1.0, 1.0, 0.45, 0.1]),
    "extensive_anterior": np.array([0.6, 0.1, 0.6, 1.0, 1.0, 1.0, 0.8, 0.6]),
    "inferior": np.array([-0.2, 0.8, -0.2, -0.25, -0.15, 0.0, 0.1, 0.15]),
    "lateral": np.array([0.8, 0.3, -0.2, -0.1, 0.0, 0.3, 0.8, 1.0]),
    "anterolateral": np.array([0.6, 0.15, 0.0, 0.3, 0.6, 1.0, 1.0, 0.8]),
    "inferolateral": np.array([0.3, 0.8, -0.15, -0.1, 0.0, 0.4, 0.8, 0.9]),
    "posterior": np.array([0.0, 0.1, -0.8, -1.0, -0.6, -0.2, 0.0, 0.1]),
    # Diffuse subendocardial ischaemia: depression in most leads, elevation in aVR (and V1).
    "diffuse": np.array([0.5, 0.7, -0.3, 0.1, 0.5, 0.9, 1.0, 0.8]),
}

MI_CODES: dict[int, str] = {
    160: "anterior",
    161: "inferior",
    165: "anteroseptal",
    166: "extensive_anterior",
}
MI_EXTRAS: dict[str, str] = {
    "LMI": "lateral",
    "ALMI": "anterolateral",
    "ILMI": "inferolateral",
    "PMI": "posterior",
}
INJURY_EXTRAS: dict[str, str] = {
    "INJAS": "anteroseptal",
    "INJAL": "anterolateral",
    "INJIN": "inferior",
    "INJLA": "lateral",
    "INJIL": "inferolateral",
}
ISCHAEMIA_EXTRAS: dict[str, str] = {
    "ISCAL": "anterolateral",
    "ISCAS": "anteroseptal",
    "ISCIN": "inferior",
    "ISCIL": "inferolateral",
    "ISCLA": "lateral",
    "ISCAN": "anterior",
}


@dataclass
class Findings:
    """A record's statements, grouped: primary code -> set of modifiers, plus PTB-XL keys."""

    codes: dict[int, set[int | None]] = field(default_factory=dict)
    extras: set[str] = field(default_factory=set)

    def has(self, *codes: int) -> bool:
        return any(c in self.codes for c in codes)

    def mods(self, code: int) -> set[int | None]:
        return self.codes.get(code, set())

    def has_mod(self, code: int, modifier: int) -> bool:
        return modifier in self.codes.get(code, set())


def _split(statements: str | Iterable[str]) -> list[str]:
    if isinstance(statements, str):
        items = [statements]
    else:
        items = list(statements)
    out: list[str] = []
    for item in items:
        if isinstance(item, Statement):
            item = str(item)
        if not isinstance(item, str):
            raise ConfigError(f"statements: expected strings like '50+346', found {item!r}")
        out.extend(p.strip() for p in item.split(";") if p.strip())
    return out


def parse_statements(statements: str | Iterable[str]) -> Findings:
    """Parse statements into findings.

    ``statements`` is one ``";"``-joined string (``"50+346;106"``) or a sequence of strings
    (``["50+346", "PACE"]``) or of :class:`ecgtriage.io.aha_code.Statement`; an empty
    sequence means a normal sinus record.

    Raises
    ------
    ValueError
        Naming every statement that is neither one of the 44 SPH codes (with an optional known
        modifier) nor a key of :data:`EXTRA_PATHOLOGIES`.
    """
    findings = Findings()
    unknown: list[str] = []
    for text in _split(statements):
        if text in EXTRA_PATHOLOGIES:
            findings.extras.add(text)
            continue
        code_s, _, mod_s = text.partition("+")
        if not code_s.isdigit() or (mod_s and not mod_s.isdigit()):
            unknown.append(text)
            continue
        code = int(code_s)
        modifier = int(mod_s) if mod_s else None
        if code not in SPH_STATEMENTS or (modifier is not None and modifier not in MODIFIERS):
            unknown.append(text)
            continue
        findings.codes.setdefault(code, set()).add(modifier)
    if unknown:
        raise ConfigError(
            f"statements: unknown statement(s) {', '.join(repr(u) for u in unknown)}; expected "
            "one of the 44 SPH codes (optionally CODE+MODIFIER with a known modifier) or a "
            f"PTB-XL-only finding ({', '.join(sorted(EXTRA_PATHOLOGIES))})"
        )
    return findings
