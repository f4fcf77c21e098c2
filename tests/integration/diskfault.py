"""Real failing disks for the integration tests (tests/integration/test_disk_*.py).

Nothing here fakes a failure: a data folder on a small tmpfs runs out of room
(ENOSPC), and an ext4 file system on a loop device is shut down with the
EXT4_IOC_SHUTDOWN ioctl (xfstests' "godown"), after which every write to it
fails with EIO, as a dying disk's would. Both need root (mount, losetup); a
test that cannot have them says SKIPPED and why.

Also: the engine process of a host, and the CPU time it used (from /proc), so a
test can bound it over a window (a bound, not a benchmark).
"""

import contextlib
import fcntl
import os
import subprocess
import time
import tempfile

import harness

EXT4_IOC_SHUTDOWN = 0x8004587D  # _IOR('X', 125, __u32)
EXT4_GOING_FLAGS_NOLOGFLUSH = 0x2  # stop at once, as a pulled cable would


def _run(argv):
    return subprocess.run(argv, capture_output=True, text=True)


def can_mount():
    """Whether this process may mount a tmpfs (root, or CAP_SYS_ADMIN)."""
    probe = tempfile.mkdtemp(prefix="tarry-mount-probe-")
    try:
        if _run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", probe]).returncode != 0:
            return False
        _run(["umount", probe])
        return True
    finally:
        os.rmdir(probe)


@contextlib.contextmanager
def tmpfs(path, size):
    """Mount a tmpfs of `size` (e.g. "4m") on `path` (created if missing) for the block."""
    os.makedirs(path, exist_ok=True)
    r = _run(["mount", "-t", "tmpfs", "-o", "size=%s" % size, "tmpfs", path])
    if r.returncode != 0:
        raise RuntimeError("cannot mount a tmpfs on %s: %s" % (path, r.stderr.strip()))
    try:
        yield path
    finally:
        _run(["umount", "-l", path])


class Loop:
    """An ext4 file system on a loop device, mounted on `path`."""

    def __init__(self, path, device):
        self.path = path
        self.device = device

    def remount(self):
        """Unmount and mount again: a shut-down file system comes back with what reached its device."""
        # The kernel frees a dead host's inotify watch on the folder a moment after the process is
        # gone (deferred work), and the mount is busy until then.
        deadline = time.monotonic() + 10
        while True:
            r = _run(["umount", self.path])
            if r.returncode == 0 or time.monotonic() > deadline or "busy" not in r.stderr:
                break
            time.sleep(0.05)
        if r.returncode != 0:
            raise RuntimeError("umount %s: %s" % (self.path, r.stderr.strip()))
        r = _run(["mount", self.device, self.path])
        if r.returncode != 0:
            raise RuntimeError("mount %s: %s" % (self.device, r.stderr.strip()))


@contextlib.contextmanager
def ext4_loop(path, size_mb=64):
    """An ext4 file system on a loop device (its image on a tmpfs), mounted on `path`; yields a Loop."""
    back = tempfile.mkdtemp(prefix="tarry-loop-")
    loop = None
    mounted = False
    try:
        if _run(["mount", "-t", "tmpfs", "-o", "size=%dm" % (size_mb + 8), "tmpfs", back]).returncode != 0:
            raise RuntimeError("cannot mount a tmpfs for the loop image")
        image = os.path.join(back, "image")
        with open(image, "wb") as f:
            f.truncate(size_mb << 20)
        r = _run(["mkfs.ext4", "-q", "-F", image])
        if r.returncode != 0:
            raise RuntimeError("mkfs.ext4: %s" % r.stderr.strip())
        r = _run(["losetup", "-f", "--show", image])
        if r.returncode != 0:
            raise RuntimeError("losetup: %s" % r.stderr.strip())
        loop = r.stdout.strip()
        os.makedirs(path, exist_ok=True)
        r = _run(["mount", loop, path])
        if r.returncode != 0:
            raise RuntimeError("mount %s: %s" % (loop, r.stderr.strip()))
        mounted = True
        yield Loop(path, loop)
    finally:
        if mounted:
            _run(["umount", "-l", path])
        if loop:
            _run(["losetup", "-d", loop])
        _run(["umount", "-l", back])
        os.rmdir(back)


def can_loop():
    """Whether an ext4 loop device can be made and shut down here; the reason if not."""
    if not can_mount():
        return False, "cannot mount (not root)"
    for tool in ("losetup", "mkfs.ext4"):
        if _run(["which", tool]).returncode != 0:
            return False, "no %s" % tool
    mnt = tempfile.mkdtemp(prefix="tarry-loop-probe-")
    try:
        with ext4_loop(mnt, 16):
            shutdown(mnt)
            try:
                with open(os.path.join(mnt, "probe"), "wb") as f:
                    f.write(b"x")
                    f.flush()
                    os.fsync(f.fileno())
            except OSError:
                return True, ""
            return False, "EXT4_IOC_SHUTDOWN did not make writes fail"
    except (RuntimeError, OSError) as exc:
        return False, str(exc)
    finally:
        os.rmdir(mnt)


def shutdown(path):
    """Shut the ext4 file system mounted on `path` down: every write from now on fails with EIO."""
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.ioctl(fd, EXT4_IOC_SHUTDOWN, EXT4_GOING_FLAGS_NOLOGFLUSH.to_bytes(4, "little"))
    finally:
        os.close(fd)


def engine_pid(h):
    """The engine process of host `h` (the supervisor's child)."""
    kids = harness.descendants(h.proc.pid)
    if len(kids) != 1:
        raise harness.CheckFailed("FAILED: want one engine process under the supervisor, found %r" % kids)
    return kids[0]


def cpu_seconds(pid):
    """User + system CPU seconds process `pid` used so far (all its threads)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def commit_failures(h):
    """tarry_commit_failures_total from the host's /metrics: every failed commit, each retry counted."""
    _, _, body = h.client.raw("GET", "/metrics")
    text = body.decode("utf-8", "replace")
    for line in text.splitlines():
        if line.startswith("tarry_commit_failures_total "):
            return int(line.split()[1])
    raise harness.CheckFailed("FAILED: /metrics has no tarry_commit_failures_total: %r" % (text[:200],))
