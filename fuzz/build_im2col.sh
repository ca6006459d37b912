#!/usr/bin/env bash
# Build the im2col/col2im fuzzer with libFuzzer + ASan + UBSan and run it for a bounded time.
#   fuzz/build_im2col.sh [seconds=60] [target=im2col|dwconv|pooling|all]
# Binaries go to fuzz/bin/, the growing corpus to fuzz/out/<target>/ (seeds: fuzz/corpus/<target>/).
set -euo pipefail
SECONDS_TO_RUN="${1:-60}"
TARGET="${2:-im2col}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SRC="$ROOT/CSupport/src"
CC="${CC:-clang}"
CFLAGS=(-O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined
        -fno-sanitize-recover=undefined -D_GNU_SOURCE -I"$ROOT/CSupport/include" -I"$SRC"
        -Wno-pass-failed -fuse-ld=lld)
mkdir -p "$ROOT/fuzz/bin" "$ROOT/fuzz/out"

build_and_run() {
    local name="$1"; shift
    local bin="$ROOT/fuzz/bin/${name}_fuzz"
    "$CC" "${CFLAGS[@]}" "$ROOT/fuzz/${name}_fuzz.c" "$@" -lm -lpthread -o "$bin"
    mkdir -p "$ROOT/fuzz/out/$name" "$ROOT/fuzz/corpus/$name"
    echo "== $name: running for ${SECONDS_TO_RUN}s"
    "$bin" -max_total_time="$SECONDS_TO_RUN" -print_final_stats=1 -max_len=4096 \
        "$ROOT/fuzz/out/$name" "$ROOT/fuzz/corpus/$name"
}

case "$TARGET" in
im2col)  build_and_run im2col "$SRC/im2col.c" "$SRC/conv_ref.c" ;;
# dwconv uses the engine (thread pool, ISA dispatch): link the whole C target.
dwconv)  build_and_run dwconv "$SRC"/*.c ;;
# pooling dispatches through the CPU/engine ISA helpers: link the whole C target as well.
pooling) build_and_run pooling "$SRC"/*.c ;;
all)
    "$0" "$SECONDS_TO_RUN" im2col
    "$0" "$SECONDS_TO_RUN" dwconv
    "$0" "$SECONDS_TO_RUN" pooling ;;
*) echo "unknown target $TARGET" >&2; exit 2 ;;
esac
