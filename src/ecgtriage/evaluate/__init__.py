"""evaluate subpackage."""
