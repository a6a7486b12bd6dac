# Shared helpers for integration scripts (sourced). Each check prints one
# line; `finish` exits non-zero if any failed.
fails=0
passes=0
ok() { passes=$((passes + 1)); echo "ok   - $*"; }
bad() { fails=$((fails + 1)); echo "FAIL - $*"; }
finish() {
	echo "# $passes passed, $fails failed"
	[[ $fails -eq 0 ]]
}
# expect_status NAME WANT GOT
expect_status() {
	if [[ $3 -eq $2 ]]; then ok "$1 (exit $3)"; else bad "$1: exit status $3, expected $2"; fi
}
# expect_grep NAME PATTERN FILE
expect_grep() {
	if grep -qE -- "$2" "$3"; then ok "$1"; else bad "$1: no line matching '$2' in $3:"; sed 's/^/    | /' "$3" | tail -n 30; fi
}

# sv_run NAME ARGS... : `sandvisor run ARGS`, stdout in $out/NAME.out (callers set $sv, $out,
# $STALL_LIMIT and $stalls), stderr
# in $out/NAME.err, exit status in $rc. Stdin: $SV_STDIN (default /dev/null).
sv_run() {
	local name=$1 t0 ms attempt
	shift
	# A run that outlives STALL_LIMIT is the intermittent control-port stall
	# (an open bug, see the issue notes): it is reported and retried once.
	for attempt in 1 2; do
		t0=$(date +%s%N)
		timeout -k 10 "$STALL_LIMIT" "$sv" run "$@" <"${SV_STDIN:-/dev/null}" >"$out/$name.out" 2>"$out/$name.err"
		rc=$?
		ms=$((($(date +%s%N) - t0) / 1000000))
		((ms < (STALL_LIMIT - 5) * 1000)) && break
		stalls=$((stalls + 1))
		echo "# $name: stalled for $((ms / 1000)) s (attempt $attempt; the open stall bug)"
	done
	last=$name
	printf '# %s: %d.%d s (exit %d)\n' "$name" $((ms / 1000)) $((ms % 1000 / 100)) "$rc"
}
