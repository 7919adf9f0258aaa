#!/bin/sh
# Install Debian's headless-capable Chromium for the dashboard's browser tests (never a browser download
# by Playwright). Installs only when it is missing, the user is root and apt-get exists; otherwise says
# why not and exits 0, so `make test` goes on and the browser tests skip with their reason.
set -u
CHROMIUM=/usr/bin/chromium

if [ -x "$CHROMIUM" ]; then
    echo "chromium: present at $CHROMIUM"
    exit 0
fi
if [ "$(id -u)" != "0" ]; then
    echo "chromium: missing at $CHROMIUM and not root, so not installing it;" \
         "run 'sudo apt-get install chromium' to enable the browser tests (they are skipped meanwhile)"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "chromium: missing at $CHROMIUM and apt-get is not available (not a Debian-like system);" \
         "install Chromium at $CHROMIUM to enable the browser tests (they are skipped meanwhile)"
    exit 0
fi
echo "chromium: missing; installing Debian's chromium package with apt-get"
export DEBIAN_FRONTEND=noninteractive
if apt-get update -qq && apt-get install -y -qq chromium >/dev/null; then
    echo "chromium: installed at $CHROMIUM"
else
    echo "chromium: apt-get could not install it (offline?); the browser tests will be skipped"
fi
exit 0
