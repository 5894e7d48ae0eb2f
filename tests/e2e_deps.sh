#!/bin/bash
# e2e_deps.sh: tools/ensure-deps as a user without root, with a package missing, must print
# the exact apt-get line and exit 2; with nothing missing it must exit 0 silently.
set -u
src=$2
fail() { echo "FAIL: $*"; exit 1; }
# The user without root may not be able to enter the checkout (a clone under /root or in a
# mktemp -d folder is private): it runs a copy of the script from a folder it can read.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
chmod 755 "$tmp"
cp "$src/tools/ensure-deps" "$tmp/ensure-deps"
chmod 755 "$tmp/ensure-deps"
out=$(SINKMAP_EXTRA_PACKAGES="sinkmap-no-such-package" setpriv --reuid=65534 --regid=65534 --clear-groups \
      sh "$tmp/ensure-deps" build 2>&1)
rc=$?
[ $rc -eq 2 ] || fail "exit $rc, expected 2: $out"
echo "$out" | grep -q "sudo apt-get install -y sinkmap-no-such-package" || fail "no apt-get line: $out"
out=$(setpriv --reuid=65534 --regid=65534 --clear-groups sh "$tmp/ensure-deps" build 2>&1)
rc=$?
[ $rc -eq 0 ] || fail "exit $rc with nothing missing: $out"
[ -z "$out" ] || fail "printed with nothing missing: $out"
echo "1 passed, 0 failed"
