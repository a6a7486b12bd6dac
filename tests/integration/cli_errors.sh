#!/usr/bin/env bash
# Bad input to the sandvisor CLI: every case must fail cleanly before the guest runs.
#
# usage: tests/integration/cli_errors.sh CLI
#
# Each case checks: the documented exit status (1 VMM error, 2 usage error), a stderr message
# naming the cause, no crash (status < 128, no core file), and an answer within a few seconds.
# These fail before the first KVM_RUN, so they run on any host with a /dev/kvm that opens
# (even one that cannot run a Linux guest).
#
# Environment:
#   GUEST_KERNEL   a real bzImage (default build/guest/bzImage; cases needing it FAIL if absent)
#   GUEST_VMLINUX  the matching ELF vmlinux (default: vmlinux next to GUEST_KERNEL)
#   CASE_MAX_SECS  how long one case may take (default 10)
# Prints one line per case (ok / FAIL) and exits 1 if any case failed.
set -u

if [[ $# -ne 1 ]]; then
	echo "usage: $0 CLI" >&2
	exit 2
fi
abs() { [[ $1 == /* ]] && printf '%s\n' "$1" || printf '%s\n' "$PWD/$1"; }
cli=$(abs "$1")
kernel=$(abs "${GUEST_KERNEL:-build/guest/bzImage}")
vmlinux=$(abs "${GUEST_VMLINUX:-$(dirname "$kernel")/vmlinux}")
max_secs=${CASE_MAX_SECS:-10}

if [[ ! -x $cli ]]; then
	echo "FAIL: $cli is not an executable (run make)" >&2
	exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/sv-cli-errors.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/cwd"

total=0
failed=0

ok() { total=$((total + 1)); printf 'ok    %s\n' "$1"; }
fail() {
	total=$((total + 1)); failed=$((failed + 1))
	printf 'FAIL  %s: %s\n' "$1" "$2"
}

# need NAME FILE...: a case that cannot be run is a failure, never a silent skip.
need() {
	local name=$1 f
	shift
	for f in "$@"; do
		if [[ ! -r $f ]]; then
			fail "$name" "needs $f, which is missing (run make guest, or set GUEST_KERNEL / GUEST_VMLINUX)"
			return 1
		fi
	done
	return 0
}

# check NAME WANT_STATUS PATTERN... -- ARGS...
# Runs the CLI with ARGS; every PATTERN (extended regex, case-insensitive) must match stderr.
check() {
	local name=$1 want=$2 status start end elapsed pat why=""
	local -a pats=()
	shift 2
	while [[ $# -gt 0 && $1 != -- ]]; do pats+=("$1"); shift; done
	shift
	start=$(date +%s%N)
	(cd "$tmp/cwd" && exec timeout -k 5 20 "$cli" "$@" </dev/null >"$tmp/stdout" 2>"$tmp/stderr")
	status=$?
	end=$(date +%s%N)
	elapsed=$(( (end - start) / 1000000 ))

	if [[ $status -eq 124 || $status -eq 137 ]]; then
		why="hung: killed by timeout after ${elapsed} ms"
	elif [[ $status -ge 128 ]]; then
		why="crashed: status $status (signal $((status - 128)))"
	elif compgen -G "$tmp/cwd/core*" >/dev/null; then
		why="left a core file"
	elif [[ $status -ne $want ]]; then
		why="exit status $status, expected $want"
	elif [[ ! -s $tmp/stderr ]]; then
		why="no message on stderr"
	elif [[ $elapsed -gt $((max_secs * 1000)) ]]; then
		why="took ${elapsed} ms (limit ${max_secs} s)"
	else
		for pat in "${pats[@]}"; do
			if ! grep -qiE -- "$pat" "$tmp/stderr"; then
				why="stderr lacks /$pat/"
				break
			fi
		done
	fi
	rm -f "$tmp"/cwd/core*
	if [[ -n $why ]]; then
		fail "$name" "$why; stderr: $(head -c 400 "$tmp/stderr" | tr '\n' ' ')"
	else
		ok "$name ($(head -n1 "$tmp/stderr" | cut -c1-110))"
	fi
}

# --- inputs -----------------------------------------------------------------------------------
: >"$tmp/empty"
head -c 65536 /dev/urandom >"$tmp/garbage"
# Random bytes could, in theory, carry a signature; make sure they do not.
printf 'XXXX' | dd of="$tmp/garbage" bs=1 seek=0 conv=notrunc status=none
printf 'XXXX' | dd of="$tmp/garbage" bs=1 seek=$((0x202)) conv=notrunc status=none
mkdir "$tmp/dir"
mkfifo "$tmp/fifo"
truncate -s 200M "$tmp/initrd-200M"		# sparse: costs no disk
long_cmdline=$(head -c 3000 /dev/zero | tr '\0' 'a')

# poke FILE OFFSET BYTES...: write hex bytes at an offset.
poke() {
	local f=$1 off=$2 b s=""
	shift 2
	for b in "$@"; do s+="\\x$b"; done
	printf "$s" | dd of="$f" bs=1 seek=$((off)) conv=notrunc status=none
}

# A truncated bzImage: the real kernel's first 4 KiB, else a hand-made header that claims
# 31 setup sectors (as the real one does) in a 4 KiB file.
truncated_bz_note=""
if [[ -r $kernel ]]; then
	head -c 4096 "$kernel" >"$tmp/bz-4k"
else
	truncated_bz_note=" (hand-made header: $kernel missing)"
	head -c 4096 /dev/zero >"$tmp/bz-4k"
	poke "$tmp/bz-4k" 0x1f1 1f				# setup_sects
	poke "$tmp/bz-4k" 0x1f4 00 00 01 00			# syssize
	poke "$tmp/bz-4k" 0x1fe 55 aa				# boot_flag
	poke "$tmp/bz-4k" 0x200 eb 6a				# jump over the header
	poke "$tmp/bz-4k" 0x202 48 64 72 53			# "HdrS"
	poke "$tmp/bz-4k" 0x206 0f 02				# version 2.15
	poke "$tmp/bz-4k" 0x211 01				# LOADED_HIGH
	poke "$tmp/bz-4k" 0x236 01 00				# XLF_KERNEL_64
	poke "$tmp/bz-4k" 0x260 00 00 00 01			# init_size 16 MiB
fi

# --- usage errors: exit 2 ---------------------------------------------------------------------
check "no command" 2 "no command" -- 
check "unknown command" 2 "unknown command 'frobnicate'" -- frobnicate
check "unknown option" 2 "usage|help" -- boot --kernel "$kernel" --frobnicate
check "stray argument" 2 "unexpected argument 'extra'" -- boot --kernel "$kernel" extra
check "boot without --kernel" 2 "--kernel" -- boot
check "--mem 1M" 2 "--mem" "range" -- boot --kernel "$kernel" --mem 1M
check "--mem 0" 2 "--mem" -- boot --kernel "$kernel" --mem 0
check "--mem 100T" 2 "--mem '100T'" -- boot --kernel "$kernel" --mem 100T
check "--mem abc" 2 "--mem 'abc'" -- boot --kernel "$kernel" --mem abc
check "--mem 65G" 2 "--mem" "range" -- boot --kernel "$kernel" --mem 65G
check "--cpus 0" 2 "--cpus '0'" "1 to 16" -- boot --kernel "$kernel" --cpus 0
check "--cpus 17" 2 "--cpus '17'" "1 to 16" -- boot --kernel "$kernel" --cpus 17
check "--cpus -1" 2 "--cpus '-1'" -- boot --kernel "$kernel" --cpus -1
check "--cpus 99999999999999999999" 2 "--cpus" -- boot --kernel "$kernel" --cpus 99999999999999999999
check "--cpus abc" 2 "--cpus 'abc'" -- boot --kernel "$kernel" --cpus abc
check "--timeout 0" 2 "--timeout" -- boot --kernel "$kernel" --timeout 0
check "--timeout abc" 2 "--timeout" -- boot --kernel "$kernel" --timeout abc
check "selftest bad argument" 2 "selftest" -- selftest --frobnicate

# --- KVM device errors: exit 1 ----------------------------------------------------------------
check "--kvm /nonexistent" 1 "KVM" "/nonexistent" "load kvm|rig" -- \
	boot --kernel "$kernel" --kvm /nonexistent
check "--kvm /dev/null (not KVM)" 1 "/dev/null" "KVM" -- boot --kernel "$kernel" --kvm /dev/null

# --- kernel file errors: exit 1 ---------------------------------------------------------------
check "missing kernel" 1 "kernel" "No such file" -- boot --kernel "$tmp/no-such-kernel"
check "kernel is a directory" 1 "not a regular file" -- boot --kernel "$tmp/dir"
check "kernel is a FIFO" 1 "not a regular file" -- boot --kernel "$tmp/fifo"
check "kernel is a char device" 1 "not a regular file" -- boot --kernel /dev/zero
check "empty kernel" 1 "empty" -- boot --kernel "$tmp/empty"
check "garbage kernel" 1 "neither a bzImage" -- boot --kernel "$tmp/garbage"
check "truncated bzImage$truncated_bz_note" 1 "bzImage" "truncated" -- boot --kernel "$tmp/bz-4k"
if need "truncated vmlinux" "$vmlinux"; then
	head -c 1048576 "$vmlinux" >"$tmp/vmlinux-1M"
	check "truncated vmlinux" 1 "ELF" "truncated" -- boot --kernel "$tmp/vmlinux-1M"
fi

# --- errors after a good kernel: exit 1 -------------------------------------------------------
if need "initrd larger than guest memory" "$kernel"; then
	check "initrd larger than guest memory" 1 "initrd" "does not fit" "--mem" -- \
		boot --kernel "$kernel" --initrd "$tmp/initrd-200M" --mem 64M
fi
if need "initrd missing" "$kernel"; then
	check "initrd missing" 1 "initrd" "No such file" -- \
		boot --kernel "$kernel" --initrd "$tmp/no-such-initrd"
fi
if need "initrd is a directory" "$kernel"; then
	check "initrd is a directory" 1 "initrd" "not a regular file" -- \
		boot --kernel "$kernel" --initrd "$tmp/dir"
fi
if need "cmdline longer than 2048 bytes" "$kernel"; then
	check "cmdline longer than 2048 bytes" 1 "command line" "at most 2047" -- \
		boot --kernel "$kernel" --cmdline "$long_cmdline"
fi

echo "cli_errors: $((total - failed))/$total ok"
[[ $failed -eq 0 ]]
