#!/usr/bin/env bash
# Device tests (issue 3) through real sandboxes: `sandvisor run sh` with extra
# virtio-blk disks (`--disk PATH[,ro][,cow][,serial=ID]`: /dev/vdb, vdc, ...;
# /dev/vda is the runtime image), the virtio console (hvc0) and the control
# port (sandvisor.ctl, which carries every file transfer and all output).
# Run by tests/run-guest-tests (natively where KVM runs guests, else in the
# KVM rig; the whole script is one rig run).
#
# Cases: the guest reads what the host put on a disk and writes a pattern the
# host then verifies byte for byte; a read-only disk refuses writes and stays
# unchanged; copy-on-write disks keep the guest's writes private (the base
# file is untouched, a second overlay and a second sandbox on the same base
# see the base); serials; the console is hvc0; 1 MiB through the control port
# both ways. User code runs as the sandbox user, who owns the extra disks.
set -uo pipefail
cd "$(dirname "$0")/../.."
. tests/integration/lib.sh
sv=build/sandvisor
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
suite_start=$SECONDS
RUN_LIMIT=${RUN_LIMIT:-300}
MiB=$((1 << 20))

# lib.sh's expect_status, showing the last run's stderr when it fails.
expect_status() {
	if [[ $3 -eq $2 ]]; then ok "$1 (exit $3)"; else
		bad "$1: exit status $3, expected $2; stderr of $last:"; tail -n 15 "$out/$last.err" | sed 's/^/    | /'
	fi
}
sha() { sha256sum "$@" | cut -d' ' -f1; }
# slice FILE OFFSET_MIB LEN_MIB: sha256 of that part of FILE.
slice() { dd if="$1" bs=1M skip="$2" count="$3" status=none | sha; }
# expect_line NAME KEY WANT FILE: the line "KEY ..." of FILE is "KEY WANT".
expect_line() {
	local got
	got=$(grep -m1 "^$2 " "$4" | cut -d' ' -f2-)
	if [[ $got == "$3" ]]; then ok "$1"; else bad "$1: '$2 $got', expected '$2 $3'"; fi
}
expect_no_grep() {
	if grep -qE -- "$2" "$3"; then bad "$1: '$2' found in $3:"; sed 's/^/    | /' "$3" | tail -n 20; else ok "$1"; fi
}
show_logs() { sed 's/^/    | /' "$out/$1.out" "$out/$1.err" | tail -n "${2:-30}"; }

# ---- disks: rw pattern, ro refusal, two COW overlays of one base, serials ----

head -c $((2 * MiB)) /dev/urandom >"$out/preload.bin"	# the host's data, read by the guest
head -c $((4 * MiB)) /dev/urandom >"$out/pattern.bin"	# the guest's data, written to vdb
truncate -s $((16 * MiB)) "$out/rw.img"
dd if="$out/preload.bin" of="$out/rw.img" conv=notrunc status=none
head -c $((4 * MiB)) /dev/urandom >"$out/ro.img"
head -c $((4 * MiB)) /dev/urandom >"$out/base.img"
touch -d '2020-01-01 00:00:00' "$out/ro.img" "$out/base.img"
ro_sha=$(sha "$out/ro.img") base_sha=$(sha "$out/base.img")
ro_mtime=$(stat -c %Y "$out/ro.img") base_mtime=$(stat -c %Y "$out/base.img")

# vdb rw (default serial: the file name), vdc ro, vdd + vde COW on one base.
sv_run disks sh --timeout 120 --file "$out/pattern.bin:pattern.bin" \
	--disk "$out/rw.img" --disk "$out/ro.img,ro,serial=data-ro" \
	--disk "$out/base.img,cow,serial=cow-1" --disk "$out/base.img,cow,serial=cow-2" -c '
for d in vda vdb vdc vdd vde; do
	echo "disk-$d $(cat /sys/block/$d/serial) ro=$(cat /sys/block/$d/ro) sectors=$(cat /sys/block/$d/size)"
