"""Hostile paths in folders and tables: each costs one printable line naming the entry, and the rest of the
folder or table goes on. Every hostile input is built here, under tmp_path."""

from __future__ import annotations

import io
import json
import os
import time

import pyarrow as pa
import pytest
from click.testing import CliRunner
from PIL import Image

from negate_sdk.api import partition_readable
from negate_sdk.cli.bench import build_cli as bench_cli
from negate_sdk.cli.negate import build_cli as negate_cli
from negate_sdk.imaging import ImageError
from negate_sdk.manifests import load_folder, load_table, resolve_dataset, validate_manifest
from negate_sdk.manifests.paths import os_limits
from negate_sdk.safetext import path_text, printable

LATIN1 = b"caf\xe9.jpg"  # 'café.jpg' written in Latin-1: not UTF-8


def jpeg(seed: int) -> bytes:
    image = Image.new("RGB", (20, 20), ((seed * 37) % 256, (seed * 91) % 256, (seed * 53) % 256))
    image.putpixel((seed % 20, 3), (255, 255, 255))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def dev_like(root, n=6):
    """``root/real/*.jpg`` and ``root/synthetic/*.jpg``, like the dev folders, ``n`` distinct images each."""
    for label, folder in enumerate(("real", "synthetic")):
        (root / folder).mkdir(parents=True)
        for i in range(n):
            (root / folder / f"{i}.jpg").write_bytes(jpeg(100 * label + i))
    return root


def write_bytes_at(directory, name: bytes, data: bytes) -> None:
    with open(os.path.join(os.fsencode(directory), name), "wb") as handle:
        handle.write(data)


def is_clean_id(text: str) -> bool:
    text.encode("utf-8")  # raises on lone surrogates
    return text.isprintable()


# -- the printable helper ----------------------------------------------------------------------------


def test_printable_escapes_only_what_cannot_be_shown():
    assert printable("real/Würstchen 日本.jpg") == "real/Würstchen 日本.jpg"
    assert printable(os.fsdecode(b"caf\xe9.jpg")) == "caf\\xe9.jpg"
    assert printable("a\x00b\tc\nd\x1b[31m\x7f\x85") == "a\\x00b\\tc\\nd\\x1b[31m\\x7f\\u0085"
    assert printable("x\u2028y\u202ez") == "x\\u2028y\\u202ez"  # line separator, right-to-left override
    assert path_text(b"/data/caf\xe9.jpg") == "/data/caf\\xe9.jpg"
    cut = path_text("a" * 50 + "b" * 50, limit=21)  # the start and the (longer) end of a long path
    assert len(cut) == 21 and cut.startswith("aaa") and cut.endswith("b" * 10) and cut.count("…") == 1


# -- folders -----------------------------------------------------------------------------------------


def walk_reference(folder):
    """Image files under ``folder`` as the loader listed them before it skipped anything (os.walk)."""
    from negate_sdk.manifests.folder import IMAGE_SUFFIXES

    found = []
    for current, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [os.path.join(current, f) for f in sorted(files) if not f.startswith(".")]
    return [f for f in found if os.path.splitext(f)[1].lower() in IMAGE_SUFFIXES]


def test_ordinary_trees_list_in_the_same_order_as_before(tmp_path):
    from negate_sdk.manifests.folder import scan

    root = dev_like(tmp_path / "data")
    for relative in ("real/b/2.png", "real/a/z/1.jpg", "real/a/0.JPG", "real/.hidden/3.jpg", "real/A/4.jpg",
                     "real/.x.jpg", "real/a/notes.txt", "real/0b.jpeg"):  # fmt: skip
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes(jpeg(len(relative)))
    listing = scan(root / "real")
    assert listing.images == walk_reference(root / "real") and len(listing.images) == 11
    assert listing.others == [str(root / "real/a/notes.txt")] and listing.skipped == []


def test_latin1_file_name_is_kept_with_a_printable_stable_id(tmp_path):
    root = dev_like(tmp_path / "data")
    write_bytes_at(root / "real", LATIN1, jpeg(50))
    first, again = load_folder(root), load_folder(root)
    assert len(first) == 13 and first.header.skipped == {}
    row = next(r for r in first if "caf" in r.sample_id)
    assert row.sample_id == "real/caf\\xe9.jpg" and is_clean_id(row.sample_id)
    assert all(is_clean_id(r.sample_id) for r in first)
    # the locator still names the file: its bytes are read through the manifest
    assert first.to_sample(row).data == jpeg(50)
    assert first.content_hash == again.content_hash and len(first.content_hash) == 64
    pa.array([r.sample_id for r in first], type=pa.string())  # ids go into Parquet
    json.dumps([r.sample_id for r in first], ensure_ascii=False).encode("utf-8")


def test_control_characters_in_names_are_escaped_in_ids(tmp_path):
    root = dev_like(tmp_path / "data")
    (root / "real" / "new\nline\x1b[31m.jpg").write_bytes(jpeg(51))
    manifest = load_folder(root)
    ids = sorted(r.sample_id for r in manifest if r.sample_id.startswith("real/new"))
    assert ids == ["real/new\\nline\\x1b[31m.jpg"]


