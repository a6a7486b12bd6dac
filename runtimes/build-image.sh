#!/bin/bash
# Builds the guest's read-only runtime image (ext4, label sandvisor-rt) holding
# Python and Node.js with their libraries and the runners.
#
#   runtimes/build-image.sh OUT.ext4
#
# The guest mounts it at /opt/sandvisor. Its files keep their host paths under the
# image root (usr/bin/python3.11, usr/lib/x86_64-linux-gnu/..., usr/lib64/ld-linux-
# x86-64.so.2) and the guest's init makes /usr, /lib and /lib64 symlinks into the
# mount, so the interpreters, their subprocesses and shebang scripts run exactly as
# on the host. Entry points for the agent:
#   /opt/sandvisor/bin/python3 /opt/sandvisor/runtimes/python/runner.py
#   /opt/sandvisor/bin/node    /opt/sandvisor/runtimes/node/runner.js
#
# Needs root (chroot, to test the staged tree before any VM exists); needs no loop
# device (mke2fs -d). Cached under $SANDVISOR_CACHE/runtimes/<key>, the key hashing
# the package versions, the gather scripts and the runners.
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 OUT.ext4" >&2; exit 2; }
out=$1
here=$(cd "$(dirname "$0")" && pwd)
cache=${SANDVISOR_CACHE:-$HOME/.cache/sandvisor}/runtimes
langs="python node"
t_start=$(date +%s.%N)
log() { printf 'build-image: %s\n' "$*" >&2; }
elapsed() { printf '%.1f s' "$(echo "$(date +%s.%N) - $t_start" | bc)"; }

# --- cache key ------------------------------------------------------------
pkgs=$(for l in $langs; do "$here/$l/gather.sh" packages; done | sort -u)
key=$( {
    # shellcheck disable=SC2086
    dpkg-query -W -f='${Package}=${Version}\n' $pkgs 'lib*' 2>/dev/null | sort
    cat "$here/build-image.sh"
    for l in $langs; do cat "$here/$l/gather.sh" "$here/$l"/runner.*; done
} | sha256sum | cut -c1-16)
dest=$cache/$key
publish() {
    mkdir -p "$(dirname "$out")"
    cp --reflink=auto "$dest/sandvisor-rt.ext4" "$out.tmp.$$"
    mv -f "$out.tmp.$$" "$out"
    log "image $out (key $key)"
    cat "$dest/sizes.txt" >&2
}
if [ -f "$dest/sandvisor-rt.ext4" ]; then
    log "cached: $dest"
    publish
    log "done in $(elapsed)"
    exit 0
fi

[ "$(id -u)" = 0 ] || { echo "build-image: needs root (chroot test of the staged tree)" >&2; exit 1; }
for tool in mke2fs resize2fs e2fsck ldd chroot bc; do
    command -v $tool >/dev/null || { echo "build-image: $tool missing (make deps)" >&2; exit 1; }
done
mkdir -p "$cache"
work=$(mktemp -d "$cache/.build.XXXXXX")
# SANDVISOR_KEEP_STAGING=1 keeps the staged tree (for measuring, or a chroot session).
trap '[ -n "${SANDVISOR_KEEP_STAGING:-}" ] && log "staging kept: $work" || rm -rf "$work"' EXIT
root=$work/root           # what the guest sees: / (initrd) + /opt/sandvisor (image)
img=$root/opt/sandvisor   # the image's contents
mkdir -p "$img/bin" "$img/runtimes" "$root/tmp" "$root/dev"
chmod 1777 "$root/tmp"

# --- gather: package files + shared-library closure -------------------------
for l in $langs; do
    log "gathering $l"
    "$here/$l/gather.sh" files > "$work/$l.list"
done
# The stager copies each list into the image under the file's canonical host path
# (/lib -> /usr/lib on Debian's merged /usr), follows every ELF file's ldd closure,
# and fails listing any library that cannot be found. It writes each language's
# set of image paths, for the size report.
/usr/bin/python3 - "$img" "$work" $langs <<'EOF'
import os, shutil, stat, subprocess, sys
img, work, langs = sys.argv[1], sys.argv[2], sys.argv[3:]

def canon(p):
    """Host path with its directory resolved (symlinked dirs like /lib, /lib64)."""
    return os.path.join(os.path.realpath(os.path.dirname(p)), os.path.basename(p))

