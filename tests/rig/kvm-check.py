#!/usr/bin/python3
"""Does /dev/kvm work here? Used by `tests/rig/rig --check`; runs anywhere.

Checks KVM_GET_API_VERSION == 12 and KVM_CREATE_VM, then runs a real-mode
guest of four instructions (out 0x10, al=0x42; hlt) and expects KVM_EXIT_IO
followed by KVM_EXIT_HLT: opening and creating succeed on kvm-pvm too, only
running a guest tells a working KVM apart.
"""
import ctypes
import fcntl
import mmap
import os
import struct
import sys

KVM_GET_API_VERSION = 0xAE00
KVM_CREATE_VM = 0xAE01
KVM_GET_VCPU_MMAP_SIZE = 0xAE04
KVM_CREATE_VCPU = 0xAE41
KVM_SET_USER_MEMORY_REGION = 0x4020AE46
KVM_RUN = 0xAE80
KVM_GET_REGS = 0x8090AE81
KVM_SET_REGS = 0x4090AE82
KVM_GET_SREGS = 0x8138AE83
KVM_SET_SREGS = 0x4138AE84
KVM_EXIT_IO, KVM_EXIT_HLT = 2, 5

CODE_AT = 0x1000
CODE = bytes([0xB0, 0x42,   # mov al, 0x42
              0xE6, 0x10,   # out 0x10, al
              0xF4])        # hlt


def modules():
    try:
        names = sorted(os.listdir("/sys/module"))
    except OSError:
        return "?"
    return ",".join(n for n in names if n.startswith("kvm")) or "none"


def run_guest(vm):
    mem = mmap.mmap(-1, 0x10000)
    mem[CODE_AT:CODE_AT + len(CODE)] = CODE
    addr = ctypes.addressof(ctypes.c_char.from_buffer(mem))
    region = struct.pack("IIQQQ", 0, 0, 0, len(mem), addr)
    fcntl.ioctl(vm, KVM_SET_USER_MEMORY_REGION, region)

    vcpu = fcntl.ioctl(vm, KVM_CREATE_VCPU, 0)
    size = fcntl.ioctl(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0)
    run = mmap.mmap(vcpu, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)

    sregs = bytearray(312)
    fcntl.ioctl(vcpu, KVM_GET_SREGS, sregs)
    struct.pack_into("QIH", sregs, 0, 0, 0xFFFF, 0)  # cs: base 0, selector 0
    fcntl.ioctl(vcpu, KVM_SET_SREGS, bytes(sregs))
    regs = bytearray(144)
    fcntl.ioctl(vcpu, KVM_GET_REGS, regs)
    struct.pack_into("QQ", regs, 128, CODE_AT, 0x2)  # rip, rflags
    fcntl.ioctl(vcpu, KVM_SET_REGS, bytes(regs))

    seen = []
    for _ in range(4):
        fcntl.ioctl(vcpu, KVM_RUN, 0)
        reason = struct.unpack_from("I", run, 8)[0]
        if reason == KVM_EXIT_IO:
            direction, size, port, count, offset = struct.unpack_from("BBHIQ", run, 32)
            seen.append(("io", port, run[offset]))
        elif reason == KVM_EXIT_HLT:
            seen.append(("hlt",))
            break
        else:
            seen.append(("exit", reason))
            break
    return seen


kvm_fd = -1


def main():
    global kvm_fd
    print(f"kvm modules: {modules()}")
    try:
        kvm_fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    except OSError as e:
        print(f"/dev/kvm: cannot open: {e}")
        return 1
    api = fcntl.ioctl(kvm_fd, KVM_GET_API_VERSION, 0)
    print(f"KVM_GET_API_VERSION: {api}")
    if api != 12:
        return 1
    vm = fcntl.ioctl(kvm_fd, KVM_CREATE_VM, 0)
    print("KVM_CREATE_VM: ok")
    try:
        seen = run_guest(vm)
    except OSError as e:
        print(f"KVM_RUN: failed: {e}")
        return 1
    ok = seen == [("io", 0x10, 0x42), ("hlt",)]
    print(f"KVM_RUN real-mode guest: {'ok' if ok else 'FAILED'} {seen}")
    print("/dev/kvm works" if ok else "/dev/kvm does NOT work")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