def test_fifo_devices_and_bad_links_are_skipped_with_counts_and_reasons(tmp_path):
    root = dev_like(tmp_path / "data")
    os.mkfifo(root / "real" / "pipe.jpg")
    os.symlink("/dev/null", root / "real" / "null.jpg")
    os.symlink("/dev/zero", root / "synthetic" / "zero.png")
    os.symlink("missing.jpg", root / "synthetic" / "dangling.jpg")
    os.symlink("loop.jpg", root / "synthetic" / "loop.jpg")
    os.mkfifo(root / "real" / "notes")  # no image extension: ignored as before, never opened
    start = time.perf_counter()
    manifest = load_folder(root)
    assert time.perf_counter() - start < 2.0  # a FIFO is never opened (opening one blocks)
    assert len(manifest) == 12
    assert manifest.header.skipped == {
        "not a regular file (FIFO)": {"count": 1, "examples": ["real/pipe.jpg"]},
        "not a regular file (character device)": {
            "count": 2,
            "examples": ["real/null.jpg", "synthetic/zero.png"],
        },
        "broken symbolic link": {"count": 1, "examples": ["synthetic/dangling.jpg"]},
        "symbolic link loop": {"count": 1, "examples": ["synthetic/loop.jpg"]},
    }
    assert manifest.header.warnings == (  # in the order the walk met them: real/null.jpg before pipe.jpg
        "ignored 1 file(s) without an image extension, e.g. real/notes",
        "skipped 2 entries (not a regular file (character device)), e.g. real/null.jpg, synthetic/zero.png",
        "skipped 1 entry (not a regular file (FIFO)), e.g. real/pipe.jpg",
        "skipped 1 entry (broken symbolic link), e.g. synthetic/dangling.jpg",
        "skipped 1 entry (symbolic link loop), e.g. synthetic/loop.jpg",
    )


