#!/usr/bin/env bash
# Mutation testing of the sans-IO codecs: which changes to the code do the
# tests not notice? Every surviving mutant must be listed in MUTANTS.md with
# the reason it is equivalent (or be killed by a new test). Not part of
# .ci/run: a file takes from half a minute to ten (about 2 s a mutant, 30 s
# for one that hangs), the whole list about an hour on a busy machine.
#
#   cargo install --locked cargo-mutants        # once (tested with 27.1.0)
#   bash benches/mutants.sh                     # every file below, in order
#   bash benches/mutants.sh http/src/h1/chunked.rs ws/src/frame.rs
#   bash benches/mutants.sh --compare FILE...   # only compare the last results
#
# The sources are copied (no target/) to $MUTANTS_DIR/tree and mutated
# in place there, so its target directory stays warm from one file to the
# next and the worktree is never touched. Results of each file land in
# $MUTANTS_DIR/out/<file>/mutants.out (caught.txt, missed.txt, unviable.txt,
# timeout.txt). After each file the script prints its counts and compares
# the survivors (missed.txt) with the file's section of MUTANTS.md: a `>`
# line is a new survivor (add a test that kills it, or list it with its
# reason), a `<` line is listed but no longer survives (remove it). Mutants
# are named without line numbers, so edits elsewhere do not disturb the list.
#
# Mutants run one at a time (--in-place allows no more). Environment:
# MUTANTS_DIR (default /tmp/percore-mutants), TIMEOUT (seconds per test
# run, 30), NICE (15). Keep TIMEOUT at 30 for the WebSocket files: their
# conformance test alone took more than 12 s on a loaded machine, so a
# shorter one fails the baseline.
set -euo pipefail

# file, package, the cargo arguments that pick the tests each mutant runs
# (given to the build too, so nothing else is built).
FILES=(
  "http/src/h1/chunked.rs percore-http --lib"
  "http/src/h2/hpack/decoder.rs percore-http --lib"
  "http/src/h2/frame/decode.rs percore-http --lib"
  "ws/src/frame.rs percore-ws --lib"
  "http/src/h1/parse.rs percore-http --lib"
  "http/src/h1/body.rs percore-http --lib"
  "http/src/h1/trailers.rs percore-http --lib"
  "http/src/h1/fields.rs percore-http --lib"
  "http/src/h1/target.rs percore-http --lib"
  "http/src/h1/encode.rs percore-http --lib"
  "http/src/h2/hpack/encoder.rs percore-http --lib"
  "http/src/h2/hpack/huffman.rs percore-http --lib"
  "http/src/h2/hpack/primitive.rs percore-http --lib"
  "http/src/h2/hpack/table.rs percore-http --lib"
  "http/src/h2/frame/encode.rs percore-http --lib"
  "http/src/h2/frame/header.rs percore-http --lib"
  "http/src/h2/frame/settings.rs percore-http --lib"
  "http/src/h2/frame/mod.rs percore-http --lib"
  "http/src/h2/hpack/error.rs percore-http --lib"
  "http/src/h2/hpack/mod.rs percore-http --lib"
  "ws/src/codec.rs percore-ws --lib --test=conformance"
  "ws/src/codec/decode.rs percore-ws --lib --test=conformance"
  "ws/src/codec/encode.rs percore-ws --lib --test=conformance"
  "ws/src/deflate/mod.rs percore-ws --lib --test=conformance"
  "ws/src/deflate/negotiation.rs percore-ws --lib --test=conformance"
  "http/src/h1/date.rs percore-http --lib"
  "http/src/h1/status.rs percore-http --lib"
  "http/src/h1/error.rs percore-http --lib"
  "ws/src/mask.rs percore-ws --lib --test=conformance"
  "ws/src/utf8.rs percore-ws --lib --test=conformance"
  "ws/src/message.rs percore-ws --lib --test=conformance"
  "ws/src/handshake.rs percore-ws --lib"
  "redis/src/resp.rs percore-redis --lib"
  # The HTTP/2 connection core (role.rs has no code to mutate).
  "http/src/h2/conn/flow_control.rs percore-http --lib"
  "http/src/h2/conn/counts.rs percore-http --lib"
  "http/src/h2/conn/stream.rs percore-http --lib"
  "http/src/h2/conn/fields.rs percore-http --lib"
  "http/src/h2/conn/request.rs percore-http --lib"
  "http/src/h2/conn/response.rs percore-http --lib"
  "http/src/h2/conn/mod.rs percore-http --lib"
  "http/src/h2/conn/recv.rs percore-http --lib"
  "http/src/h2/conn/send.rs percore-http --lib"
  "http/src/h2/conn/server.rs percore-http --lib"
  "http/src/h2/conn/client.rs percore-http --lib"
  "http/src/h2/conn/request_encode.rs percore-http --lib"
  # The client's sans-IO codec: request heads, response heads and bodies,
  # content decoding.
  "http/src/h1/request_encode.rs percore-http --lib"
  "http/src/h1/response.rs percore-http --lib"
  "client/src/decode.rs percore-client --lib"
)

