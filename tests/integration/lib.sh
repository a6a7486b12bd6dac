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
