#!/usr/bin/env bash
# What a lent GPU machine needs beside the working tree, for issue 37's one command per dataset
# (docs/scale-out.md, "The paper's setting on one GPU"). The machine has Python 3.12 with torch,
# pandas, scipy, matplotlib, seaborn, tqdm and safetensors, and reaches no package registry.
#
#   scripts/gpu_payload.sh DATA_ROOT mnist [--notebook]
#
# .gpu-data/  the dataset's .gz files from DATA_ROOT, in torchvision's layout (MNIST/raw/...)
# .whl/       torchattacks (our attack registry imports it); with --notebook also papermill and a
#             Jupyter kernel with everything they need that the machine's image lacks
# Both folders are ignored by git; the device call names them in `carry`. The script checks that
# every requirement of a carried wheel is carried or in the image, and that the whole payload with
# the working tree stays under the 64 MiB a call carries.
set -euo pipefail

data_root=${1:?usage: scripts/gpu_payload.sh DATA_ROOT mnist|fashion_mnist [--notebook]}
dataset=${2:?usage: scripts/gpu_payload.sh DATA_ROOT mnist|fashion_mnist [--notebook]}
notebook=${3:-}
case $dataset in
    mnist) folder=MNIST ;;
    fashion_mnist) folder=FashionMNIST ;;
    *) echo "error: $dataset: only mnist and fashion_mnist travel as .gz files (CIFAR-10's JPEG copy is 236 MB)" >&2; exit 2 ;;
esac
[ -z "$notebook" ] || [ "$notebook" = --notebook ] || { echo "error: unknown option $notebook (only --notebook)" >&2; exit 2; }
ls "$data_root/$folder/raw/"*.gz > /dev/null 2>&1 || { echo "error: no .gz files under $data_root/$folder/raw/; point DATA_ROOT at the data folder" >&2; exit 2; }

data_root=$(cd "$data_root" && pwd)
cd "$(dirname "$0")/.."
staging=$(mktemp -d)  # built here; .gpu-data and .whl are replaced only once every check passed
trap 'rm -rf "$staging"' EXIT
mkdir -p "$staging/.gpu-data/$folder/raw" "$staging/.whl" "$staging/downloads"
cp "$data_root/$folder/raw/"*.gz "$staging/.gpu-data/$folder/raw/"
download() {
    python3 -m pip download -q --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        --platform manylinux1_x86_64 --platform manylinux_2_5_x86_64 -d "$staging/downloads" "$@" 2> "$staging/pip.log" ||
        { grep -v WARNING "$staging/pip.log" | tail -3 >&2; echo "error: pip could not download $*; this needs a package registry" >&2; exit 1; }
}
download --no-deps torchattacks==3.5.1  # its needs (torch, torchvision, scipy, requests) are the image's
[ -z "$notebook" ] || download papermill ipykernel

python3 - "$staging/downloads" "$staging/.whl" scripts/gpu_image_packages.txt <<'EOF'
import shutil, sys, zipfile
from email.parser import HeaderParser
from pathlib import Path
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename

staging, target = Path(sys.argv[1]), Path(sys.argv[2])
lines = Path(sys.argv[3]).read_text().splitlines()
image = {canonicalize_name(n) for n in lines if n and not n.startswith("#")}
env = {"python_version": "3.12", "python_full_version": "3.12.3", "sys_platform": "linux",
       "platform_system": "Linux", "os_name": "posix", "platform_machine": "x86_64",
       "implementation_name": "cpython", "platform_python_implementation": "CPython", "extra": ""}
carried = {}
for wheel in sorted(staging.glob("*.whl")):
    name = canonicalize_name(parse_wheel_filename(wheel.name)[0])
    if name not in image:
        carried[name] = wheel
for wheel in carried.values():
    shutil.copy(wheel, target)
missing = set()
for name, wheel in carried.items():
    if name == "torchattacks":
        continue  # downloaded and installed --no-deps
    with zipfile.ZipFile(wheel) as z:
        meta = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        headers = HeaderParser().parsestr(z.read(meta).decode())
    for line in headers.get_all("Requires-Dist") or []:
        req = Requirement(line)
        if (req.marker is None or req.marker.evaluate(env)) and canonicalize_name(req.name) not in carried | dict.fromkeys(image):
            missing.add(f"{req.name} (for {name})")
if missing:
    sys.exit("error: carried wheels need packages neither carried nor in the image: " + ", ".join(sorted(missing)))
print(f"{len(carried)} wheels for .whl: {', '.join(sorted(carried))}")
EOF

tree=$(git ls-files -z | xargs -0 du -cb | tail -1 | cut -f1)
untracked=$(git ls-files -z --others --exclude-standard | xargs -0 -r du -cb | tail -1 | cut -f1)
payload=$(du -cb "$staging/.gpu-data" "$staging/.whl" | tail -1 | cut -f1)
total=$(( tree + ${untracked:-0} + payload ))
echo "travels: $(( total / 1048576 )) MiB (working tree $(( (tree + ${untracked:-0}) / 1048576 )), payload $(( payload / 1048576 ))) of 64 MiB"
[ "$total" -le $(( 64 * 1048576 )) ] || { echo "error: over the 64 MiB a device call carries; leave out --notebook" >&2; exit 1; }
rm -rf .gpu-data .whl
mv "$staging/.gpu-data" "$staging/.whl" .
