#!/usr/bin/env bash
# Sandbox tests (issue 4): real code in real sandboxes through `sandvisor run`,
# run by tests/run-guest-tests (natively where KVM runs guests, else in the KVM
# rig; the whole script is one rig run). Each `run` boots a fresh VM.
#
# Cases: hello world in python, node and sh; session state kept between -c and
# not across sandboxes; stderr apart from stdout; exit status propagated; the
# timeout kills a loop and its children; output flood truncated at 1 MiB; a
# 50 MiB file round trip; the purchase-orders scenario (pandas + matplotlib,
# chart downloaded as a valid PNG); and the bad inputs of issue 4 item 6.
#
# Every sandbox run prints "# NAME: seconds (exit status)". JSON is checked
# with /usr/bin/python3 (a pyenv shim on PATH is ~10x slower in the rig).
set -uo pipefail
cd "$(dirname "$0")/../.."
. tests/integration/lib.sh
sv=build/sandvisor
py=/usr/bin/python3
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
suite_start=$SECONDS
RUN_LIMIT=${RUN_LIMIT:-300}

# lib.sh's expect_status, showing the last run's stderr when it fails.
expect_status() {
	if [[ $3 -eq $2 ]]; then ok "$1 (exit $3)"; else
		bad "$1: exit status $3, expected $2; stderr of $last:"; tail -n 15 "$out/$last.err" | sed 's/^/    | /'
	fi
}

# expect_out NAME WANT FILE: FILE holds exactly WANT (printf %s, so give the newlines).
expect_out() {
	if [[ "$(od -An -c <"$3")" == "$(printf '%s' "$2" | od -An -c)" ]]; then
		ok "$1"
	else
		bad "$1: expected $(printf '%s' "$2" | od -An -c | head -c 200), got:"
		head -c 2000 "$3" | sed 's/^/    | /'
	fi
}
expect_no_grep() {
	if grep -qE -- "$2" "$3"; then bad "$1: '$2' found in $3:"; sed 's/^/    | /' "$3" | tail -n 20; else ok "$1"; fi
}
# expect_fail NAME FILE: the run failed (non-zero, not a crash) and said so on stderr.
expect_clean_fail() {
	if [[ $rc -ne 0 && $rc -lt 128 && $rc -ne 124 && -s $2 ]]; then
		ok "$1 (exit $rc: $(head -n 1 "$2"))"
	else
		bad "$1: exit status $rc, stderr:"; sed 's/^/    | /' "$2" | tail -n 20
	fi
}

# jcheck NAME FILE <<EOF: one check a line, "description => python expression";
# j is the JSON that `run --json` printed, r = j["results"].
cat >"$out/jcheck.py" <<'PY'
import json, sys
name, path = sys.argv[1], sys.argv[2]
checks = [l.split(" => ", 1) for l in sys.stdin.read().splitlines() if l.strip()]
try:
    j = json.load(open(path, encoding="utf-8"))
    r = j["results"]
except Exception as e:
    print(f"FAIL|{name}: the output is not the JSON of a run ({type(e).__name__}: {e})")
    print("DUMP|" + open(path, "rb").read(800).decode("utf-8", "replace").replace("\n", "\\n"))
    sys.exit()
failed = False
for desc, expr in checks:
    try:
        good, why = bool(eval(expr)), ""
    except Exception as e:
        good, why = False, f" ({type(e).__name__}: {e})"
    failed |= not good
    print(("ok|" if good else "FAIL|") + f"{name}: {desc}" + ("" if good else f": `{expr}` is false{why}"))
if failed:
    for i, x in enumerate(r):
        short = {k: (v[:300] + f"...({len(v)} chars)" if isinstance(v, str) and len(v) > 300 else v)
                 for k, v in x.items()}
        print(f"DUMP|results[{i}] = {short}")
PY
jcheck() {
	local line
	"$py" "$out/jcheck.py" "$1" "$2" >"$out/jcheck.txt"	# (no /dev/fd in the rig)
	while IFS= read -r line; do
		case $line in
		ok\|*) ok "${line#ok|}" ;;
		FAIL\|*) bad "${line#FAIL|}" ;;
		DUMP\|*) echo "    | ${line#DUMP|}" ;;
		esac
	done <"$out/jcheck.txt"
}

# ---- hello world, sessions, streams, exit status ----