def test_path_deeper_than_the_os_limit_is_skipped_and_named_briefly(tmp_path):
    root = dev_like(tmp_path / "data")
    path_max, _ = os_limits()
    fd = os.open(root / "real", os.O_RDONLY)
    try:  # built through directory descriptors: no single path here is over the limit
        for _ in range(path_max // 200 + 1):
            os.mkdir("d" * 200, dir_fd=fd)
            child = os.open("d" * 200, os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = child
        handle = os.open("deep.jpg", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
        os.write(handle, jpeg(52))
        os.close(handle)
    finally:
        os.close(fd)
    manifest = load_folder(root)
    assert len(manifest) == 12
    ((reason, entry),) = manifest.header.skipped.items()
    assert reason == f"the path is longer than the OS limit ({path_max - 1} bytes)" and entry["count"] == 1
    (example,) = entry["examples"]
    assert example.startswith("real/ddd") and "…" in example and len(example) <= 160


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a chmod 000 folder: nothing to refuse")
def test_unreadable_folder_is_skipped_and_the_rest_kept(tmp_path):
    root = dev_like(tmp_path / "data")
    locked = root / "real" / "locked"
    locked.mkdir()
    (locked / "x.jpg").write_bytes(jpeg(53))
    locked.chmod(0)
    try:
        manifest = load_folder(root)
    finally:
        locked.chmod(0o755)  # the user's folder is left as it was
    assert len(manifest) == 12
    assert manifest.header.skipped == {
        "cannot list the folder: Permission denied": {"count": 1, "examples": ["real/locked"]}
    }


def test_a_folder_the_os_refuses_to_list_is_skipped_even_as_root(tmp_path, monkeypatch):
    """The same outcome as chmod 000 for an unprivileged user, with the refusal made by os.scandir itself."""
    root = dev_like(tmp_path / "data")
    (root / "real" / "locked").mkdir()
    (root / "real" / "locked" / "x.jpg").write_bytes(jpeg(53))
    scandir = os.scandir

    def refusing(path):
        if os.fspath(path).endswith("locked"):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return scandir(path)

    monkeypatch.setattr(os, "scandir", refusing)
    manifest = load_folder(root)
    assert len(manifest) == 12
    assert manifest.header.skipped == {
        "cannot list the folder: Permission denied": {"count": 1, "examples": ["real/locked"]}
    }


# -- tables ------------------------------------------------------------------------------------------


def table_rows(root):
    return [("real/0.jpg", "real"), ("real/1.jpg", "real"), ("real/a\x00b.jpg", "real"),
            ("synthetic/0.jpg", "fake"), ("synthetic/1.jpg", "fake")]  # fmt: skip


def test_nul_byte_in_a_csv_path_marks_that_row_unreadable(tmp_path):
    root = dev_like(tmp_path / "data")
    lines = ["path,label", *(f"{p},{label}" for p, label in table_rows(root))]
    (root / "manifest.csv").write_text("\n".join(lines) + "\n")
    manifest = resolve_dataset(str(root))
    assert len(manifest) == 5
    assert manifest.header.warnings == (
        "1 row(s) name a file that cannot be opened (the path contains a NUL byte); they are kept and "
        "reported unreadable, e.g. row 4: real/a\\x00b.jpg",
    )
    samples = list(manifest.to_samples())
    readable, failures = partition_readable(samples)
    assert readable == [0, 1, 3, 4]
    assert failures == {2: f"cannot open {root}/real/a\\x00b.jpg: the path contains a NUL byte"}
    assert samples[2].id == "real/a\\x00b.jpg"
    with pytest.raises(ImageError):
        samples[2].sha256  # noqa: B018 - reading is what fails
    report = validate_manifest(manifest)
    (unreadable,) = [i for i in report.issues if i.code == "unreadable"]
    assert (unreadable.count, unreadable.examples) == (1, ["real/a\\x00b.jpg"])
    assert (report.files.checked, report.files.decoded, report.files.failed) == (5, 4, 1)


def test_nul_byte_in_a_parquet_path_marks_that_row_unreadable(tmp_path):
    import pandas as pd

    root = dev_like(tmp_path / "data")
    pd.DataFrame(table_rows(root), columns=["path", "label"]).to_parquet(root / "rows.parquet")
    manifest = load_table(root / "rows.parquet")
    readable, failures = partition_readable(list(manifest.to_samples()))
    assert readable == [0, 1, 3, 4] and list(failures) == [2]
    assert failures[2].endswith("/real/a\\x00b.jpg: the path contains a NUL byte")


def test_latin1_bytes_in_a_csv_still_name_the_file(tmp_path):
    root = dev_like(tmp_path / "data")
    write_bytes_at(root / "real", LATIN1, jpeg(54))
    (root / "manifest.csv").write_bytes(
        b"path,label,note\nreal/0.jpg,real,ok\nreal/" + LATIN1 + b",real,\xff\n"
    )
    manifest = resolve_dataset(str(root))
    assert [r.sample_id for r in manifest] == ["real/0.jpg", "real/caf\\xe9.jpg"]
    assert manifest.rows[1].attrs == {"note": "\\xff"}
    assert manifest.to_sample(manifest.rows[1]).data == jpeg(54)


def test_path_over_the_os_limit_in_a_table_is_one_short_line(tmp_path):
    root = dev_like(tmp_path / "data")
    _, name_max = os_limits()
    long_name = "x" * (name_max + 1) + ".jpg"
    (root / "manifest.csv").write_text(f"path,label\nreal/0.jpg,real\nreal/{long_name},real\n")
    manifest = resolve_dataset(str(root))
    _, failures = partition_readable(list(manifest.to_samples()))
    (reason,) = failures.values()
    assert reason.endswith(f"a name in the path is longer than the OS limit ({name_max} bytes)")
    assert len(reason) < 260 and "\n" not in reason


# -- the three commands on a hostile dev-like folder -------------------------------------------------


@pytest.fixture
def hostile(tmp_path):
    root = dev_like(tmp_path / "hostile")
    write_bytes_at(root / "real", LATIN1, jpeg(55))
    (root / "synthetic" / "tab\there.jpg").write_bytes(jpeg(56))
    os.mkfifo(root / "real" / "pipe.jpg")
    os.symlink("/dev/null", root / "synthetic" / "null.jpg")
    return root


def test_validate_reports_skipped_entries_and_keeps_the_rest(hostile):
    result = CliRunner().invoke(bench_cli(), ["validate", "--dataset", str(hostile), "--json"])
    assert result.exit_code == 0, result.output
    (entry,) = json.loads(result.stdout)
    assert entry["counts"]["rows"] == 14 and entry["files"]["decoded"] == 14
    assert entry["header"]["skipped"] == {
        "not a regular file (FIFO)": {"count": 1, "examples": ["real/pipe.jpg"]},
        "not a regular file (character device)": {"count": 1, "examples": ["synthetic/null.jpg"]},
    }
    text = CliRunner().invoke(bench_cli(), ["validate", "--dataset", str(hostile)]).stdout
    assert "skipped 1 entry (not a regular file (FIFO)), e.g. real/pipe.jpg" in text


def test_run_scores_the_hostile_folder_with_printable_ids(hostile, tmp_path):
    import pandas as pd

    out = tmp_path / "run"
    args = ["run", "--detector", "dummy", "--dataset", str(hostile), "--output", str(out), "--no-cache"]
    result = CliRunner().invoke(bench_cli(), [*args, "--json"])
    assert result.exit_code == 0, result.output
    ids = set(pd.read_parquet(out / "predictions.parquet")["sample_id"])
    everything = {r.sample_id for r in load_folder(hostile)}
    assert ids <= everything and len(everything) == 14 and all(is_clean_id(i) for i in everything)
    assert {"real/caf\\xe9.jpg", "synthetic/tab\\there.jpg"} <= everything


def test_train_on_the_hostile_folder(hostile, tmp_path):
    out = tmp_path / "model"
    args = ["train", "--extractors", "example_colour_moments", "--head", "logistic", "--dataset",
            str(hostile), "--out", str(out), "--no-cache", "--json"]  # fmt: skip
    result = CliRunner().invoke(negate_cli(), args)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["n_images"] == 14
