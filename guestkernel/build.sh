#!/usr/bin/env bash
# Build the sandvisor guest kernel: Debian's linux-source-6.1, `make tinyconfig`, then
# guestkernel/sandvisor.config merged on top in allnoconfig mode (see the fragment's header).
#
# usage: guestkernel/build.sh [OUTDIR]        (default OUTDIR: <repo>/build/guest)
# Writes OUTDIR/{bzImage,vmlinux,config,System.map,build-info}.
#
# Results are cached in ${SANDVISOR_CACHE:-$HOME/.cache/sandvisor}/kernel/<key>/, where <key>
# hashes the linux-source-6.1 package version, the compiler version, the fragment and this
# script; a cache hit only copies files. A build works in a temporary directory (on /dev/shm when
# it has room, else under <cache>/kernel/.tmp.*) and is published with one rename, so an
# interrupted build never leaves a cache entry behind.
# Builds are serialised with a lock (the machines here have 2 cores).
#
# Environment: SANDVISOR_CACHE (cache root), SANDVISOR_KEEP_KERNEL_TREE=1 (keep the source and
# object tree of a build, ~1.5 GB, in <cache>/kernel/<key>.tree for inspection),
# JOBS (default: nproc).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
fragment=$here/sandvisor.config
pkg=linux-source-6.1
tarball=/usr/src/$pkg.tar.xz
out=${1:-$repo/build/guest}
cache=${SANDVISOR_CACHE:-$HOME/.cache/sandvisor}/kernel
jobs=${JOBS:-$(nproc)}
outputs=(bzImage vmlinux config System.map build-info)

say() { echo "guestkernel: $*"; }
die() { echo "guestkernel: error: $*" >&2; exit 1; }

# --- inputs and the cache key -------------------------------------------------------------------
version=$(dpkg-query -W -f='${Version}' "$pkg" 2>/dev/null) ||
  die "package $pkg is not installed (apt-get install $pkg)"
[[ -r $tarball ]] || die "$tarball missing although $pkg $version is installed"
[[ -r $fragment ]] || die "config fragment $fragment missing"
cc_version=$(gcc --version 2>/dev/null | head -n1) || die "gcc not found (apt-get install build-essential)"
key=$( { echo "$pkg $version"; echo "$cc_version"; cat "$fragment" "$here/build.sh"; } |
       sha256sum | cut -c1-16)
entry=$cache/$key

publish_to_out() {
  mkdir -p "$out"
  for f in "${outputs[@]}"; do
    cp -f "$entry/$f" "$out/$f.tmp.$$"
    mv -f "$out/$f.tmp.$$" "$out/$f"
  done
  say "kernel $key -> $out (bzImage $(stat -c %s "$out/bzImage") bytes)"
}

cache_hit() { [[ -f $entry/build-info ]]; }

# Work dirs of builds that were killed (SIGKILL, a stopped CI job). Only call with the lock held:
# every builder of this cache holds it for its whole build.
shm_prefix=/dev/shm/sandvisor-kernel-$(echo "$cache" | sha256sum | cut -c1-8)
sweep_stale() { rm -rf "$cache"/.tmp.* "$shm_prefix".*; }

if cache_hit; then
  publish_to_out
  # A killed build may have left ~1.5 GB on tmpfs: free it if nobody is building right now.
  if compgen -G "$shm_prefix.*" >/dev/null || compgen -G "$cache/.tmp.*" >/dev/null; then
    { exec 9>"$cache/.lock" && flock -n 9 && sweep_stale; } 2>/dev/null || true
  fi
  exit 0
fi

