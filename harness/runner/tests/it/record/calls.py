# Every call faultline record models beyond plain writes, once each, in the current directory:
# copy_file_range (descriptor offsets and explicit ones), sendfile, splice both ways through
# a pipe, tee, cp and cat (copy_file_range), shutil.copyfile (sendfile), fallocate's collapse
# and insert, an access ACL (which sets the mode), a user extended attribute (a warning),
# mknod of a regular file, openat2, pwritev2 with RWF_APPEND (at the end whatever the offset), and sed -i (which gives its new file the old one's mode with
# fsetxattr(system.posix_acl_access) where the file system has ACLs).
import ctypes, os, shutil, struct, subprocess

libc = ctypes.CDLL(None, use_errno=True)
libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long, ctypes.c_long]
libc.tee.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_size_t, ctypes.c_uint]
libc.syscall.restype = ctypes.c_long

src = os.open("src.bin", os.O_RDWR | os.O_CREAT, 0o644)
os.write(src, bytes(range(256)) * 64)
dst = os.open("cfr.bin", os.O_WRONLY | os.O_CREAT, 0o644)
os.lseek(src, 100, os.SEEK_SET)
os.copy_file_range(src, dst, 1000)
os.copy_file_range(src, dst, 500, 7, 3000)
os.write(dst, b"after")
os.close(dst)

sf = os.open("sendfile.bin", os.O_WRONLY | os.O_CREAT, 0o600)
os.sendfile(sf, src, 5, 300)
os.sendfile(sf, src, None, 20)
os.close(sf)

r, w = os.pipe()
os.write(w, b"pipe bytes then file bytes:")
os.splice(src, w, 64, offset_src=4000)
sp = os.open("splice.bin", os.O_WRONLY | os.O_CREAT, 0o644)
os.splice(r, sp, 27 + 64)
r2, w2 = os.pipe()
os.write(w, b"teed")
assert libc.tee(r, w2, 4, 0) == 4
os.splice(r2, sp, 4, offset_dst=0)
os.splice(r, sp, 4)
os.close(sp)

subprocess.run(["cp", "src.bin", "cp.bin"], check=True)
subprocess.run(["sh", "-c", "cat src.bin > cat.bin"], check=True)
shutil.copyfile("src.bin", "shutil.bin")

fa = os.open("falloc.bin", os.O_RDWR | os.O_CREAT, 0o644)
os.write(fa, b"".join(bytes([65 + i]) * 4096 for i in range(6)))
for mode in (0x08, 0x20):  # FALLOC_FL_COLLAPSE_RANGE, FALLOC_FL_INSERT_RANGE
    libc.fallocate(fa, mode, 4096, 4096)  # a file system without them refuses: not recorded
os.close(fa)

with open("acl.txt", "w") as f:
    f.write("acl\n")
entries = ((1, 6), (4, 0), (0x20, 0))  # owner rw-, group ---, other ---
acl = struct.pack("<I", 2) + b"".join(struct.pack("<HHI", t, p, 0xFFFFFFFF) for t, p in entries)
for name, value in (("system.posix_acl_access", acl), ("user.note", b"x")):
    try:
        os.setxattr("acl.txt", name, value)
    except OSError:
        pass

os.mknod("node.txt", 0o640 | 0o100000)

ap = os.open("rwf.txt", os.O_RDWR | os.O_CREAT, 0o644)
os.write(ap, b"start\n")
os.pwritev(ap, [b"appended\n"], 0, os.RWF_APPEND)
os.close(ap)

with open("sedded.txt", "w") as f:
    f.write("before\n")
os.chmod("sedded.txt", 0o664)
subprocess.run(["sed", "-i", "s/before/after/", "sedded.txt"], check=True)


class OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


how = OpenHow(os.O_WRONLY | os.O_CREAT, 0o604, 0)
fd = libc.syscall(437, -100, b"openat2.txt", ctypes.byref(how), ctypes.sizeof(how))
if fd >= 0:
    os.write(fd, b"via openat2\n")
    os.close(fd)
print("done", flush=True)
