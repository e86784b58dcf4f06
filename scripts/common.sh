# Shared by scripts/test, scripts/demo and scripts/bench: installs the Debian
# packages the build needs and builds segaudit.  Source it; do not run it.

SEGAUDIT_PACKAGES="gcc binutils python3 pkg-config meson ninja-build libhdf5-dev libpng-dev \
libjson-c-dev libcmocka-dev zlib1g-dev libdeflate-dev nettle-dev libsqlite3-dev"

# Installs the missing packages (as root with apt-get), or says which
# command to run and fails.
ensure_packages() {
    local missing=() p
    for p in $SEGAUDIT_PACKAGES "$@"; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
            grep -q "install ok installed"; then
            missing+=("$p")
        fi
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
        echo "Installing: ${missing[*]}" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >&2
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
    else
        echo "Missing packages: ${missing[*]}" >&2
        echo "Install them with:" >&2
        echo "  sudo apt-get install -y ${missing[*]}" >&2
        return 1
    fi
}

# Configures (once) and builds into $1 (default: build), extra meson
# options after it.
# The Python package is built for Debian's Python (whose NumPy the tests
# use) when its headers (python3-dev) are installed.
build_segaudit() {
    local dir=${1:-build}
    shift || true
    local py=()
    [ -x /usr/bin/python3 ] && py=(-Dpython_exe=/usr/bin/python3)
    if [ ! -f "$dir/build.ninja" ]; then
        meson setup "$dir" --buildtype=release "${py[@]}" "$@" >&2
    elif { command -v mpicc >/dev/null && ! grep -q segaudit-mpi "$dir/build.ninja"; } ||
         { python3_headers && ! grep -q _segaudit "$dir/build.ninja"; }; then
        # configured before Open MPI or the Python headers were
        # installed: find them now
        meson setup --reconfigure "$dir" "${py[@]}" >&2
    fi
    ninja -C "$dir" >&2
}

python3_headers() {
    [ -x /usr/bin/python3 ] &&
        [ -f "$(/usr/bin/python3 -c 'import sysconfig; print(sysconfig.get_paths()["include"])')/Python.h" ]
}