def is_elf(p):
    try:
        with open(p, "rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False

copied = {}                      # canonical path -> kind
def put(src, deref=False):
    dst_rel = canon(src)
    if dst_rel in copied:
        return dst_rel
    dst = img + dst_rel
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    if os.path.islink(src) and not deref:
        target = os.readlink(src)
        tgt_abs = os.path.realpath(src)
        if not os.path.exists(tgt_abs):
            return None          # dangling on the host too: drop
        # Keep the link only if its target is inside what we ship; otherwise
        # (e.g. /etc/alternatives, /usr/share/javascript) ship the content.
        if tgt_abs in wanted:
            os.symlink(target, dst)
            copied[dst_rel] = "link"
            return dst_rel
    if os.path.isdir(src):
        return None
    shutil.copy2(src, dst, follow_symlinks=True)
    copied[dst_rel] = "file"
    return dst_rel

missing = {}
def ldd(path):
    r = subprocess.run(["ldd", path], capture_output=True, text=True)
    libs = []
    for line in r.stdout.splitlines():
        line = line.strip()
        if "=>" in line:
            name, rest = line.split("=>", 1)
            rest = rest.strip()
            if rest.startswith("not found"):
                missing.setdefault(name.strip(), []).append(path)
            elif rest.startswith("/"):
                libs.append(rest.split(" (")[0])
        elif line.startswith("/"):
            libs.append(line.split(" (")[0])      # the loader itself
    return libs

per_lang = {}
wanted = set()
for lang in langs:
    with open(os.path.join(work, lang + ".list")) as f:
        wanted |= {os.path.realpath(l.strip()) for l in f if l.strip()}
for lang in langs:
    mine = set()
    with open(os.path.join(work, lang + ".list")) as f:
        queue = [l.strip() for l in f if l.strip()]
    seen_elf = set()
    while queue:
        src = queue.pop()
        rel = put(src, deref=src.startswith("lib:"))
        if rel is None:
            continue
        mine.add(rel)
        real = os.path.realpath(src)
        if os.path.islink(src) and copied.get(rel) == "link":
            queue.append(real)
        if real not in seen_elf and is_elf(real):
            seen_elf.add(real)
            for lib in ldd(real):
                rel2 = canon(lib)
                if rel2 not in copied:
                    os.makedirs(os.path.dirname(img + rel2), exist_ok=True)
                    shutil.copy2(lib, img + rel2, follow_symlinks=True)
                    copied[rel2] = "file"
                mine.add(rel2)
                lreal = os.path.realpath(lib)
                if lreal not in seen_elf:
                    queue.append(lib)
    per_lang[lang] = mine
if missing:
    for lib, users in sorted(missing.items()):
        print("build-image: MISSING library %s (needed by %s)" % (lib, ", ".join(sorted(set(users))[:3])),
              file=sys.stderr)
    sys.exit(1)
for lang, paths in per_lang.items():
    with open(os.path.join(work, lang + ".paths"), "w") as f:
        f.write("\n".join(sorted(paths)) + "\n")
EOF
# The guest's init links /usr, /lib and /lib64 to the mount; the image carries the
# merged-/usr links itself, so init only links the three names.
ln -s usr/lib "$img/lib"
[ -e "$img/usr/lib64" ] && ln -s usr/lib64 "$img/lib64"
ln -s ../usr/bin/python3.11 "$img/bin/python3"
ln -s ../usr/bin/node "$img/bin/node"
for l in $langs; do
    mkdir -p "$img/runtimes/$l"
    cp "$here/$l"/runner.* "$img/runtimes/$l/"
done
for d in usr lib lib64; do ln -s "opt/sandvisor/$d" "$root/$d"; done
log "staged $(du -sh --apparent-size "$img" | cut -f1) in $(find "$img" -type f | wc -l) files ($(elapsed))"

# --- bytecode: precompiled once, never checked against the sources ----------
# A read-only image cannot cache .pyc files at run time, and compiling numpy and
# pandas from source on every start costs seconds. unchecked-hash .pyc files do
# not depend on the files' mtimes surviving mke2fs.
log "compiling .pyc"
nice chroot "$root" /opt/sandvisor/bin/python3 -m compileall -q \
    --invalidation-mode unchecked-hash -x '/(tests?|idle_test)/' \
    /usr/lib/python3.11 /usr/lib/python3/dist-packages /opt/sandvisor/runtimes/python >/dev/null ||
    { log "compileall failed"; exit 1; }

# --- test the staged tree before any VM exists ------------------------------
log "testing in chroot"
# (the runner sets MATPLOTLIBRC the same way: the guest's /etc has no matplotlibrc)
MATPLOTLIBRC=/usr/share/matplotlib/mpl-data/matplotlibrc MPLCONFIGDIR=/tmp/mpl \
    chroot "$root" /opt/sandvisor/bin/python3 -c '
import numpy, pandas, matplotlib, openpyxl, PIL, sqlite3, ssl, ctypes, decimal, json, lzma, bz2, zlib, readline, uuid
matplotlib.use("Agg")
import matplotlib.pyplot as plt, io
df = pandas.DataFrame({"a": [1, 2, 3], "b": [4.0, 5.5, 6.25]})
buf = io.BytesIO(); df.to_excel(buf, index=False); buf.seek(0)
assert pandas.read_excel(buf).equals(df)
plt.plot(df.a, df.b); plt.savefig(io.BytesIO(), format="png"); plt.savefig(io.BytesIO(), format="pdf")
assert pandas.Timestamp("2024-01-01", tz="Europe/Berlin").utcoffset().seconds == 3600
numpy.linalg.inv(numpy.eye(3))
' || { log "python does not work from the staged tree (see above)"; exit 1; }
chroot "$root" /opt/sandvisor/bin/node -e '
const assert = require("assert"); assert.strictEqual(1 + 1, 2);
require("zlib").gzipSync("x"); require("crypto").createHash("sha256");
new Intl.DateTimeFormat("de-DE").format(0);' ||
    { log "node does not work from the staged tree (see above)"; exit 1; }
SV_RUNTIMES=/opt/sandvisor/runtimes SV_PYTHON="chroot $root /opt/sandvisor/bin/python3" \
    SV_NODE="chroot $root /opt/sandvisor/bin/node" \
    "$here/../tests/integration/runners_native.sh" > "$work/runners.log" 2>&1 ||
    { cat "$work/runners.log" >&2; log "runner tests failed in the staged tree"; exit 1; }
log "chroot tests passed ($(elapsed))"

# --- sizes -------------------------------------------------------------------
sum_sizes() { xargs -r -d '\n' stat -c %s -- | awk '{ s += $1 } END { print s + 0 }'; }
{
    all=$(du -sb "$img" | cut -f1)
    printf '  %-8s %8s MiB  %6s files\n' total "$(echo "scale=1; $all/1048576" | bc)" "$(find "$img" -type f | wc -l)"
    for l in $langs; do
        # a language's own files, .pyc included; libraries both use count under "shared"
        others=$(for o in $langs; do [ "$o" = "$l" ] || cat "$work/$o.paths"; done | sort -u)
        own=$(comm -23 "$work/$l.paths" <(echo "$others") )
        b=$( (echo "$own"; if [ "$l" = python ]; then (cd "$img" && find usr/lib/python3* -name '*.pyc' | sed 's|^|/|'); fi) |
            sed "s|^|$img|" | sum_sizes)
        printf '  %-8s %8s MiB\n' "$l" "$(echo "scale=1; $b/1048576" | bc)"
    done
    shared=$(comm -12 "$work/python.paths" "$work/node.paths" | sed "s|^|$img|" | sum_sizes)
    printf '  %-8s %8s MiB\n' shared "$(echo "scale=1; $shared/1048576" | bc)"
} > "$work/sizes.txt"

# --- the image ----------------------------------------------------------------
# No journal, no reserved blocks, no checksums (the guest kernel then needs no crc32c):
# the guest mounts it read-only.
blocks=$(du -s --block-size=4096 "$img" | cut -f1)
inodes=$(( $(find "$img" | wc -l) + 1024 ))
mb=$(( (blocks * 4096 * 110 / 100 + inodes * 256) / 1048576 + 16 ))
log "mke2fs: ${mb} MiB, $inodes inodes"
for try in 1 2 3; do
    rm -f "$work/sandvisor-rt.ext4"
    if nice mke2fs -q -F -t ext4 -L sandvisor-rt -b 4096 -m 0 -N "$inodes" \
        -O ^has_journal,^resize_inode,^metadata_csum,^orphan_file -E root_owner=0:0 \
        -d "$img" "$work/sandvisor-rt.ext4" "${mb}M" >/dev/null 2>"$work/mke2fs.err"; then
        break
    fi
    cat "$work/mke2fs.err" >&2
    [ $try = 3 ] && { log "mke2fs failed"; exit 1; }
    mb=$(( mb * 125 / 100 )); log "retrying with ${mb} MiB"
done
# Shrink to the minimum: the image is read-only, so free space is waste.
resize2fs -M "$work/sandvisor-rt.ext4" >/dev/null 2>&1 || { log "resize2fs -M failed"; exit 1; }
e2fsck -fn "$work/sandvisor-rt.ext4" >/dev/null 2>&1 || { log "e2fsck finds the image broken"; exit 1; }
printf '  %-8s %8s MiB  (ext4 file, %s)\n' image \
    "$(echo "scale=1; $(stat -c %s "$work/sandvisor-rt.ext4")/1048576" | bc)" "$key" >> "$work/sizes.txt"

# --- publish atomically ----------------------------------------------------------
mkdir -p "$work/pub"
mv "$work/sandvisor-rt.ext4" "$work/sizes.txt" "$work/pub/"
for l in $langs; do cp "$work/$l.paths" "$work/pub/"; done
if ! mv -T "$work/pub" "$dest" 2>/dev/null; then
    [ -f "$dest/sandvisor-rt.ext4" ] || { log "cannot publish to $dest"; exit 1; }   # lost a race: fine
fi
# Keep the two newest images; older keys only fill the disk.
ls -1dt "$cache"/*/ 2>/dev/null | tail -n +3 | xargs -r rm -rf
publish
log "done in $(elapsed)"
