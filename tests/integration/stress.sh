#!/usr/bin/env bash
# Bulk host<->guest transfers in a loop (make test-stress): SANDVISOR_STRESS_N
# (default 10) sandboxes, each uploading a 50 MiB file, hashing it inside and
# downloading it again. For hunting rare stalls; `make test` runs one of these.
# On a failure the run is repeated with --debug --console, whose stderr (the
# agent's frame log and the VM's vCPU and device state) is printed.
set -uo pipefail
cd "$(dirname "$0")/../.."
. tests/integration/lib.sh
sv=build/sandvisor
out=$(mktemp -d -p "$PWD/build")
trap 'rm -rf "$out"' EXIT
RUN_LIMIT=${RUN_LIMIT:-300}
n=${SANDVISOR_STRESS_N:-10}

head -c $((50 << 20)) /dev/urandom >"$out/big.bin"
want=$(sha256sum <"$out/big.bin" | cut -d' ' -f1)
for i in $(seq 1 "$n"); do
	rm -f "$out/back.bin"
	sv_run "rt$i" sh --timeout 150 --file "$out/big.bin:big.bin" -c 'sha256sum big.bin' \
		--get "big.bin:$out/back.bin"
	if [[ $rc == 0 ]] && grep -q "^$want  big.bin$" "$out/rt$i.out" && cmp -s "$out/big.bin" "$out/back.bin"; then
		ok "round trip $i: 50 MiB up, sha256 inside, down, byte for byte"
		continue
	fi
	bad "round trip $i: exit $rc; stderr:"
	sed 's/^/    | /' "$out/rt$i.err" | tail -n 20
	echo "# round trip $i again, with --debug --console:"
	sv_run "dbg$i" sh --debug --console --timeout 150 --file "$out/big.bin:big.bin" \
		-c 'sha256sum big.bin' --get "big.bin:$out/back.bin"
	grep -v 'FILE_DATA' "$out/dbg$i.err" | tail -n 60 | sed 's/^/    | /'
done
finish
