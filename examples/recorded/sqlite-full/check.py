"""check.sh as a persistent checker: the database opens (a hot journal is rolled back),
passes its integrity check, and holds the second row once "saved" was acknowledged.

    faultline explore --trace TRACE --persistent \
        --checker "python3 examples/recorded/sqlite-full/check.py"
"""

import os
import sqlite3
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "checkers"))
import faultline_checker  # noqa: E402


def check(state):
    db = sqlite3.connect(os.path.join(state.dir, "db.sqlite"), isolation_level=None)
    try:
        integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
        if integrity != "ok":
            return "integrity: " + integrity
        rows = db.execute("SELECT count(*) FROM t").fetchone()[0]
    finally:
        db.close()
    if "saved" in state.stdout and rows < 2:
        return "saved was acknowledged, but t holds %d row(s)" % rows
    return None


faultline_checker.serve(check)
