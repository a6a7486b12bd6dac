#!/bin/sh
# Drives the language runners (runtimes/*/runner.*) natively on this host, through
# the fd 3/4 frame protocol of docs/runner-protocol.md. No VM needed.
#
#   tests/integration/runners_native.sh [python|node]...
#
# The interpreters default to the host's /usr/bin/python3 and /usr/bin/node; set
# SV_PYTHON / SV_NODE to run them some other way (e.g. "chroot DIR /usr/bin/python3"
# with SV_RUNTIMES=/opt/sandvisor/runtimes to test a staged image).
set -eu
here=$(cd "$(dirname "$0")/../.." && pwd)
export SV_RUNTIMES="${SV_RUNTIMES:-$here/runtimes}"
export SV_PYTHON="${SV_PYTHON:-/usr/bin/python3}"
export SV_NODE="${SV_NODE:-/usr/bin/node}"
[ $# -gt 0 ] || set -- python node
exec /usr/bin/python3 - "$@" <<'EOF'
import fcntl, json, os, shlex, struct, subprocess, sys, time

RT = os.environ["SV_RUNTIMES"]
CMDS = {
    "python": shlex.split(os.environ["SV_PYTHON"]) + [RT + "/python/runner.py"],
    "node": shlex.split(os.environ["SV_NODE"]) + [RT + "/node/runner.js"],
}
failures = 0


class Runner:
    def __init__(self, lang):
        # Park the pipe ends above 10 so dup2 onto 3 and 4 cannot clobber them.
        high = lambda fd: (fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10), os.close(fd))[0]
        req_r, self.req_w = map(high, os.pipe())
        self.resp_r, resp_w = map(high, os.pipe())
        self.out = open("/tmp/.sv-runner-out-%d" % os.getpid(), "w+b")
        self.err = open("/tmp/.sv-runner-err-%d" % os.getpid(), "w+b")
        for f in (self.out, self.err):
            os.unlink(f.name)

        def fds():  # in the child: requests on 3, responses on 4
            os.dup2(req_r, 3)
            os.dup2(resp_w, 4)
        self.p = subprocess.Popen(CMDS[lang], stdin=subprocess.DEVNULL, stdout=self.out,
                                  stderr=self.err, close_fds=False, preexec_fn=fds)
        os.close(req_r)
        os.close(resp_w)
        self.id = 0

    def _read(self, n):
        b = b""
        while len(b) < n:
            k = os.read(self.resp_r, n - len(b))
            if not k:
                return None
            b += k
        return b

    def run(self, code):
        self.id += 1
        data = json.dumps({"id": self.id, "code": code, "stdin": None}).encode()
        mark_out, mark_err = self.out.tell(), self.err.tell()
        os.write(self.req_w, struct.pack("<I", len(data)))
        view = memoryview(data)
        while view:
            view = view[os.write(self.req_w, view):]
        head = self._read(4)
        resp = None
        if head is not None:
            resp = json.loads(self._read(struct.unpack("<I", head)[0]).decode("utf-8"))
            assert resp["id"] == self.id, resp
        self.out.seek(mark_out)
        out = self.out.read()
        self.err.seek(mark_err)
        err = self.err.read()
        return resp, out, err

    def close(self):
        os.close(self.req_w)
        return self.p.wait(timeout=30)


def check(lang, name, cond, detail=""):
    global failures
    print("%-4s %-6s %s%s" % ("ok" if cond else "FAIL", lang, name,
                              "" if cond else "  -- " + repr(detail)[:600]))
    if not cond:
        failures += 1


PY = {
    "hello": "print('hello world')",
    "set": "x = 41",
    "use": "x + 1",
    "value_expected": "42",
    "raise": "def f():\n    raise ValueError('boom')\nf()",
    "raise_marks": ["Traceback", "ValueError: boom", "<exec-"],
    "streams": "import sys\nprint('to-out')\nprint('to-err', file=sys.stderr)",
    "big": "s = '%s'\nlen(s)",
    "bad_output": "import sys\nprint('\\udcff\\ud800')\nsys.stdout.buffer.write(b'\\xff\\xfe\\n')",
    "syntax": "def (:",
    "exit": "import sys\nsys.exit(7)",
}
NODE = {
    "hello": "console.log('hello world')",
    "set": "var x = 41; let y = 1",
    "use": "x + y",
    "value_expected": "42",
    "raise": "function f() { throw new Error('boom'); }\nf()",
    "raise_marks": ["Error: boom", "<exec-"],
    "streams": "console.log('to-out'); console.error('to-err')",
    "big": "const s = '%s';\ns.length",
    "bad_output": "process.stdout.write(Buffer.from([0xff, 0xfe, 10])); console.log('\\ud800')",
    "syntax": "function (",
    "exit": "process.exit(7)",
}


