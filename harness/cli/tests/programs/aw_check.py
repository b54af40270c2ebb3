"""Checks a crash state of aw.py: the file is one complete version, and not older than the
newest version acknowledged before the crash. Usage: aw_check.py PATH STDOUT"""
import sys

SIZES = [212, 1536, 5000, 301]
acked = 0
for line in open(sys.argv[2]).read().split("\n")[:-1]:
    if line.startswith("acked "):
        acked = int(line.split()[1])
try:
    data = open(sys.argv[1], "rb").read()
except OSError as e:
    print("missing:", e)
    sys.exit(1)
for version, size in enumerate(SIZES):
    body = ("version %d " % version).encode()
    if data == body + b"x" * (size - len(body) - 1) + b"\n":
        if version < acked:
            print("holds version", version, "but", acked, "was acknowledged")
            sys.exit(1)
        sys.exit(0)
print("not a complete version:", len(data), "bytes", data[:20])
sys.exit(1)
