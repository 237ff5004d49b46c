#!/bin/sh
# Installs what `npm run bench` needs besides Node: the peers (tini, dumb-init from Debian's
# packages), a C compiler for the helpers compiled at run time, and unshare (util-linux).
# Debian/Ubuntu; run as root.
set -eu
apt-get update
apt-get install -y --no-install-recommends tini dumb-init gcc libc6-dev util-linux bash coreutils
