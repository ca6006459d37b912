#!/usr/bin/env bash
# The layering rules, checked on the sources and on Package.swift (scripts/test.sh counts this as
# one check). From the bottom: SegaEngine (+ CSupport) < SegaModels < SegaAttack; SegaIO beside
# them; SegaRuntime over those; SegaCLI (+ the `sega` executable) and SegaCAPI over SegaRuntime.
#   - the engine imports none of SegaModels, SegaAttack, SegaIO, SegaRuntime (nor anything above);
#   - the models import neither SegaAttack nor anything above it;
#   - nothing below the CLI (engine, models, attack, IO, runtime, C API) prints (print, debugPrint,
#     dump, FileHandle.standardError, fputs/fprintf, write(2, ...)) or imports ArgumentParser;
#   - the C API neither imports SegaCLI nor depends on it in Package.swift, and in Package.swift no
#     target below the CLI depends on ArgumentParser or on a layer above it.
# Prints one line per violation and "layers: ok" or "layers: N violation(s)"; exits non-zero on any.
set -uo pipefail
cd "$(dirname "$0")/.."
violations=0
fail() { echo "layers: $*"; violations=$((violations + 1)); }

# Source lines without // comments (so prose that names print( does not count).
code() { sed -E 's#//.*$##' "$1"; }

# imports TARGET FORBIDDEN...: no file of Sources/TARGET imports a forbidden module.
imports() {
  local target=$1; shift
  local f m
  for f in $(find "Sources/$target" -name '*.swift'); do
    for m in "$@"; do
      if code "$f" | grep -qE "^[[:space:]]*(@[_a-zA-Z]+[[:space:]]+)*import[[:space:]]+$m\b"; then
        fail "$f imports $m ($target must not depend on $m)"
      fi
    done
  done
}
imports SegaEngine SegaModels SegaAttack SegaIO SegaRuntime SegaCLI SegaCAPI ArgumentParser
imports SegaModels SegaAttack SegaIO SegaRuntime SegaCLI SegaCAPI ArgumentParser
imports SegaAttack SegaIO SegaRuntime SegaCLI SegaCAPI ArgumentParser
imports SegaIO SegaEngine SegaModels SegaAttack SegaRuntime SegaCLI SegaCAPI ArgumentParser
imports SegaRuntime SegaCLI SegaCAPI ArgumentParser
imports SegaCAPI SegaCLI ArgumentParser

# Nothing below the CLI writes to stdout or stderr.
output='(^|[^A-Za-z0-9_.])(print|debugPrint|dump|fputs|fprintf|printf|puts)\(|FileHandle\.standard(Error|Output)|[^A-Za-z0-9_.]write\((1|2|STDOUT_FILENO|STDERR_FILENO),'
for target in SegaEngine SegaModels SegaAttack SegaIO SegaRuntime SegaCAPI; do
  for f in $(find "Sources/$target" -name '*.swift'); do
    while IFS= read -r hit; do
      fail "$f:${hit%%:*}: output below the CLI: ${hit#*:}"
    done < <(code "$f" | grep -nE "$output")
  done
done

# Package.swift: each target's dependencies (swift package dump-package), checked the same way.
manifest=$(swift package dump-package 2>/dev/null) || { fail "swift package dump-package failed"; manifest='{"targets":[]}'; }
while IFS= read -r line; do [ -n "$line" ] && fail "$line"; done < <(python3 - "$manifest" <<'PY'
import json, sys
m = json.loads(sys.argv[1])
deps = {}
for t in m["targets"]:
    names = set()
    for d in t.get("dependencies", []):
        for kind in ("byName", "target", "product"):
            if kind in d:
                names.add(d[kind][0])
    deps[t["name"]] = names
above = {
    "SegaEngine": {"SegaModels", "SegaAttack", "SegaIO", "SegaRuntime", "SegaCLI", "SegaCAPI", "ArgumentParser"},
    "SegaModels": {"SegaAttack", "SegaIO", "SegaRuntime", "SegaCLI", "SegaCAPI", "ArgumentParser"},
    "SegaAttack": {"SegaIO", "SegaRuntime", "SegaCLI", "SegaCAPI", "ArgumentParser"},
    "SegaIO": {"SegaEngine", "SegaModels", "SegaAttack", "SegaRuntime", "SegaCLI", "SegaCAPI", "ArgumentParser"},
    "SegaRuntime": {"SegaCLI", "SegaCAPI", "ArgumentParser"},
    "SegaCAPI": {"SegaCLI", "ArgumentParser"},
}
for target, banned in above.items():
    if target not in deps:
        print(f"Package.swift has no target {target}")
        continue
    for d in sorted(deps[target] & banned):
        print(f"Package.swift: {target} depends on {d}")
PY
)

if [ "$violations" -eq 0 ]; then echo "layers: ok"; else echo "layers: $violations violation(s)"; fi
[ "$violations" -eq 0 ]
