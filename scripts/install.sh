#!/usr/bin/env bash
# Builds sega's C library (release) and installs it for C and C++ programs:
#   PREFIX/include/sega.h
#   PREFIX/lib/libsega.a                 the C API and the engine; the Swift runtime is not inside
#                                        (its static archives are in the link flags of the .pc files)
#   PREFIX/lib/libsega.so.X.Y.Z          the same with the Swift runtime linked in: needs only libc,
#     libsega.so.X.Y -> libsega.so.X.Y.Z   libm, libstdc++, libgcc_s, libpng and libjpeg; exports
#     libsega.so -> libsega.so.X.Y         the functions of sega.h and nothing else
#   PREFIX/lib/pkgconfig/sega.pc         cc prog.c $(pkg-config --cflags --libs sega)        (shared)
#                                        --static adds the Swift runtime (for a prefix without the .so)
#   PREFIX/lib/pkgconfig/sega-static.pc  cc prog.c $(pkg-config --cflags --libs sega-static) (static)
# The static link needs this Swift toolchain's static runtime (lib/swift_static) when the program is
# linked, not when it runs; the shared library needs no toolchain at all. docs/install.md explains.
#
#   scripts/install.sh [--prefix DIR] [--no-shared] [--no-strip]
#     --prefix DIR  where to install (default /usr/local); DESTDIR=/stage installs into
#                   /stage/DIR while the .pc files still name DIR (for packagers)
#     --no-shared   install libsega.a only (then `pkg-config --static --libs sega` links it)
#     --no-strip    keep the debug information (libsega.a 9.8 MB instead of 3.4 MB)
set -euo pipefail
cd "$(dirname "$0")/.."
prefix=/usr/local; shared=1; strip=1
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) [ $# -ge 2 ] || { echo "install: --prefix needs a directory" >&2; exit 2; }; prefix=$2; shift 2 ;;
    --prefix=*) prefix=${1#--prefix=}; shift ;;
    --no-shared) shared=0; shift ;;
    --no-strip) strip=0; shift ;;
    -h|--help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
case "$prefix" in /*) ;; *) prefix="$(pwd)/$prefix" ;; esac
CC=${CC:-cc}
command -v swiftc >/dev/null || { echo "install: swiftc not found on PATH (expected Swift 6.x)" >&2; exit 1; }

# The version: SegaVersion.number, the one constant (Sources/SegaRuntime/Version.swift).
version=$(sed -nE 's/^[[:space:]]*public static let number = "([0-9]+\.[0-9]+\.[0-9]+)".*/\1/p' Sources/SegaRuntime/Version.swift)
[ -n "$version" ] || { echo "install: no version in Sources/SegaRuntime/Version.swift" >&2; exit 1; }
abi=${version%.*}   # the soname carries MAJOR.MINOR: before 1.0 a minor release may change the ABI

swift build -c release --product sega-c
archive="$(swift build -c release --show-bin-path)/libsega-c.a"

# The Swift runtime's static archives: where this toolchain keeps them, and the libraries the
# archive's Swift modules ask for (swift-autolink-extract) plus what -static-stdlib adds.
toolbin=$(dirname "$(command -v swiftc)")
resource=$(swiftc -print-target-info | sed -nE 's/.*"runtimeResourcePath": "(.*)".*/\1/p' | head -n 1)
swift_static="${resource%/swift}/swift_static/linux"
swiftrt="$swift_static/$(uname -m)/swiftrt.o"
[ -f "$swiftrt" ] && [ -f "$swift_static/libswiftCore.a" ] ||
  { echo "install: no static Swift runtime under $swift_static" >&2; exit 1; }
runtime_libs=$( { "$toolbin/swift-autolink-extract" "$archive" -o -
                  grep -E '^-l' "$swift_static/static-stdlib-args.lnk"; } | tr '\n' ' ')
runtime_libs=${runtime_libs% }
system_libs="-lpng -ljpeg"

