#!/usr/bin/env python3
"""Check Markdown links: every relative ](target) in the given files must exist, and a #anchor
must match a heading of the target file. Usage: python3 docs/check_links.py README.md docs/*.md"""
import sys, re, os
bad = 0; n = 0
def anchors(path):
    out=set()
    for l in open(path, encoding='utf8'):
        if l.startswith('#'):
            h=l.lstrip('#').strip().lower()
            h=re.sub(r'[^\w\- ]', '', h).replace(' ', '-')
            out.add(h)
    return out
for f in sys.argv[1:]:
    text = open(f, encoding='utf8').read()
    text = re.sub(r'```.*?```', '', text, flags=re.S)
    for m in re.finditer(r'\]\(([^)\s]+)\)', text):
        t = m.group(1)
        if re.match(r'^[a-z]+:', t): continue
        n += 1
        path, _, frag = t.partition('#')
        full = os.path.normpath(os.path.join(os.path.dirname(f), path)) if path else f
        if not os.path.exists(full):
            print(f"{f}: missing {t}"); bad += 1; continue
        if frag and full.endswith('.md') and frag not in anchors(full):
            print(f"{f}: no anchor #{frag} in {full}"); bad += 1
print(f"{n} links checked, {bad} broken")
sys.exit(1 if bad else 0)
