#!/usr/bin/env bash
# .ci/install-chromium.sh: make sure Debian's Chromium is at /usr/bin/chromium,
# for the browser tests of cmd/convo (the web viewer). Idempotent: when
# /usr/bin/chromium exists it does nothing; otherwise it runs apt-get update
# and installs the "chromium" package (as root, or through sudo).
set -euo pipefail

log() { echo "install-chromium: $*"; }
die() { echo "install-chromium: error: $*" >&2; exit 1; }

if [ -x /usr/bin/chromium ]; then
	log "$(/usr/bin/chromium --version 2>/dev/null || echo chromium) already installed"
	exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null 2>&1 || die "not root and no sudo: install the chromium package by hand"
	SUDO="sudo"
fi
command -v apt-get >/dev/null 2>&1 || die "apt-get not found: this script supports Debian and Ubuntu; install Chromium at /usr/bin/chromium by hand"

export DEBIAN_FRONTEND=noninteractive
log "apt-get update"
$SUDO apt-get update -q
log "apt-get install chromium"
$SUDO apt-get install -y -q --no-install-recommends chromium fonts-dejavu-core

[ -x /usr/bin/chromium ] || die "chromium installed but /usr/bin/chromium is missing"
log "installed $(/usr/bin/chromium --version 2>/dev/null || echo chromium)"
