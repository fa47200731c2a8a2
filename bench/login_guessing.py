"""Login guessing: how many admin passwords and invite tokens 8 parallel sessions can try.

Run as: python bench/login_guessing.py [--quick] [--sessions 8] [--seconds 60]

Each attacker session is a thread, as each browser session is a script thread in the Streamlit
server, and tries wrong guesses in a loop, without pause, through what views/login.py does on
a click: ``workbench.store.auth.admin_login`` / ``rater_login`` inside ``shared_workspace``
(the pages' connection helper). A guess counts when it was checked against the password
hash or the token hashes; an attempt refused by the login guard ("try again at …") costs the
attacker nothing and is counted apart. Baseline: run this file from a checkout without the
guard (no ``admin_login`` in workbench.store.auth): it then does what views/login.py did
before, ``check_admin`` / ``sessions.login`` and the page's 1 s pause after each failure in
that session.
Prints ONE JSON object on the last line: per kind (admin, rater), checked guesses, refused
attempts, guesses per second over the run, the guard's state at the end, and the projected
guesses per day at the capped wait.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from evaluation.sessions import SessionDesign  # noqa: E402
from workbench.auth import AuthError  # noqa: E402
from workbench.store import auth, open_workspace  # noqa: E402
from workbench.store import sessions as ss  # noqa: E402
from workbench.store.pool import close_all, shared_workspace  # noqa: E402

GUARDED = hasattr(auth, "admin_login")
OLD_PAGE_PAUSE_S = 1.0  # views/login.py's FAILED_LOGIN_PAUSE_S before the guard


def setup(root: Path) -> None:
    with open_workspace(root) as ws:
        auth.set_admin_password(ws, "the real admin password")
        ws.add_run("gen-1", "generate", None, "", {})
        ws.finish_run("gen-1", "succeeded", {})
        ws.insert("generations", [{"run_id": "gen-1", "example_id": 1, "system": s,
                                   "prompt": "[]", "reference": "r", "output": s}
                                  for s in ("base", "tuned")])
        ss.create_session(ws, "s", "gen-1", SessionDesign(), ["ana"], seed=0)


def attempt(root: Path, kind: str, guess: str) -> str:
    """One click of the login form with a wrong ``guess``: 'checked' or 'refused'."""
    with shared_workspace(root) as ws:
        try:
            if GUARDED:
                (auth.admin_login if kind == "admin" else auth.rater_login)(ws, guess)
            elif kind == "admin":
                assert not auth.check_admin(ws, guess)
                raise AuthError("wrong admin password")
            else:
                ss.login(ws, guess)
        except Exception as exc:
            if type(exc).__name__ == "LoginThrottled":
                return "refused"
            if not isinstance(exc, AuthError):
                raise
    if not GUARDED:
        time.sleep(OLD_PAGE_PAUSE_S)  # the old page paused its own session only
    return "checked"


def attack(root: Path, kind: str, sessions: int, seconds: float) -> dict:
    counts = {"checked": 0, "refused": 0}
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def session() -> None:
        while time.monotonic() < deadline:
            guess = ("wrong-" if kind == "admin" else "rt_") + secrets.token_urlsafe(12)
            outcome = attempt(root, kind, guess)
            with lock:
                counts[outcome] += 1
            if outcome == "refused":
                time.sleep(0.01)  # an attacker polls; a tight loop would only burn our CPU

    threads = [threading.Thread(target=session) for _ in range(sessions)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start
    result = {"checked_guesses": counts["checked"], "refused_attempts": counts["refused"],
              "seconds": round(elapsed, 1),
              "guesses_per_s": round(counts["checked"] / elapsed, 3)}
    if GUARDED:
        with shared_workspace(root) as ws:
            failures, until = auth._state(ws, kind)
        result["failures_in_a_row"] = failures
        result["wait_now_s"] = auth.delay_after(failures)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="15 s per kind")
    parser.add_argument("--sessions", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    seconds = 15.0 if args.quick else args.seconds
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "ws"
        setup(root)
        result = {"mode": "guard (per workspace)" if GUARDED else
                  "baseline (1 s pause per browser session)",
                  "sessions": args.sessions}
        for kind in ("admin", "rater"):
            result[kind] = attack(root, kind, args.sessions, seconds)
            print(f"{kind}: {result[kind]}", file=sys.stderr)
        close_all()
    if GUARDED:
        result["guesses_per_day_at_cap"] = round(86400 / auth.MAX_DELAY_S)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