sv_run py-hello python -c 'print("hello from python")' -c 'x = 41' -c 'x + 1'
expect_status "python: hello world, then x = 41 and x + 1 in one session" 0 "$rc"
expect_out "python: prints hello and 42 (state kept between executions)" $'hello from python\n42\n' "$out/py-hello.out"

sv_run py-fresh python -c 'x'
if [[ $rc -ne 0 && $rc -lt 124 ]]; then ok "python: a new sandbox has no x (exit $rc)"; else bad "python: x in a new sandbox: exit $rc"; fi
expect_grep "python: a new sandbox says NameError" "NameError" "$out/py-fresh.err"

sv_run py-streams python -c 'import sys
print("to-out")
print("to-err", file=sys.stderr)
sys.exit(4)'
expect_status "python: sys.exit(4) is the CLI's exit status" 4 "$rc"
expect_out "python: stdout holds only stdout" $'to-out\n' "$out/py-streams.out"
expect_grep "python: stderr holds stderr" "^to-err$" "$out/py-streams.err"

sv_run node-hello node -c 'console.log("hello from node")' -c 'var y = 41;' -c 'y + 1'
expect_status "node: hello world, then var y = 41 and y + 1 in one session" 0 "$rc"
expect_grep "node: prints hello" "^hello from node$" "$out/node-hello.out"
if [[ $(tail -n 1 "$out/node-hello.out") == 42 ]]; then ok "node: y + 1 is 42 (state kept)"
else bad "node: last line is not 42:"; sed 's/^/    | /' "$out/node-hello.out"; fi

sv_run sh-hello sh -c 'echo hello from sh'
expect_status "sh: hello world" 0 "$rc"
expect_out "sh: prints hello" $'hello from sh\n' "$out/sh-hello.out"

sv_run sh-streams sh -c 'echo out; echo err >&2; exit 3'
expect_status "sh: exit 3 is the CLI's exit status" 3 "$rc"
expect_out "sh: stdout holds only stdout" $'out\n' "$out/sh-streams.out"
expect_out "sh: stderr holds only stderr" $'err\n' "$out/sh-streams.err"

# ---- limits: timeout, children, output cap ----

sv_run sh-loop sh --timeout 3 -c 'while :; do :; done'
expect_status "sh: an infinite loop is killed at --timeout 3" 124 "$rc"
expect_grep "sh: the CLI says it timed out" "timed out" "$out/sh-loop.err"

# The loop's background child must be gone too: the next execution (same VM)
# lists every process of the guest.
sv_run sh-tree sh --json --timeout 3 -c 'sleep 1000 & echo "bg $!"; while :; do :; done' \
	-c 'ps -o pid,user,args; echo "ps done"'
jcheck "sh: timeout kills the tree" "$out/sh-tree.out" <<'EOF'
the loop timed out => r[0]["timed_out"] and r[0]["signal"] == 9
its background sleep had started => r[0]["stdout"].startswith("bg ")
ps ran in the same sandbox afterwards => "ps done" in r[1]["stdout"] and "sandvisor-agent" in r[1]["stdout"]
no "sleep 1000" is left => "sleep 1000" not in r[1]["stdout"]
EOF

# ---- python limits in one session: flood, closed stdout, OOM, loop ----
# 256 MiB of guest RAM: the user cgroup's memory.max is 80 % of it, which the
# allocation loop reaches in ~10 s in the rig (~20 s with the default 512 MiB).

sv_run py-limits python --json --mem 256M --timeout 20 \
	-c 'import sys; sys.stdout.write("x" * (5 << 20))' \
	-c 'import os; os.close(1)' \
	-c 'print("after close")' \
	-c 'x = []
while True: x.append(bytearray(10**7))' \
	-c 'print("alive after oom")' \
	-c 'while True: pass' \
	-c 'print("alive after timeout")'
