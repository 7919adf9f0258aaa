#!/bin/sh
# PostgreSQL 15's server binaries (initdb, pg_ctl) for the PostgreSQL journal tests, which start a throwaway
# server of their own (the package's own cluster is never used).
exec sh "$(dirname "$0")/apt-install.sh" postgresql postgresql-15 \
    'command -v initdb || ls /usr/lib/postgresql/*/bin/initdb' 'the PostgreSQL journal tests'
