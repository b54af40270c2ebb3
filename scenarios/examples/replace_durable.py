"""The durable save: temp file, fsync it, rename over the old file, fsync the directory.

Passes under readers, kills and power loss. Usage: replace_durable.py PATH WRITER VERSION SIZE
"""
import json
import os
import sys
import tempfile

path, writer, version, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
state = {
    "writer": writer,
    "seq": version,
    "items": [{"id": i, "name": f"item-{i}", "version": version} for i in range(max(1, size // 48))],
}
directory = os.path.dirname(path)
fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-")
try:
    with os.fdopen(fd, "w") as f:
        json.dump(state, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
except BaseException:
    os.unlink(tmp)
    raise
dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
try:
    os.fsync(dir_fd)
finally:
    os.close(dir_fd)
