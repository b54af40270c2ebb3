"""fcntl.flock on a lock file, held while a command runs. Usage: flock_lock.py [--unlink] LOCK COMMAND...

Without --unlink the lock file stays, and this is a correct lock. With --unlink each holder
removes the lock file when it is done, so that no lock file is left behind (the "orphaned lock
cleanup" of seed report 003). That is broken: a waiter that opened the file before it was
removed gets the lock on the removed file, while the next comer creates a new file at the path
and locks that one. Two holders.
"""
import fcntl
import os
import subprocess
import sys

args = sys.argv[1:]
unlink = args[0] == "--unlink"
if unlink:
    args = args[1:]
lock, command = args[0], args[1:]
fd = os.open(lock, os.O_CREAT | os.O_RDWR, 0o644)
fcntl.flock(fd, fcntl.LOCK_EX)
try:
    code = subprocess.call(command)
finally:
    if unlink:
        try:
            os.unlink(lock)
        except FileNotFoundError:
            pass
    os.close(fd)
sys.exit(code)
