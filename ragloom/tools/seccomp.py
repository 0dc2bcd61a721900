"""A small seccomp-BPF filter for the sandbox (loaded by ``bwrap --seccomp FD``).

Why a denylist: the namespaces already confine files, processes and network; the filter removes the kernel
interfaces an escape would start from and that a script never needs: ptrace and cross-process memory access,
creating namespaces (``unshare``, ``setns``, ``clone`` with CLONE_NEW* flags; ``clone3`` answers ENOSYS so
libc falls back to ``clone``, whose flags a filter can read), mounts, kernel keyrings, bpf, perf, userfaultfd,
io_uring, module loading and sockets other than AF_UNIX. Syscalls of a foreign ABI (i386 ``int 0x80``, x32)
are refused as a whole. Denied calls fail with EPERM, so the script gets a readable ``PermissionError``.

Written by hand (no libseccomp binding in the default install): ``struct sock_filter`` is 8 bytes,
``seccomp_data`` is ``{int nr; u32 arch; u64 ip; u64 args[6]}`` (linux/seccomp.h, linux/filter.h).
"""

from __future__ import annotations

import platform
import struct

_LD_ABS_W, _JEQ, _JGE, _JSET, _RET = 0x20, 0x15, 0x35, 0x45, 0x06
_ALLOW, _ERRNO = 0x7FFF0000, 0x00050000
_EPERM, _ENOSYS, _AF_UNIX = 1, 38, 1
_NR, _ARCH, _ARG0 = 0, 4, 16
# CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET | NEWTIME
_CLONE_NEW_MASK = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000
_CLONE_NEW_MASK |= 0x80

_DENIED_NAMES = [
    *("ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd"),
    *("mount", "umount2", "pivot_root", "chroot", "open_tree", "move_mount", "mount_setattr"),
    *("fsopen", "fsconfig", "fsmount", "fspick", "unshare", "setns"),
    *("bpf", "perf_event_open", "userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register"),
    *("keyctl", "add_key", "request_key", "kexec_load", "kexec_file_load"),
    *("init_module", "finit_module", "delete_module", "open_by_handle_at", "name_to_handle_at"),
    *("reboot", "swapon", "swapoff", "acct", "syslog", "quotactl", "personality", "iopl", "ioperm"),
]

_X86_64 = {
    "ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311, "mount": 165, "umount2": 166,
    "pivot_root": 155, "chroot": 161, "unshare": 272, "setns": 308, "bpf": 321, "perf_event_open": 298,
    "userfaultfd": 323, "keyctl": 250, "add_key": 248, "request_key": 249, "kexec_load": 246,
    "kexec_file_load": 320, "init_module": 175, "finit_module": 313, "delete_module": 176,
    "open_by_handle_at": 304, "name_to_handle_at": 303, "reboot": 169, "swapon": 167, "swapoff": 168,
    "acct": 163, "syslog": 103, "quotactl": 179, "personality": 135, "iopl": 172, "ioperm": 173,
    "socket": 41, "clone": 56,
}  # fmt: skip
_AARCH64 = {
    "ptrace": 117, "process_vm_readv": 270, "process_vm_writev": 271, "mount": 40, "umount2": 39,
    "pivot_root": 41, "chroot": 51, "unshare": 97, "setns": 268, "bpf": 280, "perf_event_open": 241,
    "userfaultfd": 282, "keyctl": 219, "add_key": 217, "request_key": 218, "kexec_load": 104,
    "kexec_file_load": 294, "init_module": 105, "finit_module": 273, "delete_module": 106,
    "open_by_handle_at": 265, "name_to_handle_at": 264, "reboot": 142, "swapon": 224, "swapoff": 225,
    "acct": 89, "syslog": 116, "quotactl": 60, "personality": 92, "socket": 198, "clone": 220,
}  # fmt: skip
_COMMON = {  # same numbers on both (the unified table of newer syscalls)
    "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427, "open_tree": 428,
    "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433, "pidfd_getfd": 438,
    "mount_setattr": 442, "clone3": 435,
}  # fmt: skip
# (AUDIT_ARCH value, syscall table, lowest syscall number of a foreign sub-ABI or None)
_ARCHES = {"x86_64": (0xC000003E, _X86_64, 0x40000000), "aarch64": (0xC00000B7, _AARCH64, None)}


def seccomp_filter() -> bytes | None:
    """The compiled filter for this machine's architecture, or None where it has no syscall table here."""
    arch = _ARCHES.get(platform.machine())
    if arch is None:
        return None
    audit_arch, table, foreign_from = arch
    numbers = {**table, **_COMMON}
    prog = _Program()
    prog.load(_ARCH)
    prog.jump(_JEQ, audit_arch, "native", "deny")
    prog.label("native")
    prog.load(_NR)
    if foreign_from is not None:
        prog.jump(_JGE, foreign_from, "deny", None)
    for name in _DENIED_NAMES:
        if name in numbers:
            prog.jump(_JEQ, numbers[name], "deny", None)
    prog.jump(_JEQ, numbers["socket"], "socket", None)
    prog.jump(_JEQ, numbers["clone"], "clone", None)
    prog.jump(_JEQ, numbers["clone3"], "enosys", None)
    prog.ret(_ALLOW)
    prog.label("socket")
    prog.load(_ARG0)
    prog.jump(_JEQ, _AF_UNIX, "allow", "deny")
    prog.label("clone")
    prog.load(_ARG0)
    prog.jump(_JSET, _CLONE_NEW_MASK, "deny", "allow")
    prog.label("allow")
    prog.ret(_ALLOW)
    prog.label("enosys")
    prog.ret(_ERRNO | _ENOSYS)
    prog.label("deny")
    prog.ret(_ERRNO | _EPERM)
    return prog.assemble()


class _Program:
    """A tiny BPF assembler: instructions with symbolic forward jump targets."""

    def __init__(self) -> None:
        self.ops: list[tuple[int, str | None, str | None, int]] = []
        self.labels: dict[str, int] = {}

    def load(self, offset: int) -> None:
        self.ops.append((_LD_ABS_W, None, None, offset))

    def jump(self, code: int, k: int, true: str | None, false: str | None) -> None:
        self.ops.append((code, true, false, k))

    def ret(self, value: int) -> None:
        self.ops.append((_RET, None, None, value))

    def label(self, name: str) -> None:
        self.labels[name] = len(self.ops)

    def assemble(self) -> bytes:
        out = bytearray()
        for index, (code, true, false, k) in enumerate(self.ops):
            jt = self.labels[true] - index - 1 if true else 0
            jf = self.labels[false] - index - 1 if false else 0
            if not (0 <= jt < 256 and 0 <= jf < 256):
                raise ValueError(f"seccomp jump out of range at instruction {index}")
            out += struct.pack("=HBBI", code, jt, jf, k & 0xFFFFFFFF)
        return bytes(out)
