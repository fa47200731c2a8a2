"""The redaction operators ``curation.pii_redact`` applies, in a module that imports nothing,
so that a page can list them without loading Presidio and spaCy (see ``pii_redact`` for what
each one does)."""

OPERATORS = ("replace", "mask", "hash", "redact", "fake")
