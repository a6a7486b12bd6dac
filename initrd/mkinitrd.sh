#!/bin/sh
# mkinitrd.sh OUT.cpio[.gz] INIT AGENT [SRC:DEST ...]
#
# Packs the guest's initramfs (newc cpio, gzip'd if OUT ends in .gz):
#   /init                    INIT (static PID 1, initrd/init.c)
#   /sbin/sandvisor-agent    AGENT (static, initrd/agent.c ...)
#   /bin/busybox + applet symlinks in /bin and /sbin (sh, ls, cat, ...) from busybox-static
#   (no /usr, /lib, /lib64: init links them into the runtime image at sv.rt)
#   /etc/passwd, /etc/group, /etc/hosts (root and the sandbox user, uid/gid 1000)
#   the mount points init uses
#   SRC:DEST pairs: the tree SRC copied to DEST (e.g. gathered runtimes:/opt/sandvisor)
# Output is reproducible: sorted entries, owner 0:0, mtime 0.
# BUSYBOX=path overrides /bin/busybox.
set -eu

usage() { echo "usage: $0 OUT.cpio[.gz] INIT AGENT [SRC:DEST ...]" >&2; exit 2; }
[ $# -ge 3 ] || usage
out=$1 init=$2 agent=$3
shift 3
busybox=${BUSYBOX:-/bin/busybox}

for f in "$init" "$agent" "$busybox"; do
	[ -x "$f" ] || { echo "mkinitrd: $f: not an executable file" >&2; exit 1; }
done
case $(file -b "$busybox" 2>/dev/null || echo static) in
*dynamically*) echo "mkinitrd: $busybox is dynamically linked (install busybox-static)" >&2
	exit 1 ;;
esac

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT INT TERM

# No /usr, /lib, /lib64: init links them into the runtime image (see initrd/init.c).
mkdir -p "$dir/bin" "$dir/sbin" "$dir/etc" "$dir/proc" \
	"$dir/sys" "$dir/dev" "$dir/tmp" "$dir/run" "$dir/mnt/data" "$dir/home/user" \
	"$dir/root" "$dir/opt/sandvisor" "$dir/var/tmp"
chmod 1777 "$dir/tmp" "$dir/var/tmp"
chmod 700 "$dir/root"

install -m 0755 "$init" "$dir/init"
install -m 0755 "$agent" "$dir/sbin/sandvisor-agent"
install -m 0755 "$busybox" "$dir/bin/busybox"

# Applets in /bin or /sbin (usr/bin → bin), since /usr belongs to the runtime image;
# not init/linuxrc (our /init is PID 1).
"$busybox" --list-full | while read -r applet; do
	case $applet in
	sbin/init | linuxrc | bin/busybox | "") continue ;;
	sbin/* | usr/sbin/*) link=sbin/${applet##*/} ;;
	*) link=bin/${applet##*/} ;;
	esac
	[ -e "$dir/$link" ] || [ -L "$dir/$link" ] || ln -s /bin/busybox "$dir/$link"
done

cat > "$dir/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
user:x:1000:1000:sandbox user:/home/user:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat > "$dir/etc/group" <<'EOF'
root:x:0:
user:x:1000:
nogroup:x:65534:
EOF
cat > "$dir/etc/hosts" <<'EOF'
127.0.0.1 localhost sandbox
::1 localhost
EOF
echo sandbox > "$dir/etc/hostname"
printf 'passwd: files\ngroup: files\nhosts: files\n' > "$dir/etc/nsswitch.conf"

for pair in "$@"; do
	src=${pair%%:*} dest=${pair#*:}
	[ "$src" != "$pair" ] && [ -d "$src" ] || { echo "mkinitrd: bad tree '$pair' (SRC:DEST)" >&2; exit 1; }
	mkdir -p "$dir/$dest"
	cp -a "$src/." "$dir/$dest/"
done

# /dev/console lets the kernel give /init its stdio before devtmpfs is up;
# init copes without it, so only root builds add it.
mknod -m 600 "$dir/dev/console" c 5 1 2>/dev/null || true

find "$dir" -exec touch -h -d @0 {} +
tmp="$out.tmp.$$"
(cd "$dir" && find . -mindepth 1 | LC_ALL=C sort |
	cpio -o -H newc --quiet -R 0:0 --reproducible) > "$tmp"
case $out in
*.gz) gzip -9 -n < "$tmp" > "$tmp.gz" && mv "$tmp.gz" "$tmp" ;;
esac
mv "$tmp" "$out"
echo "mkinitrd: $out ($(wc -c < "$out") bytes)"
