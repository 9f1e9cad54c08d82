"""ecgtriage: 12-lead ECG deep learning for label-granularity studies and triage."""

__version__ = "0.1.0"
