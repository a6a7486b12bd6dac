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

# sv_run NAME ARGS... : `sandvisor run ARGS`, stdout in $out/NAME.out, stderr in
# $out/NAME.err, exit status in $rc (callers set $sv, $out and $RUN_LIMIT).
# Stdin: $SV_STDIN (default /dev/null). A run that outlives RUN_LIMIT seconds
# is killed and fails its checks (exit 124 from timeout).
sv_run() {
	local name=$1 t0 ms
	shift
	t0=$(date +%s%N)
	timeout -k 10 "$RUN_LIMIT" "$sv" run "$@" <"${SV_STDIN:-/dev/null}" >"$out/$name.out" 2>"$out/$name.err"
	rc=$?
	ms=$((($(date +%s%N) - t0) / 1000000))
	last=$name
	if ((rc == 124 && ms >= (RUN_LIMIT - 1) * 1000)); then
		echo "# $name: killed after ${RUN_LIMIT} s" >>"$out/$name.err"
	fi
	printf '# %s: %d.%d s (exit %d)\n' "$name" $((ms / 1000)) $((ms % 1000 / 100)) "$rc"
}
