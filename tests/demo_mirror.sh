# demo_mirror.sh (sourced by the e2e_*.sh tests): demo_mirror SRC TMP makes the demo job in a
# mirror of the source tree under TMP (every top-level entry linked), so that its relative paths
# (../../rasters, protected.geojson, ...) resolve whatever the job names; the job writes no
# ledger and has no output folder of its own. Sets $job to the job file's path.
demo_mirror() {
  local src=$1 tmp=$2 e
  mkdir -p "$tmp/examples/nanchong-demo"
  for e in "$src"/*; do [ "$(basename "$e")" = examples ] || ln -s "$e" "$tmp/"; done
  for e in "$src"/examples/nanchong-demo/*; do ln -s "$e" "$tmp/examples/nanchong-demo/"; done
  rm "$tmp/examples/nanchong-demo/job.ini"
  grep -v '^output =' "$src/examples/nanchong-demo/job.ini" > "$tmp/examples/nanchong-demo/job.ini"
  printf '\n[ledger]\npath = none\n' >> "$tmp/examples/nanchong-demo/job.ini"
  job="$tmp/examples/nanchong-demo/job.ini"
}