jcheck "python limits" "$out/py-limits.out" <<'EOF'
5 MiB flood: stdout_truncated => r[0]["stdout_truncated"] and not r[0]["stderr_truncated"]
5 MiB flood: exactly 1048576 bytes kept => len(r[0]["stdout"]) == 1048576 and set(r[0]["stdout"]) == {"x"}
5 MiB flood: stdout_bytes counts all 5 MiB => r[0]["stdout_bytes"] == 5 << 20
os.close(1) does not break the session => r[1]["exit_code"] == 0 and not r[1]["session_lost"]
the next execution answers: its output, or a clear error (fd 1 stays closed in the session) => "after close" in r[2]["stdout"] or (r[2]["exit_code"] == 1 and "Bad file descriptor" in r[2]["error"])
allocating until OOM: oom_killed => r[3]["oom_killed"]
allocating until OOM: the runner died (session lost), not timed out => r[3]["session_lost"] and not r[3]["timed_out"]
after the OOM the sandbox answers the next execution => r[4]["stdout"] == "alive after oom\n" and r[4]["exit_code"] == 0
while True: pass is killed at the timeout => r[5]["timed_out"] and r[5]["signal"] == 9
after the timeout the next execution runs => r[6]["stdout"] == "alive after timeout\n"
EOF

# ---- files: 50 MiB round trip ----
head -c $((50 << 20)) /dev/urandom >"$out/big.bin"
sv_run big sh --timeout 120 --file "$out/big.bin:big.bin" -c 'sha256sum big.bin; stat -c %s big.bin' \
	--get "big.bin:$out/out.bin"
expect_status "50 MiB: upload, sha256 inside, download" 0 "$rc"
want=$(sha256sum <"$out/big.bin" | cut -d' ' -f1)
expect_grep "50 MiB: the guest's sha256 is the host's" "^$want  big.bin$" "$out/big.out"
if cmp -s "$out/big.bin" "$out/out.bin"; then ok "50 MiB: downloaded file is byte for byte the upload"
else bad "50 MiB: downloaded file differs ($(stat -c %s "$out/out.bin" 2>&1) bytes)"; fi

# ---- the scenario: purchase orders → pandas → matplotlib → PNG ----

"$py" tests/integration/data/purchase_orders.py "$out/orders.csv" 2000 >"$out/orders.want"
sv_run scenario python --timeout 240 --file "$out/orders.csv:orders.csv" -c '
import pandas as pd
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

df = pd.read_csv("/mnt/data/orders.csv", parse_dates=["date"])
df["year"] = df["date"].dt.year
spend = df.pivot_table(index="supplier", columns="year", values="amount", aggfunc="sum")
prev, last = sorted(spend.columns)[-2:]
growth = (spend[last] - spend[prev]) / spend[prev]
top = growth.sort_values(ascending=False).head(3)
print(f"{len(df)} orders, {spend.shape[0]} suppliers, {prev} -> {last}")
print("TOP3:" + ",".join(top.index))
ax = spend.loc[top.index].plot.bar(figsize=(8, 5), title="Spend of the fastest-growing suppliers")
ax.set_ylabel("spend")
plt.tight_layout()
plt.savefig("/mnt/data/chart.png", dpi=80)
' --get "chart.png:$out/chart.png"
expect_status "scenario: pandas + matplotlib run" 0 "$rc"
expect_grep "scenario: all 2000 orders read" "^2000 orders, 12 suppliers, 2023 -> 2024$" "$out/scenario.out"
expect_grep "scenario: top-3 growth is the known answer ($(cut -d: -f2 "$out/orders.want"))" \
	"^$(cat "$out/orders.want")$" "$out/scenario.out"
if "$py" - "$out/chart.png" <<'PY'; then ok "scenario: chart.png is a valid PNG"; else bad "scenario: chart.png is not a valid PNG"; fi
import struct, sys, zlib
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "bad magic"
n, kind = struct.unpack(">I4s", data[8:16])
assert kind == b"IHDR" and n == 13, "first chunk is not IHDR"
w, h = struct.unpack(">II", data[16:24])
assert 100 < w < 5000 and 100 < h < 5000, f"size {w}x{h}"
assert struct.unpack(">I", data[29:33])[0] == zlib.crc32(data[12:29]), "IHDR CRC"
assert data[-12:] == b"\x00\x00\x00\x00IEND\xaeB`\x82", "no IEND at the end"
print(f"    chart.png: {w}x{h}, {len(data)} bytes")
PY

# ---- bad input (issue 4 item 6) ----

sv_run bad-lang cobol -c 'DISPLAY "hi"'
expect_status "unknown language is a usage error" 2 "$rc"
expect_grep "unknown language: says so" "unknown language 'cobol'" "$out/bad-lang.err"

sv_run empty-c python -c ''
expect_status "empty -c is a usage error" 2 "$rc"
expect_grep "empty -c: says so" "empty" "$out/empty-c.err"
SV_STDIN=/dev/null sv_run empty-stdin sh
expect_status "empty code on stdin is a usage error" 2 "$rc"
expect_grep "empty stdin: says so" "empty" "$out/empty-stdin.err"

