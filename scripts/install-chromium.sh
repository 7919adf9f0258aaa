#!/bin/sh
# Debian's headless-capable Chromium at /usr/bin/chromium for the dashboard's browser tests (never a browser
# download by Playwright).
exec sh "$(dirname "$0")/apt-install.sh" chromium chromium '[ -x /usr/bin/chromium ]' 'the browser tests'
