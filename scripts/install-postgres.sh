#!/bin/sh
# Install Debian's PostgreSQL 15 server binaries (initdb, pg_ctl) for the PostgreSQL journal tests, which
# start a throwaway server of their own. Installs only when they are missing, the user is root and apt-get
# exists; otherwise says why not and exits 0, so `make test` goes on and those tests skip with their reason.
# The package's own cluster is not used (the tests never touch it).
set -u

if command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    echo "postgresql: present ($(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | tail -n 1))"
    exit 0
fi
if [ "$(id -u)" != "0" ]; then
    echo "postgresql: initdb/pg_ctl missing and not root, so not installing them;" \
         "run 'sudo apt-get install postgresql-15' to enable the PostgreSQL journal tests (they are skipped meanwhile)"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "postgresql: initdb/pg_ctl missing and apt-get is not available (not a Debian-like system);" \
         "install PostgreSQL 15 to enable the PostgreSQL journal tests (they are skipped meanwhile)"
    exit 0
fi
echo "postgresql: missing; installing Debian's postgresql-15 package with apt-get"
export DEBIAN_FRONTEND=noninteractive
if apt-get update -qq && apt-get install -y -qq postgresql-15 >/dev/null; then
    echo "postgresql: installed ($(ls -d /usr/lib/postgresql/*/bin | tail -n 1))"
else
    echo "postgresql: apt-get could not install it (offline?); the PostgreSQL journal tests will be skipped"
fi
exit 0