# 10 MiB of code: a python file and an sh script on stdin, each mostly one big literal.
{ printf 's = "'; head -c $((10 << 20)) /dev/zero | tr '\0' a; printf '"\nprint(len(s))\n'; } >"$out/big.py"
sv_run big-py python --timeout 120 "$out/big.py"
expect_status "10 MiB of python code runs" 0 "$rc"
expect_out "10 MiB of python code: its output" "$(printf '%d\n' $(((10 << 20))))"$'\n' "$out/big-py.out"
{ printf ': '; head -c $((10 << 20)) /dev/zero | tr '\0' a; printf '\necho "sh ok"\n'; } >"$out/big.sh"
SV_STDIN=$out/big.sh sv_run big-sh sh --timeout 120 -
expect_status "10 MiB of sh code from stdin runs" 0 "$rc"
expect_out "10 MiB of sh code: its output" $'sh ok\n' "$out/big-sh.out"
{ printf 's = "'; head -c $(((16 << 20) + 1)) /dev/zero | tr '\0' a; printf '"\n'; } >"$out/huge.py"
sv_run huge-py python "$out/huge.py"
expect_status "more than 16 MiB of code is a usage error" 2 "$rc"
expect_grep "more than 16 MiB: says so" "larger than 16 MiB" "$out/huge-py.err"

# Invalid UTF-8 in code: python/node code travels as JSON, so it is refused
# (EILSEQ); sh takes bytes.
printf 'print("\377\376")\n' >"$out/bad-utf8.py"
sv_run utf8-py python "$out/bad-utf8.py"
expect_clean_fail "python: invalid UTF-8 in the code is refused" "$out/utf8-py.err"
expect_grep "python: invalid UTF-8: the error names the cause" "UTF-8|byte sequence" "$out/utf8-py.err"
printf 'printf "\377\376" | od -An -to1\n' >"$out/bad-utf8.sh"
sv_run utf8-sh sh "$out/bad-utf8.sh"
expect_status "sh: invalid UTF-8 in the code runs" 0 "$rc"
expect_grep "sh: invalid UTF-8 bytes reach the code intact" "^ *377 376$" "$out/utf8-sh.out"

# Binary and invalid UTF-8 output: byte-exact without --json; replaced (and
# still valid JSON) with --json.
sv_run binary sh -c 'printf "\377\376\000abc"'
expect_status "binary output run" 0 "$rc"
if [[ $(od -An -to1 <"$out/binary.out" | tr -s ' ') == " 377 376 000 141 142 143" ]]; then
	ok "binary output arrives byte for byte"
else bad "binary output: got $(od -An -to1 <"$out/binary.out")"; fi
sv_run binary-json sh --json -c 'printf "\377\376\000abc"'
jcheck "binary output in --json" "$out/binary-json.out" <<'EOF'
invalid bytes become U+FFFD, NUL and text kept => r[0]["stdout"] == "\ufffd\ufffd\x00abc"
stdout_bytes counts the raw bytes => r[0]["stdout_bytes"] == 6
EOF

sv_run closed-stdout sh -c 'exec 1>&-; echo gone; echo "still here" >&2; exit 5'
expect_status "sh: code that closes its stdout ends normally" 5 "$rc"
expect_grep "sh: closed stdout: stderr still arrives" "^still here$" "$out/closed-stdout.err"
expect_out "sh: closed stdout: nothing on stdout" "" "$out/closed-stdout.out"

# Processes against pids.max (512 in the user cgroup). A refused fork is
# counted in the pids.events of the forking task's own cgroup (the execution's,
# removed when it ends), so the code reads that file itself, with shell
# builtins only (no fork is possible once the limit is reached).
own_cg='read -r cg </proc/self/cgroup; cg=/sys/fs/cgroup${cg#0::}'

# A fork bomb (foreground: every shell forks two more and waits, so the
# execution lasts until the bomb dies out at pids.max or the timeout kills
# it); its shells report the refused forks; the agent survives and the next
# execution works.
sv_run forkbomb sh --json --timeout 15 -c 'b() { b | b; }; b' \
	-c 'echo alive; ps | grep -c "[s]h -c b()" || true'
