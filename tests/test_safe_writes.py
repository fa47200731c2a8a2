"""Every file a user names is written through workbench.paths.write_target: inside the
workspace (or $WORKBENCH_DATA_DIRS; the CLI also the current folder), never through a symbolic
link, never over an existing file unless asked. Each writer meets the same five attacks."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from common.errors import InputError
from evaluation.sessions import SessionDesign
from tests.prepared import admin_page, prepare_workspace
from workbench.cli import app
from workbench.paths import save_upload, write_file, write_roots, write_target
from workbench.store import open_workspace
from workbench.store import sessions as ss
from workbench.store.versions import create_version

FORMULA = '=HYPERLINK("http://x","y")'


def rated_workspace(root: Path) -> Path:
    """The prepared workspace with a one-rater session over generate-1 and one rating whose
    reason is a spreadsheet formula."""
    prepare_workspace(root)
    with open_workspace(root) as ws:
        made = ss.create_session(ws, "s", "generate-1", SessionDesign(), ["ana"], seed=0)
        rater = ss.login(ws, made["tokens"]["ana"])["rater_id"]
        item = ss.screen(ws, rater)["item"]
        ss.submit(ws, rater, item["position"], "A", FORMULA)
        create_version(ws, ws.current_dataset())
    return root


@pytest.fixture
def place(tmp_path, monkeypatch):
    """ws/ (the workspace), here/ (the CLI's current folder), outside/victim.txt."""
    ws = rated_workspace(tmp_path / "ws")
    (tmp_path / "here").mkdir()
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "victim.txt").write_text("victim")
    monkeypatch.chdir(tmp_path / "here")
    monkeypatch.delenv("WORKBENCH_DATA_DIRS", raising=False)
    return tmp_path


def cli(*args) -> tuple[int, str]:
    result = CliRunner().invoke(app, [str(a) for a in args])
    return result.exit_code, result.output


CLI_WRITERS = {  # name -> arguments before the output path's option
    "export": lambda ws: ["export", "-w", ws, "--format", "openai", "--out"],
    "export-report": lambda ws: ["export-report", "-w", ws, "--out"],
    "export-ratings": lambda ws: ["export-ratings", "-w", ws, "--out"],
    "session-stats --csv": lambda ws: ["session-stats", "-w", ws, "--session", "1", "--csv"],
    "privacy-report": lambda ws: ["privacy-report", "-w", ws, "--out"],
}


def attacks(root: Path) -> dict[str, str]:
    """Each attack's typed path; every one of them must be refused."""
    ws = root / "ws"
    (ws / "link").symlink_to(root / "outside", target_is_directory=True)
    (ws / "planted.txt").symlink_to(root / "outside" / "victim.txt")
    return {"absolute path outside": str(root / "outside" / "pwned.txt"),
            "dot-dot": "../outside/pwned.txt",
            "symlinked folder leading outside": str(ws / "link" / "pwned.txt"),
            "symlink planted at the name": str(ws / "planted.txt")}


def assert_outside_untouched(root: Path) -> None:
    assert sorted(p.name for p in (root / "outside").iterdir()) == ["victim.txt"]
    assert (root / "outside" / "victim.txt").read_text() == "victim"


@pytest.mark.parametrize("writer", list(CLI_WRITERS))
def test_each_cli_writer_refuses_every_attack_even_with_overwrite(place, writer):
    for attack, typed in attacks(place).items():
        for extra in ([], ["--overwrite"]):
            code, out = cli(*CLI_WRITERS[writer](place / "ws"), typed, *extra)
            assert code == 1, (attack, out)
            assert out.startswith("error: ") and ("outside the folders" in out
                                                  or "symbolic link" in out), (attack, out)
    assert_outside_untouched(place)


@pytest.mark.parametrize("writer", list(CLI_WRITERS))
def test_each_cli_writer_overwrites_an_existing_file_only_when_asked(place, writer):
    existing = place / "here" / "old.txt"
    existing.write_text("old")
    code, out = cli(*CLI_WRITERS[writer](place / "ws"), "old.txt")
    assert (code, existing.read_text()) == (1, "old")
    assert out.strip() == "error: old.txt: exists; choose another name, or ask to overwrite it"
    code, out = cli(*CLI_WRITERS[writer](place / "ws"), "old.txt", "--overwrite")
    assert code == 0, out
    assert existing.read_text() != "old"


@pytest.mark.parametrize("writer", list(CLI_WRITERS))
def test_each_cli_writer_writes_in_the_workspace_and_in_a_data_dir(place, writer,
                                                                  monkeypatch):
    (place / "more").mkdir()
    monkeypatch.setenv("WORKBENCH_DATA_DIRS", str(place / "more"))
    for target in (place / "ws" / "exports" / "a.txt", place / "more" / "b.txt"):
        code, out = cli(*CLI_WRITERS[writer](place / "ws"), target)
        assert code == 0, out
        assert target.stat().st_size > 0


def test_the_csv_writers_escape_a_formula_in_a_rater_reason(place):
    cli("export-ratings", "-w", place / "ws", "--out", "ratings.csv")
    cli("session-stats", "-w", place / "ws", "--session", "1", "--csv", "raw.csv")
    for name in ("ratings.csv", "raw.csv"):
        text = (place / "here" / name).read_text()
        assert "'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")" in text, name
        assert ',"=HYPERLINK' not in text and ",=HYPERLINK" not in text, name


# -- the app: Versions page export, uploads -------------------------------------------------
def versions_export(typed: str, overwrite: bool = False):
    at = admin_page("views/versions.py")
    at.text_input(key="export_path").set_value(typed)
    at.checkbox(key="export_overwrite").set_value(overwrite)
    at.button(key="export").click()
    return at.run()


