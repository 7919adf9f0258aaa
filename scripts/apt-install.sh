#!/bin/sh
# Install a Debian package that some tests need, only when it is missing, the user is root and apt-get
# exists; otherwise say why not and exit 0, so `make test` goes on and those tests skip with their reason.
#     sh scripts/apt-install.sh LABEL PACKAGE 'SHELL TEST THAT IS TRUE WHEN PRESENT' 'WHAT IT ENABLES'
set -u
LABEL=$1 PACKAGE=$2 PRESENT=$3 ENABLES=$4

if sh -c "$PRESENT" >/dev/null 2>&1; then
    echo "$LABEL: present"
    exit 0
fi
if [ "$(id -u)" != "0" ]; then
    echo "$LABEL: missing and not root, so not installing it;" \
         "run 'sudo apt-get install $PACKAGE' to enable $ENABLES (they are skipped meanwhile)"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "$LABEL: missing and apt-get is not available (not a Debian-like system);" \
         "install $PACKAGE to enable $ENABLES (they are skipped meanwhile)"
    exit 0
fi
echo "$LABEL: missing; installing Debian's $PACKAGE package with apt-get"
export DEBIAN_FRONTEND=noninteractive
if apt-get update -qq && apt-get install -y -qq "$PACKAGE" >/dev/null; then
    echo "$LABEL: installed"
else
    echo "$LABEL: apt-get could not install it (offline?); $ENABLES will be skipped"
fi
exit 0
