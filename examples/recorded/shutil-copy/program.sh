# A durable save in Python: shutil.copyfile (sendfile) to a temp, fsync it, rename it over
# the old file, fsync the directory.
python3 - <<'PY'
import os, shutil
with open("staging", "w") as f:
    f.write("value=2\n")
shutil.copyfile("staging", "config.tmp")
fd = os.open("config.tmp", os.O_RDONLY)
os.fsync(fd)
os.close(fd)
os.rename("config.tmp", "config.txt")
fd = os.open(".", os.O_RDONLY | os.O_DIRECTORY)
os.fsync(fd)
os.close(fd)
os.write(int(os.environ["FAULTLINE_ACK_FD"]), b"saved\n")
PY