def test_the_versions_page_refuses_every_attack_and_a_path_in_the_current_folder(
        place, monkeypatch):
    monkeypatch.setenv("WORKBENCH_WORKSPACE", str(place / "ws"))
    cases = {**attacks(place), "current folder (CLI only)": str(place / "here" / "x.jsonl")}
    for attack, typed in cases.items():
        at = versions_export(typed, overwrite=True)
        assert [e.value for e in at.error] and not at.success, attack
        assert ("outside the folders" in at.error[0].value
                or "symbolic link" in at.error[0].value), (attack, at.error[0].value)
    assert_outside_untouched(place)
    assert list((place / "here").iterdir()) == []


def test_the_versions_page_overwrites_only_with_the_checkbox(place, monkeypatch):
    monkeypatch.setenv("WORKBENCH_WORKSPACE", str(place / "ws"))
    target = place / "ws" / "exports" / "v.jsonl"
    assert versions_export("exports/v.jsonl").success[0].value.startswith("Wrote 9 rows")
    target.write_text("old")
    at = versions_export("exports/v.jsonl")
    assert at.error[0].value == ("exports/v.jsonl: exists; choose another name, or ask to "
                                 "overwrite it")
    assert target.read_text() == "old"
    versions_export("exports/v.jsonl", overwrite=True)
    assert len(target.read_text().splitlines()) == 9  # 10 rows, one exact duplicate dropped


def test_an_upload_stays_in_uploads_and_never_replaces_or_follows_a_link(place):
    ws = place / "ws"
    (ws / "uploads").mkdir()
    (ws / "uploads" / "data.jsonl").symlink_to(place / "outside" / "victim.txt")
    assert save_upload(ws, "../../outside/data.jsonl", b"x") == ws / "uploads" / "data-2.jsonl"
    assert save_upload(ws, "/tmp/data.jsonl", b"y") == ws / "uploads" / "data-3.jsonl"
    assert (ws / "uploads" / "data-3.jsonl").read_bytes() == b"y"
    assert_outside_untouched(place)


def test_an_upload_into_a_symlinked_uploads_folder_is_refused(place):
    ws = place / "ws"
    (ws / "uploads").symlink_to(place / "outside", target_is_directory=True)
    with pytest.raises(InputError, match="outside the folders"):
        save_upload(ws, "data.jsonl", b"x")
    assert_outside_untouched(place)


# -- model exports: the run's export/ folder ------------------------------------------------
def test_a_model_export_refuses_a_link_planted_at_export_and_an_earlier_export(place):
    from workbench.train_exports import export_run

    ws = place / "ws"  # train-1's run folder is the workspace itself
    (ws / "export").symlink_to(place / "outside", target_is_directory=True)
    for overwrite in (False, True):
        with pytest.raises(InputError, match="is a symbolic link; refused"):
            export_run(ws, "train-1", overwrite=overwrite)
    (ws / "export").unlink()
    (ws / "export").mkdir()
    with pytest.raises(InputError, match="exists; choose another name, or ask to overwrite"):
        export_run(ws, "train-1")
    assert_outside_untouched(place)


# -- the function itself ---------------------------------------------------------------------
def test_write_target_takes_relative_paths_from_the_first_root_and_creates_folders(tmp_path):
    roots = write_roots(tmp_path)
    assert write_target("a/b/c.txt", roots) == tmp_path.resolve() / "a" / "b" / "c.txt"
    assert (tmp_path / "a" / "b").is_dir()
    assert write_target("a/../d.txt", roots) == tmp_path.resolve() / "d.txt"


def test_write_roots_add_the_current_folder_first_only_for_the_cli(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WORKBENCH_DATA_DIRS", "/data/a")
    assert write_roots(tmp_path / "ws") == [tmp_path / "ws", Path("/data/a")]
    assert write_roots(tmp_path / "ws", cwd=True) == [tmp_path, tmp_path / "ws",
                                                      Path("/data/a")]


def test_write_file_refuses_a_dangling_link_at_the_name(tmp_path):
    (tmp_path / "out.txt").symlink_to(tmp_path / "nowhere.txt")
    with pytest.raises(InputError, match="out.txt: is a symbolic link; refused"):
        write_file("out.txt", [tmp_path], "x", overwrite=True)
    assert not (tmp_path / "nowhere.txt").exists()


def test_open_new_refuses_a_link_swapped_in_after_the_check(tmp_path):
    from common.files import open_new

    target = write_target("late.txt", [tmp_path])
    target.symlink_to(tmp_path / "victim.txt")  # planted between the check and the write
    for overwrite in (False, True):
        with pytest.raises(InputError, match="late.txt: is a symbolic link; refused"):
            open_new(target, overwrite)
    assert not (tmp_path / "victim.txt").exists()


def test_an_empty_name_or_a_nul_byte_is_refused(tmp_path):
    for typed in ("", "  ", "a\0b", str(tmp_path) + "/..", "."):
        with pytest.raises(InputError):
            write_target(typed, [tmp_path])


def test_export_json_of_a_refused_path_names_the_path_and_the_folders(place):
    code, out = cli("export", "-w", place / "ws", "--format", "openai", "--out", "/etc/x.jsonl")
    assert code == 1
    assert out.strip() == (f"error: /etc/x.jsonl: outside the folders outputs may be written to "
                           f"({place / 'here'}, {place / 'ws'}); add a folder with "
                           "WORKBENCH_DATA_DIRS")
