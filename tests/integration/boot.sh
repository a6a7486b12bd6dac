#!/usr/bin/env bash
# Boot tests: real guests (run through tests/run-guest-tests, so in the rig
# on hosts whose KVM cannot run them). Boots build/guest/bzImage and vmlinux
# with the test initrd (tests/guest/init.c) and checks what the guest saw
# and how the VMM ended.
set -uo pipefail
cd "$(dirname "$0")/../.."
. tests/integration/lib.sh
cli=build/sandvisor
initrd=build/tests/test-initrd.cpio
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

boot() { # NAME KERNEL [sandvisor args...] ; output in $out/NAME.log, status in $rc
	local name=$1 kernel=$2
	shift 2
	timeout 600 "$cli" boot --kernel "$kernel" --initrd "$initrd" --timeout 300 "$@" \
		</dev/null >"$out/$name.log" 2>&1
	rc=$?
}

for k in bzImage vmlinux; do
	boot "$k" "build/guest/$k" --cmdline "sv.test=reboot"
	expect_status "$k boots to init and reboots cleanly" 0 "$rc"
	expect_grep "$k: marker line from init on the serial console" \
		"^SANDVISOR-TEST-INIT: up mode=reboot cpus=1 " "$out/$k.log"
done

boot cpus2 build/guest/bzImage --cpus 2 --cmdline "sv.test=reboot"
expect_status "--cpus 2 boots" 0 "$rc"
expect_grep "--cpus 2: guest sees 2 CPUs" "^SANDVISOR-TEST-INIT: up mode=reboot cpus=2 " "$out/cpus2.log"

boot poweroff build/guest/bzImage --cpus 2 --cmdline "sv.test=poweroff"
expect_status "guest power-off ends the VMM with status 0" 0 "$rc"
expect_grep "power-off: init ran" "mode=poweroff" "$out/poweroff.log"

boot panic build/guest/bzImage --cmdline "sv.test=panic"
expect_status "guest panic gives the panic status" 3 "$rc"
expect_grep "panic: kernel said why" "Kernel panic - not syncing" "$out/panic.log"
expect_grep "panic: VMM said what happened" "guest ended: panic" "$out/panic.log"

# reboot=t (after the VMM's reboot=k: the last one wins) resets by triple fault.
boot triple build/guest/bzImage --cmdline "reboot=t sv.test=reboot"
expect_status "a guest triple fault gives its own status" 4 "$rc"
expect_grep "triple fault: VMM said what happened" "guest ended: triple-fault" "$out/triple.log"

boot hang build/guest/bzImage --cmdline "sv.test=hang" --timeout 30
expect_status "a hung guest is stopped by --timeout" 6 "$rc"

# Every byte of a console burst arrives intact and in order (interrupt-driven TX).
boot flood build/guest/bzImage --cmdline "sv.test=flood"
expect_status "console flood run" 0 "$rc"
tr -d '\r' <"$out/flood.log" >"$out/flood.txt"	# the tty turns \n into \r\n
n=$(grep -cE '^flood [0-9]{5} 0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRS$' "$out/flood.txt")
if [[ $n -eq 1024 ]] && grep -E '^flood [0-9]{5} ' "$out/flood.txt" | cut -c7-11 | awk '$1 != NR-1 {exit 1}'; then
	ok "console flood: 1024 of 1024 lines intact and in order"
else
	bad "console flood: $n of 1024 lines intact"
fi

# RAM above the 32-bit MMIO hole (5 GiB: 3 GiB low + 2 GiB at 4 GiB).
boot mem5g build/guest/bzImage --mem 5G --cmdline "sv.test=reboot"
expect_status "5 GiB guest (RAM split around the MMIO hole) boots" 0 "$rc"

finish
