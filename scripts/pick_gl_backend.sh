#!/bin/sh
# Offscreen OpenGL for MuJoCo: EGL where an NVIDIA GPU is present, OSMesa (CPU) otherwise.
if [ -e /dev/nvidia0 ] || command -v nvidia-smi >/dev/null 2>&1; then echo egl; else echo osmesa; fi
