"""SLM Workbench: curate an instruction dataset, fine-tune a small model, judge the result.

Importing this package sets the offline switches of the Hugging Face libraries before any of
them is imported (see ``workbench.settings``).
"""

from workbench import settings as _settings

_settings.force_offline()
