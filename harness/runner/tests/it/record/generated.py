# Generated programs for the recorder's differential test: `generated.py SEED COUNT` runs COUNT
# programs, each a random sequence of file calls in its own directory p<N>. Some programs run
# part of their sequence in a thread or a forked child (one at a time, so the order strace
# prints is the order the kernel ran). A call the kernel refuses is skipped: strace hides
# failed calls, and the recorder must ignore them too.
import ctypes, os, random, struct, sys, threading

libc = ctypes.CDLL(None, use_errno=True)
libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long, ctypes.c_long]
# plain, KEEP_SIZE, PUNCH_HOLE|KEEP_SIZE, ZERO_RANGE, COLLAPSE_RANGE, INSERT_RANGE (the last two
# on whole blocks only)
FALLOC_MODES = [0, 1, 1 | 2, 0x10, 0x08, 0x20]


def acl(owner, group, other):
    entries = ((1, owner), (4, group), (0x20, other))
    return struct.pack("<I", 2) + b"".join(struct.pack("<HHI", t, p, 0xFFFFFFFF) for t, p in entries)


class Program:
    def __init__(self, rng, root):
        self.rng, self.root, self.fds = rng, root, []
        os.mkdir(root)

    def name(self):
        sub = self.rng.choice(["", "d/"])
        return f"{self.root}/{sub}f{self.rng.randrange(4)}"

    def data(self):
        return bytes(self.rng.randrange(256) for _ in range(self.rng.choice([1, 7, 100, 5000])))

    def fd(self):
        return self.rng.choice(self.fds) if self.fds else None

    def step(self):
        rng, op = self.rng, self.rng.randrange(22)
        fd = self.fd()
        try:
            if op < 4 or fd is None:
                flags = os.O_RDWR | os.O_CREAT
                flags |= rng.choice([0, os.O_TRUNC, os.O_APPEND, os.O_EXCL])
                self.fds.append(os.open(self.name(), flags, rng.choice([0o600, 0o644, 0o640])))
            elif op == 4:
                os.write(fd, self.data())
            elif op == 5:
                os.pwrite(fd, self.data(), rng.randrange(9000))
            elif op == 6:
                os.writev(fd, [self.data(), self.data()])
            elif op == 7:
                os.lseek(fd, rng.randrange(9000), os.SEEK_SET)
            elif op == 8:
                os.ftruncate(fd, rng.randrange(9000))
            elif op == 9:
                mode = rng.choice(FALLOC_MODES)
                if mode in (0x08, 0x20):
                    libc.fallocate(fd, mode, 4096 * rng.randrange(3), 4096)
                else:
                    libc.fallocate(fd, mode, rng.randrange(9000), rng.randrange(1, 5000))
            elif op == 10:
                other = self.fd()
                if rng.random() < 0.5:
                    os.copy_file_range(other, fd, rng.randrange(1, 6000))
                else:
                    os.copy_file_range(other, fd, rng.randrange(1, 6000), rng.randrange(6000), rng.randrange(9000))
            elif op == 11:
                other = self.fd()
                if os.fstat(other).st_ino != os.fstat(fd).st_ino:  # onto itself is unsupported
                    os.sendfile(fd, other, rng.choice([None, rng.randrange(6000)]), rng.randrange(1, 6000))
            elif op == 12:
                r, w = os.pipe()
                os.write(w, self.data()[:4000])
                other = self.fd()
                if rng.random() < 0.5 and os.fstat(other).st_ino != os.fstat(fd).st_ino:
                    # (a file's pages spliced back into itself: unsupported, like sendfile's)
                    os.splice(other, w, rng.randrange(1, 4000), offset_src=rng.randrange(6000))
                os.splice(r, fd, 65536, flags=os.SPLICE_F_NONBLOCK)
                os.close(r)
                os.close(w)
            elif op == 13:
                os.rename(self.name(), self.name())
            elif op == 14:
                os.link(self.name(), self.name())
            elif op == 15:
                os.unlink(self.name())
            elif op == 16:
                os.mkdir(f"{self.root}/d", 0o755) if rng.random() < 0.7 else os.rmdir(f"{self.root}/d")
            elif op == 17:
                os.chmod(self.name(), rng.choice([0o600, 0o644, 0o755, 0o400]))
            elif op == 18:
                os.setxattr(self.name(), "system.posix_acl_access", acl(*(rng.randrange(8) for _ in range(3))))
            elif op == 19:
                os.symlink(rng.choice(["f0", "../x", "d/f1"]), self.name())
            elif op == 20:
                self.fds.append(os.dup(fd))
            else:
                os.close(fd)
                self.fds.remove(fd)
        except OSError:
            pass

    def run(self, steps):
        for _ in range(steps):
            self.step()


def main():
    seed, count = int(sys.argv[1]), int(sys.argv[2])
    only = int(sys.argv[3]) if len(sys.argv) > 3 else None  # one program, to look into it
    for n in range(count):
        if only is not None and n != only:
            continue
        rng = random.Random(seed * 100003 + n)
        program = Program(rng, f"p{n}")
        program.run(rng.randrange(5, 30))
        how = rng.randrange(3)
        if how == 1:
            t = threading.Thread(target=program.run, args=(rng.randrange(5, 20),))
            t.start()
            t.join()
        elif how == 2:
            pid = os.fork()
            if pid == 0:
                program.run(rng.randrange(5, 20))
                os._exit(0)
            os.waitpid(pid, 0)
        program.run(rng.randrange(0, 10))


main()
