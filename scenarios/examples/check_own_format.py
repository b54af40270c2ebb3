"""The checker of save_own_format.py: PATH holds one complete save, no older than version ACKED
(the newest version acknowledged before the crash; 0 is the file faultline started from, which
is in faultline's own format). Usage: check_own_format.py PATH ACKED"""
import json
import sys

path, acked = sys.argv[1], int(sys.argv[2])
try:
    with open(path) as f:
        state = json.load(f)
except (OSError, ValueError) as e:
    print(f"{path}: {e}")
    sys.exit(1)
version = state.get("version", state.get("seq"))
if not isinstance(version, int):
    print(f"{path}: no integer version")
    sys.exit(1)
if version < acked:
    print(f"{path}: holds version {version}, but {acked} was acknowledged")
    sys.exit(1)