done
sum() { sha256sum | cut -d" " -f1; }
rd() { dd if=/dev/$1 bs=1M skip=$2 count=$3 iflag=direct 2>/dev/null | sum; }
echo "rw-read $(rd vdb 0 2)"
dd if=pattern.bin of=/dev/vdb bs=1M seek=8 conv=fsync 2>/dev/null; echo "rw-write $?"
echo "rw-readback $(rd vdb 8 4)"
echo "ro-read $(rd vdc 0 4)"
dd if=pattern.bin of=/dev/vdc bs=1M count=1 conv=fsync 2>ro.err; echo "ro-write $? $(head -n 1 ro.err)"
dd if=pattern.bin of=/dev/vdc bs=1M count=1 oflag=direct 2>ro.err; echo "ro-write-direct $? $(head -n 1 ro.err)"
echo "ro-after $(rd vdc 0 4)"
dd if=pattern.bin of=/dev/vdd bs=1M seek=1 count=1 conv=fsync 2>/dev/null; echo "cow-write $?"
echo "cow1-written $(rd vdd 1 1)"
echo "cow1-untouched $(rd vdd 0 1)"
echo "cow2-written-range $(rd vde 1 1)"
'
expect_status "disks: the guest's commands ran" 0 "$rc"
[[ $rc -eq 0 ]] || show_logs disks
expect_line "disks: vda is the runtime image (read-only)" disk-vda "sandvisor-rt ro=1 sectors=$(($(stat -c %s build/guest/sandvisor-rt.ext4) / 512 ))" "$out/disks.out"
expect_line "disks: vdb rw, serial defaults to the file name, 16 MiB" disk-vdb "rw.img ro=0 sectors=32768" "$out/disks.out"
expect_line "disks: vdc read-only with its serial" disk-vdc "data-ro ro=1 sectors=8192" "$out/disks.out"
expect_line "disks: vdd COW, writable for the guest" disk-vdd "cow-1 ro=0 sectors=8192" "$out/disks.out"
expect_line "disks: vde second COW overlay of the same base" disk-vde "cow-2 ro=0 sectors=8192" "$out/disks.out"
expect_line "rw: the guest reads what the host put on the disk" rw-read "$(sha "$out/preload.bin")" "$out/disks.out"
expect_line "rw: the guest writes 4 MiB at 8 MiB (conv=fsync: flush)" rw-write 0 "$out/disks.out"
expect_line "rw: the guest reads its pattern back (O_DIRECT)" rw-readback "$(sha "$out/pattern.bin")" "$out/disks.out"
# The whole image, byte for byte: preload, zeros, the pattern at 8 MiB, zeros.
{ cat "$out/preload.bin"; head -c $((6 * MiB)) /dev/zero; cat "$out/pattern.bin"; head -c $((4 * MiB)) /dev/zero; } >"$out/rw.want"
if cmp "$out/rw.img" "$out/rw.want" >"$out/rw.cmp" 2>&1; then
	ok "rw: the host's image is byte for byte what the guest wrote (16 MiB)"
else bad "rw: image differs: $(cat "$out/rw.cmp")"; fi
expect_line "ro: the guest reads the read-only disk" ro-read "$ro_sha" "$out/disks.out"
if grep -qE '^ro-write [1-9][0-9]* .*(Operation not permitted|Read-only|I/O error)' "$out/disks.out"; then
	ok "ro: a write is refused in the guest ($(grep -m1 '^ro-write ' "$out/disks.out" | cut -d' ' -f2-))"
else bad "ro: write not refused: $(grep -m1 '^ro-write ' "$out/disks.out")"; fi
if grep -qE '^ro-write-direct [1-9][0-9]* .*(Operation not permitted|Read-only|I/O error)' "$out/disks.out"; then
	ok "ro: an O_DIRECT write is refused too"
else bad "ro: O_DIRECT write not refused: $(grep -m1 '^ro-write-direct ' "$out/disks.out")"; fi
expect_line "ro: the guest still reads the original data" ro-after "$ro_sha" "$out/disks.out"
if [[ $(sha "$out/ro.img") == "$ro_sha" && $(stat -c %Y "$out/ro.img") == "$ro_mtime" ]]; then
	ok "ro: the host file is unchanged (sha256 and mtime)"
