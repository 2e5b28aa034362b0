#!/usr/bin/env bash
# Installs what boxmine needs to build and test on Debian 12, and nothing that is already
# there. Idempotent; run as root. BM_WITH_BENCH=1 also installs the comparison tools
# (PyTorch, hyperfine) used by bench/. darknet is always installed: its seven sample images
# are what tests/cli_detect_darknet.sh compares with the original implementation.
set -euo pipefail
# libmicrohttpd-dev, libsqlite3-dev: boxmine serve; chromium, nodejs, npm: its browser test
# (tests/cli_serve.sh, which installs puppeteer-core from npm into the build folder)
packages=(build-essential cmake pkg-config libopenblas-dev libjpeg-dev libpng-dev libxml2-dev
          zlib1g-dev dataset-fashion-mnist darknet libmicrohttpd-dev libsqlite3-dev chromium
          clang libclang-rt-14-dev libomp-dev) # clang: the fuzz targets (scripts/fuzz.sh)
# node and npm from elsewhere (e.g. NodeSource, whose nodejs bundles npm) are fine as they are
command -v node >/dev/null || packages+=(nodejs)
command -v npm >/dev/null || packages+=(npm)
if [ "${BM_WITH_BENCH:-0}" = 1 ]; then
  packages+=(python3-torch python3-numpy hyperfine)
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
if [ "$(id -u)" != 0 ]; then SUDO=sudo; else SUDO=; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
