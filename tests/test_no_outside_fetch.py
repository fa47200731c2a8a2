"""Nothing the app serves makes a browser fetch from outside 127.0.0.1 (the browser check is
tests/e2e/test_outside_requests.py): no material-symbol icons, whose favicon Streamlit loads
from fonts.gstatic.com, and no usage statistics."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_no_page_uses_a_material_icon():
    files = [ROOT / "app.py", *sorted((ROOT / "views").glob("*.py"))]
    assert [str(f.relative_to(ROOT)) for f in files if ":material/" in f.read_text()] == []


def test_the_server_config_turns_usage_statistics_off():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["browser"]["gatherUsageStats"] is False
