#!/usr/bin/env bash
# The napari-hub install path, checked end to end (called by .ci/run after pytest).
#
# A hub user installs the wheel from PyPI into an environment that has napari, never this
# checkout. So: build the sdist, and the wheel from the sdist (python -m build; a file
# missing from the sdist fails here), run `twine check` on both, install the wheel into a
# fresh venv outside the source tree (its declared dependencies come from the package
# index by name, plus napari with a Qt binding, as napari's own install gives the user),
# then run hub_checks.py there, from a folder outside the tree, under a virtual X server.
#
# Usage: tests/hub/check_wheel.sh            (PYTHON=python3.11 to pick the interpreter;
#        KEEP=1 keeps the work folder and prints where it is)
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
python="${PYTHON:-python3}"
work="$(mktemp -d "${TMPDIR:-/tmp}/napari-mcsc-hub.XXXXXX")"
if [ "${KEEP:-0}" = 1 ]; then
  echo "hub check: work folder $work (kept)"
else
  # The venv holds several GB (torch); deleting it can take minutes on a busy disk, so it
  # is deleted in the background, detached, and nothing waits for it.
  cleanup() {
    if command -v setsid >/dev/null 2>&1; then
      setsid nohup rm -rf "$work" >/dev/null 2>&1 </dev/null &
    else
      rm -rf "$work"
    fi
  }
  trap cleanup EXIT
fi
started=$SECONDS
step() { echo "hub check [$((SECONDS - started)) s]: $*"; }

step "building the sdist, then the wheel from it"
"$python" -m build --outdir "$work/dist" "$root" >"$work/build.log" 2>&1 || {
  tail -n 40 "$work/build.log"
  echo "hub check: python -m build failed (log above); is 'build' installed (pip install build)?" >&2
  exit 1
}
sdist=("$work"/dist/*.tar.gz)
wheel=("$work"/dist/*.whl)
[ -f "${sdist[0]}" ] && [ -f "${wheel[0]}" ] || { echo "hub check: build made no sdist or no wheel" >&2; exit 1; }

step "twine check $(basename "${sdist[0]}") $(basename "${wheel[0]}")"
"$python" -m twine check --strict "${sdist[0]}" "${wheel[0]}"

step "installing the wheel into a fresh venv (dependencies by name from the index)"
"$python" -m venv "$work/venv"
venv_python="$work/venv/bin/python"
# The wheel with its declared dependencies; napari's Qt binding is the user's napari's.
{ "$venv_python" -m pip install --upgrade pip &&
  "$venv_python" -m pip install "${wheel[0]}[dicom]" "napari[pyqt6]"; } >"$work/install.log" 2>&1 || {
  grep -v '^WARNING: Location' "$work/install.log" | tail -n 40
  echo "hub check: installing the wheel into a fresh venv failed (pip's output above)" >&2
  exit 1
}

step "checks in the venv, from $work/outside"
mkdir -p "$work/outside"
cp "$root/tests/hub/hub_checks.py" "$work/outside/"
cd "$work/outside"
export HF_HUB_OFFLINE=1 NAPARI_MCSC_TORCH_THREADS=2 NAPARI_MCSC_SOURCE_TREE="$root" NAPARI_MCSC_WHEEL="${wheel[0]}"
unset PYTHONPATH VIRTUAL_ENV
if command -v xvfb-run >/dev/null 2>&1; then
  xvfb-run -a -s "-screen 0 1280x1024x24" "$venv_python" hub_checks.py
else
  echo "hub check: no xvfb-run here; running Qt offscreen instead"
  QT_QPA_PLATFORM=offscreen "$venv_python" hub_checks.py
fi
step "passed"
