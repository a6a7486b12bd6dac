#!/usr/bin/env bash
# The README's first command ends here: boot the guest kernel under our VMM
# and show what it prints (run by tests/run-guest-tests: natively or in the rig).
set -euo pipefail
cd "$(dirname "$0")/../.."
echo "== sandvisor boot --kernel build/guest/bzImage --initrd build/tests/test-initrd.cpio --cpus 2"
start=$(date +%s%N)
build/sandvisor boot --kernel build/guest/bzImage --initrd build/tests/test-initrd.cpio \
	--cpus 2 --timeout 300 --timing --cmdline "quiet sv.test=reboot" </dev/null
echo "== guest ended cleanly; wall time $(( ($(date +%s%N) - start) / 1000000 )) ms (process start to exit)"
