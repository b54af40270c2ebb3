"""The atomic-write variants AW1-AW4 and the reference, as an external program, and two
durable savers that copy: `cp_sync_mv` (cp, which copies with copy_file_range; sync of the
copy; mv; sync of the directory) and `shutil_copy` (shutil.copyfile, which copies with
sendfile; fsync; rename; fsync of the directory).

Writes versions 1..3 of the built-in workload's file (sizes 1536, 5000 and 301 bytes) with the
variant's pattern and prints "acked N" once replace N returned, as the built-in workload
acknowledges it. Usage: aw.py VARIANT PATH
"""
import os
import shutil
import subprocess
import sys

SIZES = [212, 1536, 5000, 301]


def document(version):
    body = ("version %d " % version).encode()
    body += b"x" * (SIZES[version] - len(body) - 1)
    return body + b"\n"


def fsync_dir(path):
    fd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY | os.O_DIRECTORY)
    os.fsync(fd)
    os.close(fd)


def replace(variant, path, data):
    if variant in ("cp_sync_mv", "shutil_copy"):
        staging, tmp = path + ".staging", path + ".tmp"
        with open(staging, "wb") as f:
            f.write(data)
        if variant == "cp_sync_mv":
            script = 'cp "$1" "$2" && sync "$2" && mv "$2" "$3" && sync "$(dirname "$3")"'
            subprocess.run(["sh", "-c", script, "sh", staging, tmp, path], check=True)
            return
        shutil.copyfile(staging, tmp)
        fd = os.open(tmp, os.O_RDONLY)
        os.fsync(fd)
        os.close(fd)
        os.rename(tmp, path)
        fsync_dir(path)
        return
    if variant == "truncate_in_place":  # AW1
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.write(fd, data)
        os.close(fd)
        return
    tmp = "%s.tmp.%d" % (path, os.getpid())
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    os.write(fd, data)
    if variant == "fsync_after_rename":  # AW4
        os.rename(tmp, path)
        os.fsync(fd)
        os.close(fd)
        fsync_dir(path)
        return
    if variant != "no_file_fsync":  # AW2 skips this
        os.fsync(fd)
    os.close(fd)
    os.rename(tmp, path)
    if variant != "no_dir_fsync":  # AW3 skips this
        fsync_dir(path)


variant, path = sys.argv[1], sys.argv[2]
if variant == "init":
    with open(path, "wb") as f:
        f.write(document(0))
    sys.exit(0)
for version in range(1, len(SIZES)):
    replace(variant, path, document(version))
    print("acked", version, flush=True)
