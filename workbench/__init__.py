"""SLM Workbench: curate an instruction dataset, fine-tune a small model, judge the result.

Importing this package sets the offline switches of the Hugging Face libraries before any of
them is imported (through ``common``, see ``common.settings``).
"""

import common  # noqa: F401  (sets the offline switches)
