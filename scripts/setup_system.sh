#!/bin/sh
# System libraries that pip cannot provide: OSMesa for headless CPU rendering (EGL where a GPU exists).
set -e
missing=""
ldconfig -p 2>/dev/null | grep -q libOSMesa.so || missing="$missing libosmesa6"
if [ "$(scripts/pick_gl_backend.sh)" = egl ]; then
    ldconfig -p 2>/dev/null | grep -q libEGL.so || missing="$missing libegl1"
fi
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "[setup] installing system packages:$missing"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
else
    echo "[setup] missing system packages:$missing" >&2
    echo "[setup] install them first, e.g.: sudo apt-get install$missing" >&2
    exit 1
fi
