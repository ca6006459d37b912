"""Licences of the dataset's photos, read from where they were installed from.

    python3 weights/dataset/licences.py        # one line per photo

Debian photos: the package's machine-readable copyright file (/usr/share/doc/PKG/copyright), the
paragraph whose Files list holds the photo's file name (Copyright and License fields). The
scikit-image photos: the statements in scikit-image's own data docstrings (skimage/data/
_fetchers.py), restated here, and the package's licence (BSD-3-Clause, its LICENSE.txt).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# scikit-image's data docstrings (0.26): what each says about the photo's rights.
SKIMAGE = {
    "astronaut.png": ("NASA (Great Images database)", "public domain (\"no known copyright restrictions\")"),
    "chelsea.png": ("Stefan van der Walt", "CC0"),
    "coffee.png": ("Rachel Michetti", "CC0"),
    "rocket.jpg": ("SpaceX", "public domain"),
    "motorcycle_left.png": ("Middlebury 2014 stereo benchmark (Scharstein et al.)",
                            "no licence stated; distributed in scikit-image (BSD-3-Clause)"),
}


def debian_paragraphs(path):
    """The paragraphs of a Debian copyright file as {field: value} (continuation lines joined)."""
    paras, cur, key = [], {}, None
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line.strip():
                if cur:
                    paras.append(cur)
                cur, key = {}, None
            elif line[0] in " \t" and key:
                cur[key] += "\n" + line.strip()
            elif ":" in line:
                key, v = line.split(":", 1)
                cur[key] = v.strip()
    if cur:
        paras.append(cur)
    return paras


def photo_licence(pkg, path):
    """(copyright holder, licence, where it was read) of one photo of build.PHOTOS."""
    name = os.path.basename(path)
    if pkg == "scikit-image":
        holder, lic = SKIMAGE[name]
        return holder, lic, "skimage/data/_fetchers.py"
    src = f"/usr/share/doc/{pkg}/copyright"
    for p in debian_paragraphs(src):
        if any(os.path.basename(f) == name for f in p.get("Files", "").split()):
            return p.get("Copyright", "?").split("\n")[0].rstrip("´"), p.get("License", "?").split("\n")[0], src
    return "?", "?", src


def photo_licences():
    """[(photo id, package, holder, licence, source)] for every photo of the dataset."""
    from build import PHOTOS
    return [(pid, pkg, *photo_licence(pkg, path)) for pid, pkg, path in PHOTOS]


if __name__ == "__main__":
    for row in photo_licences():
        print("\t".join(row))
