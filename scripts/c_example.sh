#!/usr/bin/env bash
# The C example as a C user builds it: scripts/install.sh into a scratch prefix, then
# examples/c/score_and_attack.c compiled and linked by plain cc (no swiftc) through pkg-config:
#   static       cc prog.c $(pkg-config --cflags --libs sega-static)   libsega.a + the Swift runtime's archives
#   shared       cc prog.c $(pkg-config --cflags --libs sega)          libsega.so (the Swift runtime inside)
#   static-only  cc prog.c $(pkg-config --cflags --static --libs sega) in a prefix installed with --no-shared
# and run on a sample image with two shipped models. One line per check, "c-example: NAME: ok" or
# "c-example: NAME: FAILED (why)" (scripts/test.sh counts them): each build links and runs; nothing
# needs a libswift*.so (ldd); libsega.so exports exactly the functions of sega.h; sega_version()
# equals `sega <pkg-config --modversion sega>`; the three programs print the same and write the same
# PNG bytes. Prints the sizes. Exits non-zero if a check failed.
#   scripts/c_example.sh [SOURCE TARGET IMAGE]
set -uo pipefail
cd "$(dirname "$0")/.."
CC=${CC:-cc}
work=.build/c-example
rm -rf "$work"; mkdir -p "$work"
src=${1:-weights/linearityiqa_lite0.safetensors}
tgt=${2:-weights/dbcnn_lite0.safetensors}
img=${3:-$(ls weights/samples/*.png | head -n 1)}
failures=0
ok() { echo "c-example: $1: ok"; }
bad() { echo "c-example: $1: FAILED ($2)"; failures=$((failures + 1)); }
size() { du -b "$1" | cut -f1 | awk '{ if ($1 < 1e6) printf "%.1f kB", $1 / 1e3; else printf "%.1f MB", $1 / 1e6 }'; }

full="$(pwd)/$work/prefix"; lean="$(pwd)/$work/prefix-static"
if ./scripts/install.sh --prefix "$full" > "$work/install.log" 2>&1 &&
   ./scripts/install.sh --prefix "$lean" --no-shared >> "$work/install.log" 2>&1; then
  ok "install"
else
  bad "install" "scripts/install.sh failed"; tail -n 30 "$work/install.log"; exit 1
fi

# build NAME PKGCONFIG_DIR FLAGS...: compile and link with plain cc, run, check the dependencies.
build() {
  local name=$1 dir=$2; shift 2
  local exe="$work/score_and_attack_$name" flags
  flags=$(PKG_CONFIG_PATH="$dir" pkg-config "$@") || { bad "$name" "pkg-config $* failed"; return; }
  # shellcheck disable=SC2086  # pkg-config output is a word list
  if ! "$CC" -O2 -Wall -Wextra -Werror examples/c/score_and_attack.c $flags -Wl,-rpath,"${dir%/pkgconfig}" \
       -o "$exe" > "$work/$name.build.log" 2>&1; then
    bad "$name" "$CC examples/c/score_and_attack.c $flags: $(head -c 600 "$work/$name.build.log")"; return
  fi
  if ldd "$exe" | grep -q 'libswift'; then bad "$name" "needs a Swift runtime library: $(ldd "$exe" | grep libswift)"; return; fi
  if ! "$exe" "$src" "$tgt" "$img" "$work/attacked_$name.png" > "$work/$name.out" 2> "$work/$name.err"; then
    bad "$name" "the program failed: $(cat "$work/$name.err")"; return
  fi
  ok "$name ($CC, pkg-config $*; $(size "$exe"))"
}
build static "$full/lib/pkgconfig" --cflags --libs sega-static
build shared "$full/lib/pkgconfig" --cflags --libs sega
build static-only "$lean/lib/pkgconfig" --cflags --static --libs sega
readelf -d "$work/score_and_attack_static" | grep -q 'libsega' && bad "static" "the static program needs libsega.so"
readelf -d "$work/score_and_attack_shared" | grep -q 'NEEDED.*libsega\.so' || bad "shared" "the shared program does not load libsega.so"

so=$(readlink -f "$full/lib/libsega.so")
want=$(grep -E '^[A-Za-z_].*[ *]sega_[a-z0-9_]+\(' "$full/include/sega.h" | sed -E 's/.*[ *](sega_[a-z0-9_]+)\(.*/\1/' | sort)
# Global dynamic symbols only (upper-case nm types): gold keeps local entries in .dynsym too.
have=$(nm -D --defined-only "$so" | awk '$2 ~ /^[A-Z]$/ { print $3 }' | sort)
if [ -n "$want" ] && [ "$want" = "$have" ]; then ok "exports ($(echo "$want" | wc -l) functions of sega.h, nothing else)"
else bad "exports" "libsega.so exports [$(echo $have)], sega.h declares [$(echo $want)]"; fi

version="sega $(PKG_CONFIG_PATH="$full/lib/pkgconfig" pkg-config --modversion sega)"
if [ "$(head -n 1 "$work/shared.out" 2>/dev/null)" = "$version" ]; then ok "version ($version)"
else bad "version" "sega_version() printed '$(head -n 1 "$work/shared.out" 2>/dev/null)', pkg-config says '$version'"; fi

same=1
for v in shared static-only; do
  cmp -s "$work/static.out" "$work/$v.out" && cmp -s "$work/attacked_static.png" "$work/attacked_$v.png" || same=0
done
if [ "$same" -eq 1 ]; then ok "same results (static, shared, static-only)"; else bad "same results" "outputs differ"; fi

echo "c-example: libsega.a $(size "$full/lib/libsega.a"), libsega.so $(size "$so"); output of the shared build:"
sed 's/^/  /' "$work/shared.out"
[ "$failures" -eq 0 ]