else bad "ro: the host file changed"; fi
expect_line "cow: the guest writes to its overlay" cow-write 0 "$out/disks.out"
expect_line "cow: the guest reads its own write back (O_DIRECT)" cow1-written "$(slice "$out/pattern.bin" 0 1)" "$out/disks.out"
expect_line "cow: unwritten blocks still come from the base" cow1-untouched "$(slice "$out/base.img" 0 1)" "$out/disks.out"
expect_line "cow: a second overlay of the same base does not see the write" cow2-written-range "$(slice "$out/base.img" 1 1)" "$out/disks.out"
if [[ $(sha "$out/base.img") == "$base_sha" && $(stat -c %Y "$out/base.img") == "$base_mtime" ]]; then
	ok "cow: the base file is untouched (sha256 and mtime)"
else bad "cow: the base file changed"; fi

# A second sandbox on the same base sees the base, not the first one's write.
sv_run cow-second sh --disk "$out/base.img,cow" \
	-c 'dd if=/dev/vdb bs=1M skip=1 count=1 iflag=direct 2>/dev/null | sha256sum | cut -d" " -f1'
expect_status "cow: a second sandbox on the same base" 0 "$rc"
expect_out_sha=$(slice "$out/base.img" 1 1)
if [[ $(cat "$out/cow-second.out") == "$expect_out_sha" ]]; then
	ok "cow: the second sandbox reads the base where the first one wrote"
else bad "cow: the second sandbox read $(cat "$out/cow-second.out"), base is $expect_out_sha"; show_logs cow-second; fi

# A missing disk image is a clear error, not a hang.
sv_run disk-missing sh --disk "$out/no-such.img" -c true
if [[ $rc -ne 0 && $rc -lt 128 ]] && grep -q "no-such.img" "$out/disk-missing.err"; then
	ok "a missing disk image is refused (exit $rc: $(head -n 1 "$out/disk-missing.err"))"
else bad "missing disk image: exit $rc"; show_logs disk-missing; fi

# ---- console: hvc0 ----

sv_run console sh --console -c 'cat /proc/consoles'
expect_status "console: run with --console" 0 "$rc"
expect_grep "console: /proc/consoles lists hvc0, enabled" '^hvc0 .*\(E' "$out/console.out"
expect_no_grep "console: the UART is not the console once hvc0 is up" '^ttyS' "$out/console.out"
# init and the agent write to /dev/console = hvc0 (the UART was only the
# kernel's early console): their lines reach the host through virtio-console.
expect_grep "console: init's lines arrive through hvc0" '^sandvisor-init: agent started' "$out/console.err"
expect_grep "console: the agent's lines arrive through hvc0" '^sandvisor-agent: ready on /dev/vport' "$out/console.err"

# ---- control port: 1 MiB both ways ----

head -c "$MiB" /dev/urandom >"$out/r1m.bin"
sv_run ctl sh --file "$out/r1m.bin:r1m.bin" -c 'sha256sum r1m.bin >&2; cp r1m.bin echo.bin' -c 'cat r1m.bin' \
	--get "echo.bin:$out/echo.bin"
expect_status "control port: 1 MiB up, through stdout, and down" 0 "$rc"
expect_grep "control port: host → guest, 1 MiB intact (sha256 in the guest)" "^$(sha "$out/r1m.bin")  r1m.bin$" "$out/ctl.err"
if cmp -s "$out/r1m.bin" "$out/ctl.out"; then ok "control port: guest → host as stdout frames, 1 MiB byte for byte"
else bad "control port: stdout differs from the file ($(stat -c %s "$out/ctl.out") bytes)"; fi
if cmp -s "$out/r1m.bin" "$out/echo.bin"; then ok "control port: guest → host as a file, 1 MiB byte for byte"
else bad "control port: downloaded echo.bin differs"; fi
expect_no_grep "control port: nothing truncated" "truncated" "$out/ctl.err"

echo "# devices.sh: $((SECONDS - suite_start)) s"
finish
