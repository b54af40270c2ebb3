"""A persistent checker for `faultline explore --trace TRACE --persistent --checker ...`.

One Python process judges every crash state its worker is given, instead of one process
(and one interpreter start) per state. Write a function that looks at one state and serve it:

    import faultline_checker

    def check(state):
        # state.dir: the crash state's directory; state.stdout: what the program printed
        # before the crash; state.finished: the crash came after its last call;
        # state.moment: trace entries before the crash; state.id: the state's id.
        # Return None if the state is fine, or a reason; an exception fails the state too.
        ...

    faultline_checker.serve(check)

The protocol under it, for checkers in other languages: faultline writes one line per state,
DIR TAB STDOUT TAB FINISHED TAB MOMENT TAB STATE (STDOUT is a file's path, FINISHED is 1 or 0),
and reads one line back, `ok` or `fail REASON`.
"""

import sys
import traceback
from dataclasses import dataclass


@dataclass
class State:
    dir: str
    stdout: str
    finished: bool
    moment: int
    id: str


def serve(check, lines=sys.stdin, out=sys.stdout):
    """Answers every state line on `lines` with check(state)'s verdict, one line each."""
    for line in lines:
        fields = line.rstrip("\n").split("\t")
        if len(fields) != 5:
            out.write("bad request line: %r\n" % line)
            out.flush()
            return
        directory, stdout_path, finished, moment, state_id = fields
        with open(stdout_path, "rb") as f:
            printed = f.read().decode("utf-8", "replace")
        state = State(directory, printed, finished == "1", int(moment), state_id)
        try:
            reason = check(state)
        except Exception:
            reason = traceback.format_exc(limit=1).strip().splitlines()[-1]
        if reason is None or reason is True:
            out.write("ok\n")
        else:
            out.write("fail %s\n" % " ".join(str(reason).split()))
        out.flush()