stage=.build/install
rm -rf "$stage"; mkdir -p "$stage/include" "$stage/lib/pkgconfig"
cp Sources/CSegaAPI/include/sega.h "$stage/include/sega.h"
cp "$archive" "$stage/lib/libsega.a"
if [ "$strip" -eq 1 ]; then strip --strip-debug "$stage/lib/libsega.a"; fi

if [ "$shared" -eq 1 ]; then
  # Export exactly the functions sega.h declares; the engine's and the runtime's symbols stay local.
  { echo "{ global:"
    grep -E '^[A-Za-z_].*[ *]sega_[a-z0-9_]+\(' Sources/CSegaAPI/include/sega.h |
      sed -E 's/.*[ *](sega_[a-z0-9_]+)\(.*/  \1;/'
    echo "  local: *; };"; } > "$stage/exports.map"
  so="libsega.so.$version"
  # shellcheck disable=SC2086  # the library lists are word lists
  "$CC" -shared -o "$stage/lib/$so" -Wl,-soname,"libsega.so.$abi" \
    -Wl,--whole-archive "$stage/lib/libsega.a" -Wl,--no-whole-archive \
    "$swiftrt" -L"$swift_static" $runtime_libs -Wl,--as-needed $system_libs -Wl,--no-as-needed \
    -Wl,--version-script="$stage/exports.map" -Wl,--gc-sections -Wl,-z,defs
  rm "$stage/exports.map"
  if [ "$strip" -eq 1 ]; then strip --strip-unneeded "$stage/lib/$so"; fi
  ln -s "$so" "$stage/lib/libsega.so.$abi"
  ln -s "libsega.so.$abi" "$stage/lib/libsega.so"
fi

pc_head() {
  cat <<EOF
prefix=$prefix
exec_prefix=\${prefix}
libdir=\${exec_prefix}/lib
includedir=\${prefix}/include
swift_static=$swift_static

EOF
}
{ pc_head
  echo "Name: sega"
  echo "Description: SEGA transferable black-box attacks on NR-IQA models, C API (libsega)"
  echo "Version: $version"
  echo "Cflags: -I\${includedir}"
  echo "Libs: -L\${libdir} -lsega"
  echo "Libs.private: \${swift_static}/$(uname -m)/swiftrt.o -L\${swift_static} $runtime_libs $system_libs"
} > "$stage/lib/pkgconfig/sega.pc"
{ pc_head
  echo "Name: sega-static"
  echo "Description: SEGA C API, static: libsega.a and the Swift runtime's static libraries"
  echo "Version: $version"
  echo "Cflags: -I\${includedir}"
  echo "Libs: \${libdir}/libsega.a \${swift_static}/$(uname -m)/swiftrt.o -L\${swift_static} $runtime_libs $system_libs"
} > "$stage/lib/pkgconfig/sega-static.pc"

dest="${DESTDIR:-}$prefix"
mkdir -p "$dest/include" "$dest/lib/pkgconfig"
install -m 644 "$stage/include/sega.h" "$dest/include/sega.h"
install -m 644 "$stage/lib/libsega.a" "$dest/lib/libsega.a"
install -m 644 "$stage/lib/pkgconfig/sega.pc" "$stage/lib/pkgconfig/sega-static.pc" "$dest/lib/pkgconfig/"
if [ "$shared" -eq 1 ]; then
  install -m 755 "$stage/lib/libsega.so.$version" "$dest/lib/"
  ln -sfn "libsega.so.$version" "$dest/lib/libsega.so.$abi"
  ln -sfn "libsega.so.$abi" "$dest/lib/libsega.so"
else
  rm -f "$dest/lib/libsega.so" "$dest/lib/libsega.so.$abi" "$dest/lib/libsega.so.$version"
fi
echo "install: sega $version in $dest:" >&2
(cd "$dest" && ls -l include/sega.h lib/libsega.* lib/pkgconfig/sega*.pc) | sed 's/^/  /' >&2
