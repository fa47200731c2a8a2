"""Leaf modules every layer may import: domain errors and process-wide settings.

Imports nothing of the project. Importing it sets the offline switches of the Hugging Face
libraries before any of them is imported (``common.settings.force_offline``), so a step run on
its own (a bench script, a Ray worker) is as offline as the app and the CLI.
"""

from common import settings as _settings

_settings.force_offline()
