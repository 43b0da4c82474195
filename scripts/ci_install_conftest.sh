#!/usr/bin/env bash
# CI only: install conftest (version pinned, tarball checked against its sha256) into /usr/local/bin.
# Versions live here so validate.yml and deploy.yml use the same binary. See docs/adr/0010-ci-cd.md.
set -euo pipefail
CONFTEST_VERSION="${CONFTEST_VERSION:-0.62.0}"
# sha256 of conftest_0.62.0_Linux_x86_64.tar.gz (the release's checksums.txt)
CONFTEST_SHA256="${CONFTEST_SHA256:-284231908e4cf66d156e5577c3eee2f67d9f2edf2521fa2309e0df1969f871e5}"

tarball="conftest_${CONFTEST_VERSION}_Linux_x86_64.tar.gz"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
curl -fsSL --retry 3 -o "$tmp/$tarball" \
  "https://github.com/open-policy-agent/conftest/releases/download/v${CONFTEST_VERSION}/${tarball}"
echo "${CONFTEST_SHA256}  $tmp/$tarball" | sha256sum -c -
tar -xzf "$tmp/$tarball" -C "$tmp" conftest
sudo install -m 0755 "$tmp/conftest" /usr/local/bin/conftest
conftest --version
