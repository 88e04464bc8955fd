#!/usr/bin/env bash
# Set up everything unicode-substrate needs on a fresh machine; fast and silent the second time.
#   - the GNU Unifont font (Debian package fonts-unifont), installed with apt-get when we are root
#   - .venv with a CPU build of torch pinned *before* anything that depends on torch
#     (an unpinned torch pulls several GB of CUDA packages)
#   - the project itself, editable, with its test extras; this compiles the encoder's native BPE
#     loop (unicode_substrate/tokenizer/_bpe.c) with the machine's C compiler
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
VENV=.venv
TORCH_VERSION=2.13.0
FONT_DIR=/usr/share/fonts/opentype/unifont

if [ ! -f "$FONT_DIR/unifont.otf" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "bootstrap: installing fonts-unifont with apt-get"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq fonts-unifont >/dev/null
    else
        echo "bootstrap: GNU Unifont is missing; install it with:  sudo apt-get install fonts-unifont" >&2
        echo "bootstrap: (continuing: commands that need the font will say so)" >&2
    fi
fi

if [ ! -x "$VENV/bin/python" ]; then
    echo "bootstrap: creating $VENV"
    "$PY" -m venv "$VENV"
fi

stamp="$VENV/.bootstrap-stamp"
# Anything that changes what pip builds re-runs the install: the project files and the C source.
want="torch=$TORCH_VERSION $(cat pyproject.toml setup.py unicode_substrate/tokenizer/_bpe.c | sha256sum | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    exit 0
fi

pip() { "$VENV/bin/python" -m pip --disable-pip-version-check -q "$@"; }
if ! command -v "${CC:-cc}" >/dev/null && ! command -v gcc >/dev/null; then
    echo "bootstrap: a C compiler is needed to build the encoder's native loop; install one with:  sudo apt-get install gcc python3-dev" >&2
    exit 1
fi
if ! "$VENV/bin/python" -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '$TORCH_VERSION')" 2>/dev/null; then
    echo "bootstrap: installing torch==$TORCH_VERSION"
    pip install "torch==$TORCH_VERSION"
fi
echo "bootstrap: installing unicode-substrate and its dependencies"
pip install -e ".[test]"
echo "$want" > "$stamp"
echo "bootstrap: done"