# --- slow path: check the tools first, so a missing one fails in a second, not after minutes ----
missing=()
for tool in make gcc ld flex bison bc lz4 xz tar perl sha256sum flock; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
echo '#include <gelf.h>' | gcc -E -x c - >/dev/null 2>&1 || missing+=("libelf headers (libelf-dev)")
((${#missing[@]} == 0)) ||
  die "missing build tools: ${missing[*]} (Debian: apt-get install build-essential flex bison bc lz4 xz-utils libelf-dev)"

mkdir -p "$cache"
exec 9>"$cache/.lock"
if ! flock -n 9; then
  say "another kernel build holds $cache/.lock; waiting"
  flock 9
fi
# Someone else may have built the same key while we waited.
if cache_hit; then publish_to_out; exit 0; fi

# The source tree (~1.5 GB, 84k files) is unpacked and built on tmpfs when there is room: on
# the disks here unpacking it takes over a minute and deleting it two. Only the results are
# written to the cache. SANDVISOR_KEEP_KERNEL_TREE=1 builds in the cache dir instead.
workroot=$cache
if [[ ${SANDVISOR_KEEP_KERNEL_TREE:-0} != 1 && -d /dev/shm && -w /dev/shm ]] &&
   (( $(df --output=avail -B1 /dev/shm 2>/dev/null | tail -n1 || echo 0) > 4 * 1024 ** 3 )); then
  workroot=/dev/shm
fi

sweep_stale
rm -rf "$entry.tree"

if [[ $workroot == /dev/shm ]]; then
  work=$(mktemp -d "$shm_prefix.$key.XXXXXX")
else
  work=$(mktemp -d "$cache/.tmp.$key.XXXXXX")
fi
log=$work/build.log
failed_log=$cache/$key.failed.log
ok=0
cleanup() {
  if ((ok == 0)) && [[ -f $log ]]; then
    cp -f "$log" "$failed_log" 2>/dev/null || true
    echo "guestkernel: build ${interrupted:+interrupted, }not published; log: $failed_log" >&2
  fi
  if ((ok == 1)) && [[ ${SANDVISOR_KEEP_KERNEL_TREE:-0} == 1 ]]; then
    mv -T "$work" "$entry.tree" 2>/dev/null || true
  fi
  rm -rf "$work" "${staging:-}"
}
trap cleanup EXIT
trap 'interrupted=1; exit 130' INT TERM

start=$SECONDS
elapsed() { printf '%d:%02d' $(((SECONDS - start) / 60)) $(((SECONDS - start) % 60)); }

say "building kernel $key ($pkg $version, $cc_version, $jobs jobs)"
say "unpacking $tarball"
tar -xJf "$tarball" -C "$work" >>"$log" 2>&1 || die "unpacking $tarball failed"
src=$work/$pkg
[[ -f $src/Makefile ]] || die "$tarball did not unpack to $pkg/"

# Nothing outside the cache key may steer kbuild: not a calling make's flags, variables or
# jobserver (MAKEFLAGS), nor a toolchain or flags chosen through the environment.
unset MAKEFLAGS MFLAGS MAKEOVERRIDES MAKELEVEL GNUMAKEFLAGS KBUILD_OUTPUT CROSS_COMPILE LLVM \
      KCFLAGS KCPPFLAGS KAFLAGS KBUILD_EXTRA_SYMBOLS
# Reproducible-ish build identity: `uname -v` in the guest names the cache key.
export ARCH=x86_64 KBUILD_BUILD_USER=sandvisor KBUILD_BUILD_HOST=sandvisor \
       KBUILD_BUILD_VERSION=1 KBUILD_BUILD_TIMESTAMP="sandvisor-$key"

# --- configure ----------------------------------------------------------------------------------
say "configuring: tinyconfig + $(basename "$fragment") (allnoconfig merge)"
{
  make -C "$src" tinyconfig &&
  (cd "$src" && scripts/kconfig/merge_config.sh -n .config "$fragment")
} >>"$log" 2>&1 || die "kernel configuration failed"

# Every line of the fragment must have landed as written: a dependency we forgot makes Kconfig
# silently drop an option, and this is where that becomes loud.
bad=()
while IFS= read -r line; do
  if [[ $line == "# CONFIG_"* ]]; then
    sym=${line#\# }; sym=${sym%% *}
    got=$(grep -E "^$sym=" "$src/.config" || true)
    [[ -z $got ]] || bad+=("$sym: wanted 'not set', got '$got'")
  else
    sym=${line%%=*}
    grep -qxF -- "$line" "$src/.config" ||
      bad+=("$sym: wanted '${line#*=}', got '$(grep -E "^$sym=|^# $sym is not set" "$src/.config" || echo absent)'")
  fi
done < <(grep -E '^(CONFIG_[A-Za-z0-9_]+=|# CONFIG_[A-Za-z0-9_]+ is not set)' "$fragment")
if ((${#bad[@]})); then
  echo "guestkernel: error: ${#bad[@]} option(s) of $(basename "$fragment") did not stick" \
       "(unmet dependency or a choice/range conflict; see 'make menuconfig' help for each):" >&2
  printf '  %s\n' "${bad[@]}" >&2
  exit 1
fi

# --- build --------------------------------------------------------------------------------------
say "compiling with -j$jobs (progress every 200 steps; log $log)"
# One status line per 200 kbuild steps instead of thousands of lines.
progress() {
  local n=0 line
  while IFS= read -r line; do
    [[ $line =~ ^\ \ ([A-Z][A-Z0-9_]*)\ +([^ ]+) ]] || continue
    n=$((n + 1))
    ((n % 200)) || say "  $(printf '%5d' $n) steps, $(elapsed), at ${BASH_REMATCH[2]}"
  done
  say "  $(printf '%5d' $n) steps, $(elapsed)"
}
if ! nice -n 10 make -C "$src" -j"$jobs" bzImage 2>&1 | tee -a "$log" | progress; then
  echo "--- last errors in the log:" >&2
  { grep -E -B2 -A6 'error:|Error [0-9]' "$log" || tail -n 40 "$log"; } | tail -n 40 >&2
  die "kernel build failed after $(elapsed)"
fi

# --- publish ------------------------------------------------------------------------------------
# Stage next to the entry (same filesystem), so that publishing is one atomic rename.
staging=$(mktemp -d "$cache/.tmp.$key.result.XXXXXX")
result=$staging/result
mkdir "$result"
cp "$src/arch/x86/boot/bzImage" "$src/vmlinux" "$src/System.map" "$result/"
cp "$src/.config" "$result/config"
{
  echo "key=$key"
  echo "package=$pkg $version"
  echo "compiler=$cc_version"
  echo "built=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "build_seconds=$((SECONDS - start))"
  echo "jobs=$jobs"
  echo "workdir=$workroot"
} >"$result/build-info"
mv -T "$result" "$entry" || die "could not publish $entry"
ok=1
rm -f "$failed_log"
say "built in $(elapsed): bzImage $(stat -c %s "$entry/bzImage") bytes, vmlinux $(stat -c %s "$entry/vmlinux") bytes"
publish_to_out
