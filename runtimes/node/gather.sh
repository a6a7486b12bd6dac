#!/bin/sh
# Lists the host files that make up the guest's Node.js runtime, one absolute path a
# line, for runtimes/build-image.sh (which adds the shared-library closure and
# tests the result in a chroot).
#
#   gather.sh files      the file list
#   gather.sh packages   the Debian packages it is taken from (for the cache key)
#
# Only the interpreter: npm, npx and corepack, headers and docs stay out. Whatever
# /usr/bin/node is (Debian's nodejs with libnode, or a NodeSource build with
# everything linked in), build-image.sh adds its libraries by ldd, so both work.
set -eu
PKGS="nodejs"
node=$(command -v node || true)
[ "$node" = /usr/bin/node ] ||
    { echo "node/gather.sh: need Debian's nodejs at /usr/bin/node (make deps)" >&2; exit 1; }
case "${1:-files}" in
packages)
    echo "$PKGS"
    # Debian's nodejs keeps the engine in libnode*; key on it too.
    dpkg-query -W -f='${Package}\n' 'libnode*' 2>/dev/null || true ;;
files)
    echo /usr/bin/node
    # Debian's split build ships core node_modules next to it; a NodeSource build
    # does not need them.
    if dpkg -L nodejs | grep -q '^/usr/share/nodejs/'; then
        dpkg -L nodejs | grep '^/usr/share/nodejs/.' | while IFS= read -r f; do
            [ -f "$f" ] && printf '%s\n' "$f"; done
    fi ;;
*) echo "usage: $0 files|packages" >&2; exit 2 ;;
esac
