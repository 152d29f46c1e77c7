"""ptycho.atomic: atomic replace of a file, no temp file left behind, open()-like mode."""
import os
import stat

import pytest

from ptycho import atomic


class _WriterFailed(RuntimeError):
    pass


@pytest.fixture
def umask_027():
    old = os.umask(0o027)
    try:
        yield 0o027
    finally:
        os.umask(old)


def test_write_text_writes_the_content(tmp_path):
    path = tmp_path / "a.json"
    returned = atomic.write_text(path, "{\"k\": 1}\nsecond line é\n")
    assert returned == path
    assert path.read_bytes() == "{\"k\": 1}\nsecond line é\n".encode("utf-8")


def test_write_bytes_writes_the_content_and_replaces_an_old_file(tmp_path):
    path = tmp_path / "blob.bin"
    path.write_bytes(b"old content that is longer than the new one")
    atomic.write_bytes(path, b"\x00\x01new")
    assert path.read_bytes() == b"\x00\x01new"


def test_replacing_yields_a_temp_path_next_to_the_target_with_the_suffix(tmp_path):
    path = tmp_path / "model.keras"
    with atomic.replacing(path, suffix=".keras") as tmp:
        assert tmp.parent == path.parent
        assert tmp.name.endswith(".keras") and tmp != path
        assert not path.exists()
        tmp.write_bytes(b"payload")
    assert path.read_bytes() == b"payload"


def test_no_temp_file_is_left_on_success(tmp_path):
    atomic.write_text(tmp_path / "out.txt", "x")
    with atomic.replacing(tmp_path / "other.png", suffix=".png") as tmp:
        tmp.write_bytes(b"png")
    assert sorted(os.listdir(tmp_path)) == ["other.png", "out.txt"]


def test_no_temp_file_is_left_when_the_writer_raises(tmp_path):
    with pytest.raises(_WriterFailed):
        with atomic.replacing(tmp_path / "out.npz", suffix=".npz") as tmp:
            tmp.write_bytes(b"PK partial")
            raise _WriterFailed("disk full")
    assert os.listdir(tmp_path) == []


def test_old_file_is_intact_when_the_writer_raises(tmp_path):
    path = tmp_path / "data.npz"
    path.write_bytes(b"the previous, complete file")
    with pytest.raises(_WriterFailed):
        with atomic.replacing(path, suffix=".npz") as tmp:
            tmp.write_bytes(b"half")
            raise _WriterFailed("interrupted")
    assert path.read_bytes() == b"the previous, complete file"
    assert os.listdir(tmp_path) == ["data.npz"]


def test_missing_parent_folders_are_created(tmp_path):
    path = tmp_path / "a" / "b" / "c" / "history.json"
    atomic.write_text(path, "{}\n")
    assert path.read_text() == "{}\n"
    assert os.listdir(path.parent) == ["history.json"]


def test_file_mode_equals_what_open_gives_under_the_umask(tmp_path, umask_027):
    reference = tmp_path / "reference.txt"
    with open(reference, "w") as fh:
        fh.write("x")
    expected = stat.S_IMODE(reference.stat().st_mode)
    assert expected == 0o640  # 0o666 minus the umask 0o027

    written = atomic.write_text(tmp_path / "written.txt", "x")
    assert stat.S_IMODE(written.stat().st_mode) == expected
    with atomic.replacing(tmp_path / "model.keras", suffix=".keras") as tmp:
        tmp.write_bytes(b"k")
    assert stat.S_IMODE((tmp_path / "model.keras").stat().st_mode) == expected


def test_file_mode_does_not_inherit_the_old_file_mode(tmp_path, umask_027):
    path = tmp_path / "data.bin"
    path.write_bytes(b"old")
    os.chmod(path, 0o600)
    atomic.write_bytes(path, b"new")
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
