#!/usr/bin/env bash
# The README's first command ends here: real code in real sandboxes (run by
# tests/run-guest-tests: natively where KVM runs guests, else in the KVM rig).
set -euo pipefail
cd "$(dirname "$0")/../.."
sv=build/sandvisor
show() { printf '\n$ %s\n' "$*"; "$@"; }

show $sv boot --kernel build/guest/bzImage --initrd build/tests/test-initrd.cpio --cpus 2 \
	--cmdline "quiet sv.test=reboot" --timing
show $sv run sh -c 'echo "hello from $(uname -sr) as $(id -un)"; cat /proc/cpuinfo | grep -c ^processor'
show $sv run python -c 'import numpy as np, pandas as pd' \
	-c 'df = pd.DataFrame({"x": np.arange(5)}); df["y"] = df.x ** 2; print(df.to_string(index=False))' \
	-c 'df.y.sum()'
show $sv run node -c 'const os = require("os"); console.log(`node ${process.version} on ${os.platform()}`)' \
	-c '[1, 2, 3].map(x => x * 7)'
echo
echo "demo: every snippet ran in its own hardware-isolated VM."
