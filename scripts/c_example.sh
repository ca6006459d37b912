#!/usr/bin/env bash
# Build libsega.a (SwiftPM static library product SegaStatic), link the C example against it with
# the Swift runtime linked statically, and run it on the sample image with two shipped models.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product SegaStatic >/dev/null
bin=$(swift build -c release --show-bin-path)
mkdir -p .build/c-example
cp "$bin/libSegaStatic.a" .build/c-example/libsega.a
clang -c -O2 -Wall -Wextra -Werror -I Sources/CSegaAPI/include examples/c/score_and_attack.c -o .build/c-example/score_and_attack.o
swiftc -static-stdlib .build/c-example/score_and_attack.o .build/c-example/libsega.a -lpng -ljpeg -lpthread -lm \
  -o .build/c-example/score_and_attack
echo "c-example: linked $(du -h .build/c-example/score_and_attack | cut -f1) executable; dynamic deps:"
ldd .build/c-example/score_and_attack | sed 's/^/  /'
src=${1:-weights/linearityiqa_lite0.safetensors}
tgt=${2:-weights/dbcnn_lite0.safetensors}
img=${3:-$(ls weights/samples/*.png | head -n 1)}
.build/c-example/score_and_attack "$src" "$tgt" "$img" .build/c-example/attacked.png
