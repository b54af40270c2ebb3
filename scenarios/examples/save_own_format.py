"""A saver with a file format of its own ({"version": N, "notes": [...]}: no writer or seq
fields). `durable` writes a temp file, fsyncs it, renames it over the old file and fsyncs the
directory; `inplace` rewrites the file where it stands (json.dump writes it in pieces).
Usage: save_own_format.py MODE PATH VERSION SIZE (about SIZE bytes)
"""
import json
import os
import sys

mode, path, version, size = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
state = {"version": version, "notes": ["note %d" % i for i in range(max(1, size // 12))]}
if mode == "inplace":
    with open(path, "w") as f:
        json.dump(state, f)
    sys.exit(0)
tmp = path + ".tmp"
with open(tmp, "w") as f:
    json.dump(state, f)
    f.flush()
    os.fsync(f.fileno())
os.replace(tmp, path)
fd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY | os.O_DIRECTORY)
os.fsync(fd)
os.close(fd)
