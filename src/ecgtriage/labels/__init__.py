"""Label schemes as versioned data: SPH AHA statements, PTB-XL SCP and Challenge SNOMED codes →
``aha44`` / ``tier4`` / ``tier3`` (and the PTB-XL benchmark ladder or user schemes), splits."""

from ecgtriage.io.aha_code import Statement, format_statements, parse_aha_code
from ecgtriage.labels.schemes import (
    DEFAULT_SCHEMES,
    Scheme,
    builtin_names,
    load_scheme,
    parse_scheme,
)
from ecgtriage.labels.targets import (
    Targets,
    coarsen,
    collapse_to_tier,
    encode_targets,
    statement_table,
    targets_for_cache,
)

__all__ = [
    "DEFAULT_SCHEMES", "Scheme", "Statement", "Targets", "builtin_names", "coarsen",
    "collapse_to_tier", "encode_targets", "format_statements", "load_scheme", "parse_aha_code", "parse_scheme",
    "statement_table", "targets_for_cache",
]
