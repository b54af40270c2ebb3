"""Saves a JSON state the way many programs do: open the file for writing and json.dump into it.

Opening with "w" truncates the file first, so a reader can see it empty or half-written, and a
kill or power cut in the middle leaves it torn. Usage: inplace_json_dump.py PATH WRITER VERSION SIZE
"""
import json
import sys

path, writer, version, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
state = {
    "writer": writer,
    "seq": version,
    "items": [{"id": i, "name": f"item-{i}", "version": version} for i in range(max(1, size // 48))],
}
with open(path, "w") as f:
    json.dump(state, f)
