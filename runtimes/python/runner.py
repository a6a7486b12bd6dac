"""sandvisor Python runner: one interpreter per session, notebook-style.

Speaks docs/runner-protocol.md: requests arrive on fd 3 and responses leave on
fd 4 as frames (4-byte little-endian length + UTF-8 JSON); the user's output
goes straight to fds 1 and 2.  Globals persist between executions; the value of
a trailing expression is returned as its repr().
"""

import ast
import builtins
import codecs
import fcntl
import json
import linecache
import os
import struct
import sys
import traceback
import types
import warnings

REQ_FD, RESP_FD = 3, 4
MAX_FRAME = 64 << 20          # a request larger than this is refused, not buffered
MAX_VALUE = 1 << 20           # repr() of the trailing expression is cut to this many chars


def _out_errors(exc):
    """Encode error handler for the user's stdout/stderr.

    Lone surrogates from surrogateescape-decoded bytes (U+DC80..U+DCFF) go out as
    the original bytes, like Python does in the C locale; any other unencodable
    character is written as a backslash escape, so printing never raises.
    """
    if not isinstance(exc, UnicodeEncodeError):
        raise exc
    out = bytearray()
    for ch in exc.object[exc.start:exc.end]:
        cp = ord(ch)
        if 0xDC80 <= cp <= 0xDCFF:
            out.append(cp - 0xDC00)
        else:
            out += ("\\x%02x" % cp if cp <= 0xFF else
                    "\\u%04x" % cp if cp <= 0xFFFF else "\\U%08x" % cp).encode()
    return bytes(out), exc.end


codecs.register_error("sandvisor", _out_errors)


def _clean(s):
    """A str that is valid Unicode (lone surrogates become backslash escapes)."""
    return s.encode("utf-8", "backslashreplace").decode("utf-8")


def _move_fd(fd):
    """Move a protocol fd out of the low numbers, close-on-exec.

    User code then gets fds 3 and 4 for its own files, and child processes do not
    inherit the request/response pipes.
    """
    new = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 100)
    os.close(fd)
    return new


def _read_exact(fd, n):
    parts, got = [], 0
    while got < n:
        b = os.read(fd, min(n - got, 1 << 20))
        if not b:
            return None
        parts.append(b)
        got += len(b)
    return b"".join(parts)


def _read_frame(fd):
    head = _read_exact(fd, 4)
    if head is None:
        return None
    (n,) = struct.unpack("<I", head)
    if n > MAX_FRAME:
        # Drain and refuse: the agent gets an error instead of a dead runner.
        left = n
        while left:
            b = os.read(fd, min(left, 1 << 20))
            if not b:
                return None
            left -= len(b)
        return ValueError("request of %d bytes is larger than %d" % (n, MAX_FRAME))
    body = _read_exact(fd, n)
    return body  # None on a truncated frame (agent gone)


def _write_frame(fd, obj):
    data = json.dumps(obj, ensure_ascii=False).encode("utf-8")
    view = memoryview(struct.pack("<I", len(data)) + data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _flush():
    for f in (sys.stdout, sys.stderr):
        try:
            f.flush()
        except Exception:
            pass


class Session:
    def __init__(self):
        # A fresh __main__ so that user classes pickle and `if __name__ ==
        # "__main__"` works; the runner's own module stays out of its way.
        self.main = types.ModuleType("__main__")
        self.main.__dict__["__builtins__"] = builtins
        sys.modules["__main__"] = self.main
        self.ns = self.main.__dict__

    def _compile(self, code, filename):
        tree = ast.parse(code, filename, "exec")
        last = None
        if tree.body and isinstance(tree.body[-1], ast.Expr):
            last = ast.Expression(tree.body.pop().value)
        body = compile(tree, filename, "exec") if tree.body else None
        expr = compile(last, filename, "eval") if last is not None else None
        return body, expr

    def run(self, rid, code):
        filename = "<exec-%s>" % rid
        # Register the source so tracebacks (now and in later executions that call
        # functions defined here) show the user's lines.
        linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
        try:
            body, expr = self._compile(code, filename)
            if body is not None:
                exec(body, self.ns)
            value = None
            if expr is not None:
                result = eval(expr, self.ns)
                if result is not None:
                    self.ns["_"] = result
                    value = repr(result)
                    if len(value) > MAX_VALUE:
                        value = value[:MAX_VALUE] + "... [truncated]"
            return True, value, None
        except SystemExit:
            raise
        except BaseException as e:  # KeyboardInterrupt included: the session lives on
            tb = e.__traceback__
            # Drop the runner's own frames; keep the user's.
            while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
                tb = tb.tb_next
            text = "".join(traceback.format_exception(type(e), e, tb))
            try:
                sys.stderr.write(text)
            except Exception:
                pass
            return False, None, text


def _setup_streams():
    for name in ("stdout", "stderr"):
        f = getattr(sys, name)
        if f is None:
            continue
        try:
            f.reconfigure(errors="sandvisor", line_buffering=True)
        except Exception:
            pass


def _setup_env():
    os.environ.setdefault("MPLBACKEND", "Agg")
    # Debian's matplotlib reads /etc/matplotlibrc, which the guest's /etc (the
    # initrd's) lacks; the same file ships in mpl-data.
    rc = "/usr/share/matplotlib/mpl-data/matplotlibrc"
    if not os.path.exists("/etc/matplotlibrc") and os.path.exists(rc):
        os.environ.setdefault("MATPLOTLIBRC", rc)
    # plt.show() under Agg only warns that it cannot show; make it silent.
    warnings.filterwarnings("ignore", message=".*non-GUI backend.*")
    warnings.filterwarnings("ignore", message=".*FigureCanvasAgg is non-interactive.*")
    home = os.environ.get("HOME", "")
    if "MPLCONFIGDIR" not in os.environ and not (home and os.access(home, os.W_OK)):
        os.environ["MPLCONFIGDIR"] = "/tmp/.matplotlib-%d" % os.getuid()
    # Optional warm-up (e.g. before a snapshot): SANDVISOR_PRELOAD=numpy,pandas
    for mod in filter(None, os.environ.pop("SANDVISOR_PRELOAD", "").split(",")):
        try:
            __import__(mod.strip())
        except Exception as e:
            print("sandvisor: preload %s failed: %s" % (mod, e), file=sys.stderr)


def main():
    req_fd = _move_fd(REQ_FD)
    resp_fd = _move_fd(RESP_FD)
    _setup_streams()
    _setup_env()
    session = Session()
    while True:
        frame = _read_frame(req_fd)
        if frame is None:
            break  # agent closed the request pipe: end of session
        rid = None
        if isinstance(frame, Exception):
            ok, value, error = False, None, str(frame)
        else:
            try:
                req = json.loads(frame.decode("utf-8", "surrogateescape"))
                rid = req.get("id")
                code = req.get("code")
                if not isinstance(code, str):
                    raise ValueError("request has no code string")
            except Exception as e:
                ok, value, error = False, None, "bad request: %s" % e
            else:
                try:
                    ok, value, error = session.run(rid, code)
                except SystemExit:
                    _flush()
                    raise  # the interpreter exits with the code's status
        _flush()
        _write_frame(resp_fd, {
            "id": rid, "ok": ok,
            "value": None if value is None else _clean(value),
            "error": None if error is None else _clean(error),
        })


if __name__ == "__main__":
    main()