jcheck "fork bomb" "$out/forkbomb.out" <<'EOF'
the bomb's shells say they could not fork (pids.max) => "can't fork" in r[0]["stderr"]
the next execution in the sandbox answers => r[1]["stdout"].startswith("alive\n") and r[1]["exit_code"] == 0
no process of the bomb is left => r[1]["stdout"].split("\n")[1] == "0"
EOF
echo "    | bomb: exit $("$py" -c 'import json,sys; x=json.load(open(sys.argv[1]))["results"][0]; print(x["exit_code"], "timed_out" if x["timed_out"] else "", x["stderr_bytes"], "bytes of stderr")' "$out/forkbomb.out" 2>&1)"

# A thousand plain processes (a subshell starts them): the fork fails with a
# clear error at the limit; the next execution finds none of them left.
sv_run fork1000 sh --json --timeout 60 -c '( for i in $(seq 1000); do sleep 60 & done; echo "loop done" )
'"$own_cg"'
n=0; while read -r p; do n=$((n + 1)); done <"$cg/cgroup.procs"
hit=0; while read -r k v; do [ "$k" = max ] && hit=$v; done <"$cg/pids.events"
echo "refused $hit procs $n"' \
	-c 'echo alive; ps | grep -c "[s]leep 60" || true'
jcheck "1000 processes" "$out/fork1000.out" <<'EOF'
the loop stopped at the limit with a clear error => "can't fork" in r[0]["stderr"] and "loop done" not in r[0]["stdout"]
forks were refused at pids.max => int(r[0]["stdout"].split()[1]) > 0
at most 512 processes ran => 400 < int(r[0]["stdout"].split()[3]) <= 512
the next execution answers => r[1]["stdout"].startswith("alive\n") and r[1]["exit_code"] == 0
none of the sleeps is left => r[1]["stdout"].split("\n")[1] == "0"
EOF
grep -o '"stdout":"refused[^"]*"' "$out/fork1000.out" | sed 's/^/    | /'

# Path traversal in file names is refused (host library and agent).
echo local >"$out/local.txt"
sv_run get-up sh -c true --get "../../etc/passwd:$out/passwd"
expect_clean_fail "--get ../../etc/passwd is refused" "$out/get-up.err"
expect_grep "--get ../../etc/passwd: the error says why" "\.\./\.\./etc/passwd.*(denied|refused|outside|not allowed)" "$out/get-up.err"
[[ ! -e $out/passwd ]] && ok "--get ../../etc/passwd: no local file written" || bad "--get ../../etc/passwd wrote $out/passwd"
sv_run get-abs sh -c true --get "/etc/passwd:$out/passwd"
expect_clean_fail "--get /etc/passwd (absolute, outside /mnt/data) is refused" "$out/get-abs.err"
sv_run put-up sh -c 'echo ran' --file "$out/local.txt:../../x"
expect_clean_fail "--file local:../../x is refused" "$out/put-up.err"
expect_grep "--file local:../../x: the error says why" "\.\./\.\./x.*(denied|refused|outside|not allowed)" "$out/put-up.err"
expect_no_grep "--file refused: the code did not run" "^ran$" "$out/put-up.out"
sv_run get-link sh -c 'ln -s /etc/passwd /mnt/data/link; ln -s ../../etc/passwd /mnt/data/link2' --get "link:$out/link"
expect_clean_fail "--get of a symlink to /etc/passwd planted by the code is refused" "$out/get-link.err"
[[ ! -s $out/link ]] && ok "symlink escape: nothing of /etc/passwd downloaded" || bad "symlink escape: $out/link has data"

# --debug: a sandbox error prints the VM's vCPU and device state, then how the VM ended.
sv_run debug sh --debug -c true --get "nosuch.txt:$out/nosuch.txt"
expect_clean_fail "--get of a missing file fails" "$out/debug.err"
expect_grep "--debug: the missing file is named" "nosuch.txt" "$out/debug.err"
expect_grep "--debug: dumps the vCPU" "^vcpu0: mp_state [0-9]+ rip 0x" "$out/debug.err"
expect_grep "--debug: dumps the console's transport" "^virtio0: mmio 0xd0000000 gsi 5" "$out/debug.err"
expect_grep "--debug: dumps the control port" "^  port1: guest_open 1" "$out/debug.err"
expect_grep "--debug: says how the VM ended" "^sandvisor: the VM ended: (poweroff|reset)" "$out/debug.err"

echo "# sandbox.sh: $((SECONDS - suite_start)) s"
finish
