"""atomic.py: saved files follow the umask, reach the disk before the rename, leave no litter."""

from __future__ import annotations

import os
import stat
import time

from cli_helpers import _labels, _model
from napari_mcsc.checkpoint import save_model
from napari_mcsc.io import write_volume


def test_saved_files_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        model = save_model(_model(), tmp_path / "m.pt")
        volume = write_volume(tmp_path / "v.nii.gz", _labels())
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(model).st_mode) == 0o644
    assert stat.S_IMODE(os.stat(volume).st_mode) == 0o644


def test_data_reaches_the_disk_before_the_rename(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (events.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(os, "replace", lambda a, b: (events.append("replace"), real_replace(a, b))[1])
    save_model(_model(), tmp_path / "m.pt")
    assert events[:2] == ["fsync", "replace"] and events.count("fsync") == 2  # file, folder
    events.clear()
    write_volume(tmp_path / "v.nii.gz", _labels())
    assert events[:2] == ["fsync", "replace"]


def test_left_over_temporary_files_are_cleaned_up(tmp_path):
    stale = tmp_path / ".m.pt.0123456789ab.tmp"
    fresh = tmp_path / ".m.pt.ba9876543210.tmp"
    other = tmp_path / ".n.pt.0123456789ab.tmp"
    stale_volume = tmp_path / ".v.0123456789ab.tmp.nii.gz"
    for path in (stale, fresh, other, stale_volume):
        path.write_bytes(b"half a model")
    hour_ago = time.time() - 3600
    for path in (stale, other, stale_volume):
        os.utime(path, (hour_ago, hour_ago))
    save_model(_model(), tmp_path / "m.pt")
    write_volume(tmp_path / "v.nii.gz", _labels())
    assert not stale.exists() and not stale_volume.exists()
    assert fresh.exists()  # maybe another process saving right now
    assert other.exists()  # the left-over of another file: its own next save cleans it
