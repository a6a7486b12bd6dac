#!/bin/sh
# agent_native.sh [AGENT] [DRIVE] [RUNTIMES]
#
# Runs the guest agent natively (--no-isolation, over a socketpair) and drives
# it through the host library with tests/agent_drive.c. No VM, no root.
# Defaults: build/initrd/sandvisor-agent, build/tests/agent_drive, runtimes/.
# python/node cases run when their runner and interpreter exist.
set -u

agent=${1:-build/initrd/sandvisor-agent}
drive=${2:-build/tests/agent_drive}
runtimes=${3:-runtimes}
for f in "$agent" "$drive"; do
	[ -x "$f" ] || { echo "agent_native: $f missing (make agent-tests builds it)" >&2; exit 1; }
done
agent=$(realpath "$agent") drive=$(realpath "$drive") runtimes=$(realpath "$runtimes")

work=$(mktemp -d)
data="$work/data"
mkdir -p "$data"
trap 'rm -rf "$work"' EXIT INT TERM
pass=0 fail=0

ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; [ $# -gt 1 ] && printf '%s\n' "$2" | sed 's/^/     /'; }

# drive CMD...: one agent, one connection, commands separated by --
drive() {
	"$drive" "$agent" --no-isolation --data-dir "$data" --runtimes "$runtimes" -- "$@" \
		2>>"$work/agent.log"
}

# expect NAME FILE PATTERN...: every grep -x pattern is a line of FILE
expect() {
	name=$1 file=$2
	shift 2
	for p in "$@"; do
		if ! grep -qx -- "$p" "$file"; then
			bad "$name" "no line '$p' in: $(cat "$file")"
			return
		fi
	done
	ok "$name"
}

# --- sh basics -------------------------------------------------------------
drive exec sh 'echo hello world' --out "$work/o" --result "$work/r"
expect "sh hello world" "$work/r" "exit=0" "signal=0" "flags="
[ "$(cat "$work/o")" = "hello world" ] && ok "sh stdout content" || bad "sh stdout content" "$(cat "$work/o")"

drive exec sh 'echo out; echo err >&2; echo out2; exit 3' --out "$work/o" --err "$work/e" \
	--result "$work/r"
expect "non-zero exit status" "$work/r" "exit=3"
[ "$(cat "$work/o")" = "$(printf 'out\nout2')" ] && [ "$(cat "$work/e")" = "err" ] &&
	ok "stdout and stderr kept apart" || bad "stdout and stderr kept apart" "$(cat "$work/o" "$work/e")"

drive exec sh 'kill -9 $$' --result "$work/r"
expect "killed by a signal" "$work/r" "exit=-1" "signal=9"

# --- timeout kills the whole tree -----------------------------------------
start=$(date +%s)
drive exec sh 'sleep 1231 & sleep 1232' --timeout 1000 --result "$work/r"
took=$(($(date +%s) - start))
expect "timeout reported" "$work/r" "exit=-1" "signal=9" "flags=timed_out"
sleep 0.2
if pgrep -f 'sleep 123[12]' >/dev/null; then bad "timeout kills children" "$(pgrep -af 'sleep 123[12]')"
else ok "timeout kills children"; fi
[ "$took" -lt 5 ] && ok "timeout is prompt (${took}s)" || bad "timeout is prompt (${took}s)"

# --- background processes --------------------------------------------------
drive exec sh 'sleep 1233 & echo started' --result "$work/r" >/dev/null
sleep 0.2
pgrep -f 'sleep 1233' >/dev/null && bad "background killed at the end" || ok "background killed at the end"
drive exec sh 'sleep 1234 >/dev/null 2>&1 & echo $!' --keep-bg --out "$work/o" --result "$work/r"
bgpid=$(cat "$work/o")
if [ -n "$bgpid" ] && kill -0 "$bgpid" 2>/dev/null; then ok "keep_background keeps it"
	kill "$bgpid"
else bad "keep_background keeps it"; fi

# --- output cap and binary output --------------------------------------------
drive exec sh 'yes | head -c 5000000; echo tail >&2' --cap 1000 --out "$work/o" --err "$work/e" \
	--result "$work/r"
expect "output flood truncated" "$work/r" "exit=0" "flags=stdout_truncated" "stdout_bytes=5000000"
[ "$(wc -c < "$work/o")" -eq 1000 ] && ok "flood kept exactly the cap" ||
	bad "flood kept exactly the cap" "$(wc -c < "$work/o") bytes"

printf '\377\000\001\200binary\n\300' > "$work/expect.bin"
drive exec sh "printf '\\377\\000\\001\\200binary\\n\\300'" --out "$work/o" --result "$work/r"
cmp -s "$work/o" "$work/expect.bin" && ok "binary / invalid UTF-8 output byte-exact" ||
	bad "binary / invalid UTF-8 output byte-exact" "$(od -c "$work/o")"

drive exec sh 'exec >&-; echo gone; echo still-err >&2' --err "$work/e" --result "$work/r" >/dev/null
expect "code that closes its stdout" "$work/r" "exit=0"

drive exec sh 'cat; echo' --stdin 'from stdin' --out "$work/o" --result "$work/r"
[ "$(cat "$work/o")" = "from stdin" ] && ok "stdin" || bad "stdin" "$(cat "$work/o")"

drive exec sh 'echo "$FOO"' --env FOO=bar --out "$work/o" --result "$work/r"
[ "$(cat "$work/o")" = "bar" ] && ok "env" || bad "env" "$(cat "$work/o")"

# 10 MiB of code (streamed in chunks; run from a file, too long for argv)
{ echo 'echo big-code-ok'; head -c 10485760 /dev/zero | tr '\0' '#'; echo; } > "$work/code.sh"
drive exec sh x --code-file "$work/code.sh" --out "$work/o" --result "$work/r"
[ "$(cat "$work/o")" = "big-code-ok" ] && ok "10 MiB of code" || bad "10 MiB of code" "$(cat "$work/r")"

# --- bad requests ------------------------------------------------------------
drive exec cobol 'DISPLAY "x"' -- exec sh '' -- raw-badtlv -- ping -- raw-badheader -- ping \
	> "$work/r"
expect "bad requests answered, agent survives" "$work/r" \
	"ERROR EINVAL unknown language 'cobol' (sh, python, node)" "ERROR EINVAL empty code" \
	"ERROR EBADMSG malformed EXEC: Bad message" "resynced"
[ "$(grep -c '^pong' "$work/r")" -eq 2 ] && ok "ping after garbage" || bad "ping after garbage" "$(cat "$work/r")"

# --- files -------------------------------------------------------------------
head -c 52428800 /dev/urandom > "$work/big"
drive put "$work/big" sub/dir/big.bin -- get sub/dir/big.bin "$work/big.back" -- list sub/dir \
	> "$work/r"
expect "50 MiB put/get/list" "$work/r" "OK" "f big.bin 52428800 644"
cmp -s "$work/big" "$work/big.back" && ok "50 MiB round trip byte-exact" || bad "50 MiB round trip byte-exact"
rm -f "$work/big" "$work/big.back"

ln -s /etc "$data/escape"
drive get ../../etc/passwd "$work/x" -- get /etc/passwd "$work/x" -- get escape/passwd "$work/x" \
	-- put "$work/code.sh" escape/evil -- list escape -- rm escape -- mkdir a/b/c -- rm a \
	-- rm a -r -- list > "$work/r"
expect "path traversal refused" "$work/r" \
	"ERROR EACCES remote path '../../etc/passwd' refused: it must stay inside /mnt/data" \
	"ERROR EACCES remote path '/etc/passwd' refused: it must stay inside /mnt/data"
[ "$(grep -c '^ERROR EACCES cannot' "$work/r")" -eq 3 ] && ok "symlink escapes refused" ||
	bad "symlink escapes refused" "$(cat "$work/r")"
[ ! -e /etc/evil ] && ok "nothing written outside" || bad "nothing written outside"
expect "delete / mkdir" "$work/r" "ERROR ENOTEMPTY cannot delete 'a': Directory not empty"
grep -q ' a ' "$work/r" && bad "recursive delete" "$(cat "$work/r")" || ok "recursive delete"
[ -e "$data/escape" ] && bad "symlink deleted itself, not its target" || ok "symlink deleted itself, not its target"

# --- runners ----------------------------------------------------------------
if [ -r "$runtimes/python/runner.py" ] && command -v python3 >/dev/null; then
	drive exec python 'print("hello from python")' --out "$work/o" --result "$work/r1" \
		-- exec python 'x = 41' --session s -- exec python 'x + 1' --session s --result "$work/r2" \
		-- exec python 'x' --session other --result "$work/r3" --err /dev/null \
		-- exec python '1/0' --session s --result "$work/r4" --err /dev/null \
		-- exec python 'import subprocess; subprocess.Popen(["sleep", "1235"]); x' --session s \
		   --result "$work/r5" \
		-- exec sh 'sleep 0.2; pgrep -f "sleep 123[5]" || echo none' --out "$work/bg" \
		   --result /dev/null \
		-- exec python 'while True: pass' --session s --timeout 1000 --result "$work/r6" \
		-- exec python 'x' --session s --result "$work/r7" --err /dev/null \
		-- exec python "$(printf '\377')" --result "$work/r8" > /dev/null
	[ "$(cat "$work/o")" = "hello from python" ] && ok "python hello world" || bad "python hello world"
	expect "python state persists in a session" "$work/r2" "exit=0" "value=42"
	expect "python state not shared across sessions" "$work/r3" "exit=1" \
		"flags=session_new,code_error"
	expect "python exception" "$work/r4" "exit=1" "flags=code_error"
	[ "$(cat "$work/bg")" = none ] && ok "python background killed, runner kept" ||
		bad "python background killed, runner kept" "$(cat "$work/bg")"
	expect "python infinite loop timed out" "$work/r6" "flags=timed_out,session_lost"
	expect "python session restarts after timeout" "$work/r7" "flags=session_new,code_error"
	expect "python invalid UTF-8 code refused" "$work/r8" \
		"ERROR EILSEQ python code is not valid UTF-8 (at byte 0)"
else
	echo "skip python (no runner or python3)"
fi
if [ -r "$runtimes/node/runner.js" ] && command -v node >/dev/null; then
	drive exec node 'console.log("hello from node")' --out "$work/o" --result "$work/r1" \
		-- exec node 'let y = 20' --session n -- exec node 'y * 2 + 2' --session n \
		   --result "$work/r2" > /dev/null
	[ "$(cat "$work/o")" = "hello from node" ] && ok "node hello world" || bad "node hello world"
	expect "node state persists in a session" "$work/r2" "exit=0" "value=42"
else
	echo "skip node (no runner or node)"
fi

echo "agent_native: $pass passed, $fail failed"
[ "$fail" -eq 0 ] || { echo "--- agent log"; tail -20 "$work/agent.log"; exit 1; }