def suite(lang, t):
    r = Runner(lang)
    resp, out, err = r.run(t["hello"])
    check(lang, "hello world", resp and resp["ok"] and out == b"hello world\n" and resp["value"] is None,
          (resp, out, err))
    resp, _, _ = r.run(t["set"])
    check(lang, "assignment has no value", resp and resp["ok"] and resp["value"] is None, resp)
    resp, _, _ = r.run(t["use"])
    check(lang, "state persists, trailing expression value",
          resp and resp["ok"] and resp["value"] == t["value_expected"], resp)
    resp, out, err = r.run(t["raise"])
    ok = resp and not resp["ok"] and all(m in resp["error"] for m in t["raise_marks"])
    check(lang, "exception -> ok=false with traceback", ok, resp)
    check(lang, "traceback also on stderr", b"boom" in err, err)
    check(lang, "traceback hides runner frames",
          resp and "runner." not in resp["error"], resp and resp["error"])
    resp, out, err = r.run(t["syntax"])
    check(lang, "syntax error -> ok=false", resp and not resp["ok"] and "SyntaxError" in resp["error"], resp)
    resp, out, err = r.run(t["streams"])
    check(lang, "stdout/stderr kept apart", resp and resp["ok"] and out == b"to-out\n" and err == b"to-err\n",
          (out, err))
    n = 10 << 20
    t0 = time.monotonic()
    resp, _, _ = r.run(t["big"] % ("a" * n))
    dt = time.monotonic() - t0
    check(lang, "10 MiB code (%.2f s)" % dt, resp and resp["ok"] and resp["value"] == str(n),
          resp and {k: (v[:200] if isinstance(v, str) else v) for k, v in resp.items()})
    resp, out, err = r.run(t["bad_output"])
    check(lang, "invalid UTF-8 / lone surrogates in output", resp and resp["ok"] and b"\xff\xfe" in out,
          (resp, out, err))
    resp, out, _ = r.run(t["hello"])
    check(lang, "still alive after all that", resp and resp["ok"] and out == b"hello world\n", resp)
    resp, _, _ = r.run(t["exit"])
    status = r.p.wait(timeout=30)
    check(lang, "exit(7) ends the runner with status 7", resp is None and status == 7, (resp, status))
    r.close()
    # A fresh runner ends with status 0 when the agent closes the request pipe.
    r = Runner(lang)
    check(lang, "EOF on fd 3 -> exit 0", r.close() == 0)


def python_extra():
    r = Runner("python")
    resp, out, err = r.run("import os\nsorted(k for k in ('MPLBACKEND',) if k in os.environ), os.environ['MPLBACKEND']")
    check("python", "MPLBACKEND=Agg", resp and resp["value"] == "(['MPLBACKEND'], 'Agg')", resp)
    resp, out, err = r.run("import fcntl\n[fd for fd in (3, 4) if __import__('os').path.exists('/proc/self/fd/%d' % fd)]")
    check("python", "fds 3/4 free for user code", resp and resp["value"] == "[]", resp)
    resp, out, err = r.run("class P: pass\nimport pickle\ntype(pickle.loads(pickle.dumps(P()))).__name__")
    check("python", "user classes pickle (__main__)", resp and resp["value"] == "'P'", resp)
    resp, _, _ = r.run("raise SystemExit('bye')")
    status = r.p.wait(timeout=30)
    check("python", "SystemExit('bye') -> status 1", status == 1, status)
    r.close()
    try:
        import matplotlib  # noqa: F401 -- only where the host has it
    except ImportError:
        return
    r = Runner("python")
    resp, out, err = r.run("import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nplt.show()\nplt.get_backend()")
    check("python", "matplotlib Agg, plt.show() silent", resp and resp["ok"] and resp["value"] == "'agg'"
          and b"Warning" not in err, (resp, err))
    r.close()


def node_extra():
    r = Runner("node")
    resp, out, _ = r.run("setTimeout(() => console.log('late'), 50); 'sync'")
    check("node", "execution waits for timers", resp and resp["ok"] and out == b"late\n", (resp, out))
    resp, _, _ = r.run("Promise.resolve(6).then((v) => v * 7)")
    check("node", "promise completion value is awaited", resp and resp["value"] == "42", resp)
    resp, _, err = r.run("setTimeout(() => { throw new Error('async boom'); }, 1)")
    check("node", "async exception -> ok=false", resp and not resp["ok"] and "async boom" in resp["error"], resp)
    resp, _, _ = r.run("require('path').join('a', 'b')")
    check("node", "require works", resp and resp["value"] == "'a/b'", resp)
    resp, _, _ = r.run("typeof globalThis.x + ',' + typeof x")
    r.run("x = 5")
    resp, _, _ = r.run("globalThis.x")
    check("node", "globals visible via globalThis", resp and resp["value"] == "5", resp)
    r.close()


only = sys.argv[1:]
for lang in only:
    if lang not in CMDS:
        sys.exit("unknown language %s" % lang)
    suite(lang, PY if lang == "python" else NODE)
    (python_extra if lang == "python" else node_extra)()
print("%d failure(s)" % failures)
sys.exit(1 if failures else 0)
EOF
