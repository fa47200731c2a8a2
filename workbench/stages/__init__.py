"""The stages pages, the CLI and the pipeline call, grouped by area; each persists through
the store."""
