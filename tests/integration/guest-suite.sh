#!/usr/bin/env bash
# Every test that runs guest code, in one go (so one KVM rig boot serves all).
# SANDVISOR_GUEST_SUITES overrides the list, e.g. SANDVISOR_GUEST_SUITES="boot sandbox".
set -uo pipefail
cd "$(dirname "$0")/../.."
failed=()
for name in ${SANDVISOR_GUEST_SUITES:-boot devices sandbox}; do
	echo "=== tests/integration/$name.sh"
	start=$SECONDS
	if ! ./tests/integration/"$name".sh; then
		failed+=("$name")
	fi
	echo "=== $name: $((SECONDS - start)) s"
done
if ((${#failed[@]})); then
	echo "guest-suite: FAILED: ${failed[*]}"
	exit 1
fi
echo "guest-suite: all passed"
