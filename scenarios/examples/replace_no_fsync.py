"""Writes a temp file and renames it over the old one, without fsync.

Readers and kills never see a torn file (the rename is atomic), but after a power cut the
rename can reach the disk before the data (an empty file), or not at all after the program
said it saved. Usage: replace_no_fsync.py PATH WRITER VERSION SIZE
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
with tempfile.NamedTemporaryFile("w", dir=os.path.dirname(path), delete=False) as f:
    json.dump(state, f)
os.replace(f.name, path)
