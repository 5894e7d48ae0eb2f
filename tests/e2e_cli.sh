#!/bin/bash
# e2e_cli.sh: the program's contract: --version, --help, CMD --help, usage errors (exit 2,
# one "sinkmap: error:" line).
set -u
cli=$1
fail() { echo "FAIL: $*"; exit 1; }
v=$("$cli" --version) || fail "--version exit $?"
[ "$v" = "sinkmap 0.1.0" ] || fail "--version printed '$v'"
"$cli" --help | grep -q "^  run " || fail "--help lists no run command"
for cmd in run validate zonal; do
  "$cli" "$cmd" --help | grep -q "usage: sinkmap $cmd" || fail "$cmd --help"
done
err=$("$cli" frobnicate 2>&1 >/dev/null); rc=$?
[ $rc -eq 2 ] || fail "unknown command exit $rc"
[ "$err" = "sinkmap: error: unknown command 'frobnicate' (try sinkmap --help)" ] || fail "unknown command said '$err'"
err=$("$cli" run --bogus x.ini 2>&1 >/dev/null); rc=$?
[ $rc -eq 2 ] || fail "unknown option exit $rc"
echo "$err" | grep -q "^sinkmap: error: run: unknown option '--bogus'" || fail "unknown option said '$err'"
err=$("$cli" run /nonexistent/job.ini 2>&1 >/dev/null); rc=$?
[ $rc -eq 2 ] || fail "missing job exit $rc"
[ "$(echo "$err" | wc -l)" -eq 1 ] || fail "missing job printed more than one line: $err"
echo "$err" | grep -q "/nonexistent/job.ini: cannot open the job file" || fail "missing job said '$err'"
"$cli" >/dev/null 2>&1; [ $? -eq 2 ] || fail "no arguments should exit 2"
src=$2
out=$("$cli" validate "$src/examples/nanchong-demo/job.ini") || fail "validate of the demo job exit $?"
echo "$out" | grep -q "valid (3 scenes, 1 drone rasters)" || fail "validate printed '$out'"
err=$("$cli" validate /nonexistent/job.ini 2>&1 >/dev/null); rc=$?
[ $rc -eq 2 ] || fail "validate of a missing job exit $rc"
echo "1 passed, 0 failed"
