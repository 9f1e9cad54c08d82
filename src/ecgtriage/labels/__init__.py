"""labels subpackage."""
