#!/usr/bin/python3
"""Does /dev/kvm work here? Used by `tests/rig/rig --check`; runs anywhere.

Checks KVM_GET_API_VERSION == 12 and KVM_CREATE_VM, then runs two tiny
guests: a real-mode one (out 0x10 with 0x42; hlt) and a 64-bit one that
takes #UD through its own IDT and reports 0x43 from the handler.

Beware: kvm-pvm (the host /dev/kvm on these machines) passes all of this
too, although it cannot boot a stock kernel; so a kvm_pvm module is
reported as a failure by name.
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
HANDLER_AT = 0x1100
REAL_CODE = bytes([0xB0, 0x42,  # mov al, 0x42
                   0xE6, 0x10,  # out 0x10, al
                   0xF4])       # hlt
LONG_CODE = bytes([0x0F, 0x0B])  # ud2
HANDLER = bytes([0xB0, 0x43, 0xE6, 0x10, 0xF4])  # mov al, 0x43; out 0x10, al; hlt

SEG = struct.Struct("<QIHBBBBBBBBBB")  # struct kvm_segment
SREGS_SIZE, REGS_SIZE = 312, 144
SEG_CS, SEG_DS, SEG_ES, SEG_FS, SEG_GS, SEG_SS, SEG_TR = (24 * i for i in range(7))
GDT_AT, IDT_AT, CR0_AT, CR3_AT, CR4_AT, EFER_AT = 192, 208, 224, 240, 248, 264


def modules():
    try:
        names = sorted(os.listdir("/sys/module"))
    except OSError:
        return "?"
    return ",".join(n for n in names if n.startswith("kvm")) or "none"


def long_mode(mem, sregs):
    """Identity-map 2 MiB, flat 64-bit segments, an IDT with a #UD gate."""
    pml4, pdpt, pd, gdt, idt = 0x2000, 0x3000, 0x4000, 0x500, 0x600
    struct.pack_into("<Q", mem, pml4, pdpt | 3)
    struct.pack_into("<Q", mem, pdpt, pd | 3)
    struct.pack_into("<Q", mem, pd, 0x83)  # present, writable, 2 MiB page
    struct.pack_into("<QQQ", mem, gdt, 0, 0x00AF9A000000FFFF, 0x00CF92000000FFFF)
    gate = (HANDLER_AT & 0xFFFF) | (0x08 << 16) | (0x8E << 40) | ((HANDLER_AT >> 16) << 48)
    struct.pack_into("<QQ", mem, idt + 16 * 6, gate, HANDLER_AT >> 32)
    mem[HANDLER_AT:HANDLER_AT + len(HANDLER)] = HANDLER
    #               base limit sel type p dpl db s l g avl unusable pad
    SEG.pack_into(sregs, SEG_CS, 0, 0xFFFFFFFF, 0x08, 11, 1, 0, 0, 1, 1, 1, 0, 0, 0)
    for off in (SEG_DS, SEG_ES, SEG_FS, SEG_GS, SEG_SS):
        SEG.pack_into(sregs, off, 0, 0xFFFFFFFF, 0x10, 3, 1, 0, 1, 1, 0, 1, 0, 0, 0)
    SEG.pack_into(sregs, SEG_TR, 0, 0x67, 0x18, 11, 1, 0, 0, 0, 0, 0, 0, 0, 0)
    struct.pack_into("<QH", sregs, GDT_AT, gdt, 23)
    struct.pack_into("<QH", sregs, IDT_AT, idt, 16 * 7 - 1)
    struct.pack_into("<Q", sregs, CR0_AT, 0x80000011)  # PG | ET | PE
    struct.pack_into("<Q", sregs, CR3_AT, pml4)
    struct.pack_into("<Q", sregs, CR4_AT, 0x20)  # PAE
    struct.pack_into("<Q", sregs, EFER_AT, 0x500)  # LMA | LME


def run_guest(kvm, code, mode):
    vm = fcntl.ioctl(kvm, KVM_CREATE_VM, 0)
    mem = mmap.mmap(-1, 0x10000)
    mem[CODE_AT:CODE_AT + len(code)] = code
    addr = ctypes.addressof(ctypes.c_char.from_buffer(mem))
    region = struct.pack("IIQQQ", 0, 0, 0, len(mem), addr)
    fcntl.ioctl(vm, KVM_SET_USER_MEMORY_REGION, region)

    vcpu = fcntl.ioctl(vm, KVM_CREATE_VCPU, 0)
    size = fcntl.ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0)
    run = mmap.mmap(vcpu, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)

    sregs = bytearray(SREGS_SIZE)
    fcntl.ioctl(vcpu, KVM_GET_SREGS, sregs)
    if mode == "long":
        long_mode(mem, sregs)
    else:
        struct.pack_into("<QIH", sregs, SEG_CS, 0, 0xFFFF, 0)
    fcntl.ioctl(vcpu, KVM_SET_SREGS, bytes(sregs))
    regs = bytearray(REGS_SIZE)
    fcntl.ioctl(vcpu, KVM_GET_REGS, regs)
    struct.pack_into("<Q", regs, 6 * 8, 0x8000)  # rsp
    struct.pack_into("<QQ", regs, 128, CODE_AT, 0x2)  # rip, rflags
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
    for fd in (vcpu, vm):
        os.close(fd)
    return seen


def check(kvm, name, code, mode, want):
    try:
        seen = run_guest(kvm, code, mode)
    except OSError as e:
        seen = [("error", str(e))]
    ok = seen == [("io", 0x10, want), ("hlt",)]
    print(f"KVM_RUN {name}: {'ok' if ok else 'FAILED'} {seen}")
    return ok


def main():
    print(f"kvm modules: {modules()}")
    try:
        kvm = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    except OSError as e:
        print(f"/dev/kvm: cannot open: {e}")
        return 1
    api = fcntl.ioctl(kvm, KVM_GET_API_VERSION, 0)
    print(f"KVM_GET_API_VERSION: {api}")
    if api != 12:
        return 1
    os.close(fcntl.ioctl(kvm, KVM_CREATE_VM, 0))
    print("KVM_CREATE_VM: ok")
    ok = check(kvm, "real-mode guest", REAL_CODE, "real", 0x42)
    ok = check(kvm, "64-bit guest taking #UD through its IDT", LONG_CODE, "long", 0x43) and ok
    if ok and "kvm_pvm" in modules():
        print("kvm_pvm: runs these tests but not an unmodified guest kernel")
        ok = False
    print("/dev/kvm works" if ok else "/dev/kvm does NOT work")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
