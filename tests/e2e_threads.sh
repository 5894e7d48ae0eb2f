#!/bin/bash
# e2e_threads.sh: `sinkmap run --threads 1` works on one core: it starts no thread of its own, nor
# does GDAL for it (the inputs are hashed in turn, the COG tiles compressed on the main thread);
# and it writes the same land covers and tables as --threads 2, which does start threads.
# Threads are counted with strace (clone/clone3 with CLONE_THREAD); skipped without strace or
# when the machine does not allow tracing.
set -u
cli=$1
src=$2
if ! command -v strace >/dev/null; then
  echo "SKIP: strace is not installed (apt-get install strace to run this check)"
  exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if ! strace -f -e trace=clone,clone3 -o "$tmp/probe" true 2>/dev/null; then
  echo "SKIP: strace cannot trace here"
  exit 77
fi
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
# the demo job in a mirror of the source tree, no ledger (tests/demo_mirror.sh)
. "$src/tests/demo_mirror.sh"
demo_mirror "$src" "$tmp"
# LeakSanitizer cannot run under ptrace; the sanitizer build checks leaks of the same demo run in
# the other e2e tests, so here it is switched off (the rest of ASan and UBSan stay on).
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"

strace -f -e trace=clone,clone3 -o "$tmp/t1.log" "$cli" run "$job" -o "$tmp/t1" --threads 1 --quiet ||
  { echo "FAIL: the demo run with --threads 1 failed"; exit 1; }
strace -f -e trace=clone,clone3 -o "$tmp/t2.log" "$cli" run "$job" -o "$tmp/t2" --threads 2 --quiet ||
  { echo "FAIL: the demo run with --threads 2 failed"; exit 1; }
n1=$(grep -c 'CLONE_THREAD' "$tmp/t1.log")
n2=$(grep -c 'CLONE_THREAD' "$tmp/t2.log")
[ "$n1" -eq 0 ] || fail "--threads 1 started $n1 threads: $(grep -m3 'CLONE_THREAD' "$tmp/t1.log" | tr '\n' ' ')"
[ "$n2" -gt 0 ] || fail "--threads 2 started no thread (the count is not working)"
n=0
for f in $(cd "$tmp/t1" && find . -name '*.tif' -o -name '*.csv' | sort); do
  n=$((n + 1))
  cmp -s "$tmp/t1/$f" "$tmp/t2/$f" || fail "$f differs between --threads 1 and 2"
done
[ "$n" -ge 10 ] || fail "only $n .tif/.csv outputs compared"
echo "threads started: $n1 with --threads 1, $n2 with --threads 2; $n files compared; $fails failed"
[ "$fails" -eq 0 ]
