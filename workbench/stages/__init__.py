"""The stages pages, the CLI and the pipeline call, grouped by area; each persists through
the store."""

STAGES = ("ingest", "validate", "dedup", "pii", "split", "leakage", "train", "generate",
          "score")  # the pipeline's stages, in order
