#!/bin/sh
# Lists the host files that make up the guest's Python runtime, one absolute path a
# line, for runtimes/build-image.sh (which adds the shared-library closure, compiles
# .pyc files and tests the result in a chroot).
#
#   gather.sh files      the file list
#   gather.sh packages   the Debian packages it is taken from (for the cache key)
#
# Python packages come whole from their Debian packages (so lazily imported
# submodules are there too), minus tests, docs and translations. Debian's
# Depends are wider than what imports need (python3-fonttools pulls in scipy,
# sympy and lxml, python3-matplotlib pulls in tk); those are left out on purpose
# and listed in OMIT. A Python dependency in neither list fails the build, so a
# package upgrade that brings a new one is noticed.
set -eu

PKGS="python3.11-minimal libpython3.11-minimal libpython3.11-stdlib python3-minimal python3
python3-numpy python3-pandas python3-pandas-lib python3-matplotlib python-matplotlib-data
python3-openpyxl python3-et-xmlfile python3-jdcal python3-dateutil python3-six python3-tz tzdata
python3-pyparsing python3-cycler python3-kiwisolver python3-packaging python3-pil
python3-contourpy python3-fonttools python3-pkg-resources media-types"

OMIT="python3-scipy python3-sympy python3-lxml python3-pil.imagetk python3-tk python3-brotli
python3-fs python3-lz4 python3-ufolib2 python3-unicodedata2 python3-munkres python3-defcon
python3-all python3-numpy-abi9 python3-distutils python3-lib2to3 python3.11 python3:any
python3.11:any python3-unicodedata2 python3-all python3-numpy-dev"

case "${1:-files}" in
packages) printf '%s\n' $PKGS; exit 0 ;;
files) ;;
*) echo "usage: $0 files|packages" >&2; exit 2 ;;
esac

# Check that every Python-level dependency is either gathered or deliberately omitted.
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null | grep -qx installed ||
        { echo "python/gather.sh: Debian package $p is not installed (make deps)" >&2; exit 1; }
    deps=$(dpkg-query -W -f='${Depends}\n' "$p" | tr ',|' '\n\n' | sed 's/(.*//; s/ //g' |
        grep -E '^(python3|python-)' || true)
    for d in $deps; do
        case " $(echo $PKGS $OMIT) " in *" $d "*) ;; *) missing="$missing $p->$d" ;; esac
    done
done
if [ -n "$missing" ]; then
    echo "python/gather.sh: Python dependencies neither gathered nor omitted:$missing" >&2
    exit 1
fi

# shellcheck disable=SC2086
dpkg -L $PKGS | sort -u | while IFS= read -r f; do
    [ -f "$f" ] || [ -L "$f" ] || continue       # directories come with their files
    printf '%s\n' "$f"
done | grep -v -E \
    -e '^/usr/share/(doc|man|info|lintian|locale|bug|debconf|pixmaps|applications|python3/debian_defaults|binfmts)/' \
    -e '^/usr/share/zoneinfo/(right|posix)/' \
    -e '^/usr/bin/(pydoc|pygettext|2to3|f2py|fonttools|pyftmerge|pyftsubset|ttx|x86_64)' \
    -e '^/usr/sbin/' -e '^/etc/' -e '^/usr/lib/mime/' \
    -e '/(tests?|testing/_private|idle_test)/' -e '/__pycache__/' -e '\.pyc$' \
    -e '^/usr/lib/python3\.11/(idlelib|tkinter|turtledemo|ensurepip|lib2to3|test|unittest/test|distutils/tests)/' \
    -e '^/usr/lib/python3\.11/(turtle\.py|pydoc_data/)' \
    -e '/matplotlib/(backends/(_backend_tk|backend_tk|backend_gtk|backend_qt|backend_wx|backend_macosx)|mpl-data/sample_data/)' \
    -e '/site-packages/' \
    -e '\.(pyi|c|h|pxd|pyx|cpp)$' \
    || true