root=$(cd "$(dirname "$0")/.." && pwd)
dir=${MUTANTS_DIR:-/tmp/percore-mutants}
timeout=${TIMEOUT:-30}
niceness=${NICE:-15}
survivors="$root/MUTANTS.md"

# The survivors MUTANTS.md lists for FILE: the backquoted text of each
# `- ` line in the section headed `## FILE`.
listed() {
  awk -v want="## $1" '
    /^## / { inside = ($0 == want); next }
    inside && /^- `/ { split($0, p, "`"); print p[2] }
  ' "$survivors"
}

compare() {
  local file=$1 out="$dir/out/${1//\//_}/mutants.out"
  if [[ ! -f $out/missed.txt ]]; then
    echo "$file: not yet run (no $out)"
    return 1
  fi
  local n
  count() { grep -c "^$file:" "$out/$1.txt" || true; }
  n=$(($(count caught) + $(count missed) + $(count unviable) + $(count timeout)))
  echo "$file: $n mutants, $(count caught) caught, $(count unviable) unviable," \
    "$(count missed) missed, $(count timeout) timeouts"
  if [[ $n == 0 ]]; then
    echo "  no outcomes: the run did not get past its baseline"
    return 1
  fi
  if [[ $(count timeout) != 0 ]]; then
    sed "s|^|  timeout: |" "$out/timeout.txt"
  fi
  # missed.txt names mutants with line and column: drop them.
  if diff <(listed "$file" | sort) \
    <(sed -En "s/^$(sed 's/[./]/\\&/g' <<<"$file")(:[0-9]+:[0-9]+)?: //p" "$out/missed.txt" | sort); then
    echo "  survivors match MUTANTS.md"
  else
    echo "  survivors differ from MUTANTS.md (< listed only, > survived only)"
    return 1
  fi
}

run() {
  local file=$1 package=$2
  shift 2
  mkdir -p "$dir/tree" "$dir/out"
  # A fresh copy of the sources; the copy's target/ is kept. The files get
  # the current time (-m): cargo-mutants restores each file it mutated with
  # a newer time than the original's, and an older time here would make cargo
  # take the last mutant's build for fresh.
  find "$dir/tree" -mindepth 1 -maxdepth 1 ! -name target -exec rm -rf {} +
  tar -C "$root" --exclude=./target --exclude=./fuzz/target --exclude=./.git \
    --exclude=node_modules --exclude=./benches/peers/target -cf - . |
    tar -C "$dir/tree" -m -xf -
  (cd "$dir/tree" && nice -n "$niceness" cargo mutants --in-place --line-col=false \
    --package "$package" --file "$file" --timeout "$timeout" \
    --output "$dir/out/${file//\//_}" "${@/#/--cargo-arg=}") || true
}

only_compare=false
if [[ ${1:-} == --compare ]]; then
  only_compare=true
  shift
fi
status=0
for entry in "${FILES[@]}"; do
  read -r file package args <<<"$entry"
  if [[ $# -gt 0 && ! " $* " =~ " $file " ]]; then
    continue
  fi
  # shellcheck disable=SC2086 # the test arguments are words
  $only_compare || run "$file" "$package" $args
  compare "$file" || status=1
done
exit $status
