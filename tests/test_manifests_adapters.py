"""Adapters on small datasets written in each dataset's real shape: hub Parquet layouts (OpenFake v2,
Defactify, WikiArt, a CIFAKE mirror), CIFAKE's Kaggle folders, local folders and tables, mirrors and the
Hugging Face cache. Everything is offline (HF_HUB_OFFLINE=1 is set by conftest)."""

from __future__ import annotations

import io
import pickle

import datasets
import pandas as pd
import pytest
from PIL import Image

import negate_sdk
from negate_sdk.manifests import DatasetUnavailableError, ManifestError, resolve_dataset
from negate_sdk.manifests.parquet_images import ParquetRowSample, clear_cache


def encoded(colour, fmt="PNG", size=16):
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), tuple(colour)).save(buffer, format=fmt, quality=90)
    return buffer.getvalue()


def colour(i):
    return (10 * i % 256, 255 - 7 * i % 256, 3 * i % 256)


def write_parquet(path, columns, features, row_group=2):
    """A Parquet file as `datasets` writes it (features in the schema metadata), in row groups of 2."""
    path.parent.mkdir(parents=True, exist_ok=True)
    datasets.Dataset.from_dict(columns, features=datasets.Features(features)).to_parquet(
        str(path), batch_size=row_group
    )


@pytest.fixture(autouse=True)
def fresh_reader():
    clear_cache()
    yield
    clear_cache()


# -- OpenFake v2 ---------------------------------------------------------------------------------------

OPENFAKE_FEATURES = {
    "image": datasets.Image(),
    **{name: datasets.Value("string") for name in ("prompt", "label", "model", "type", "release_date")},
}
OPENFAKE_ROWS = [  # label, model (free text), type, expected generator id
    ("real", "", "photo", "none"),
    ("fake", "dall-e-3", "proprietary", "dalle-3"),
    ("fake", "DALL·E 3", "proprietary", "dalle-3"),
    ("fake", "flux.1-dev", "open-source", "flux-1-dev"),
    ("real", "real", "photo", "none"),
    ("fake", "imagen-3.0", "proprietary", "imagen-3"),
    ("fake", "NewModel X2", "community", "newmodel-x2"),
]


def write_openfake(root, offset=0, rows=OPENFAKE_ROWS):
    cols = {k: [] for k in OPENFAKE_FEATURES}
    for i, (label, model, kind, _) in enumerate(rows):
        cols["image"].append({"bytes": encoded(colour(offset + i)), "path": None})
        cols["prompt"].append(f"a prompt {i}")
        cols["label"].append(label)
        cols["model"].append(model)
        cols["type"].append(kind)
        cols["release_date"].append("2024-01-0" + str(1 + i % 9))
    return cols


@pytest.fixture
def openfake_mirror(tmp_path, monkeypatch):
    root = tmp_path / "mirrors" / "openfake"
    write_parquet(root / "core" / "train-00000-of-00002.parquet", write_openfake(root, 0), OPENFAKE_FEATURES)
    write_parquet(
        root / "core" / "train-00001-of-00002.parquet",
        write_openfake(root, 7, OPENFAKE_ROWS[:3]),
        OPENFAKE_FEATURES,
    )
    write_parquet(
        root / "core" / "validation-00000-of-00001.parquet",
        write_openfake(root, 20, OPENFAKE_ROWS[:2]),
        OPENFAKE_FEATURES,
    )
    write_parquet(
        root / "core" / "test-00000-of-00001.parquet",
        write_openfake(root, 30, OPENFAKE_ROWS[:4]),
        OPENFAKE_FEATURES,
    )
    write_parquet(
        root / "reddit" / "test-00000-of-00001.parquet",
        write_openfake(root, 40, OPENFAKE_ROWS[1:3]),
        OPENFAKE_FEATURES,
    )
    monkeypatch.setenv("NEGATE_DATA_DIR", str(tmp_path / "mirrors"))
    return root


def test_openfake_rows_map_label_generator_and_attrs(openfake_mirror):
    m = negate_sdk.create_dataset("openfake")
    assert (
        m.header.origin == "mirror" and m.header.config == "core" and m.header.locator_scheme == "parquet-row"
    )
    assert m.splits() == {"test": 4, "train": 10, "validation": 2}
    train0 = [r for r in m.rows if r.locator.startswith("core/train-00000")]
    assert len(train0) == len(OPENFAKE_ROWS)
    for i, (row, (label, _, kind, generator)) in enumerate(zip(train0, OPENFAKE_ROWS)):
        assert row.locator == f"core/train-00000-of-00002.parquet#{i}"
        assert row.sample_id == f"openfake:{row.locator}"
        assert (row.label, row.generator_id, row.source, row.split) == (
            label == "fake",
            generator,
            "openfake-core",
            "train",
        )
        assert row.attrs == {"type": kind, "release_date": "2024-01-0" + str(1 + i % 9)}
    assert (
        m.header.generator_map["DALL·E 3"] == "dalle-3"
        and m.header.generator_map["NewModel X2"] == "newmodel-x2"
    )
    assert m.header.label_map == {"fake": 1, "real": 0}
    assert m.header.column_map["generator"] == "model"


def test_openfake_images_are_read_on_demand_across_row_groups(openfake_mirror):
    m = negate_sdk.create_dataset("openfake", split="train")
    assert m.header.split == "train"
    samples = list(m.to_samples())
    assert all(isinstance(s, ParquetRowSample) and s._data is None for s in samples)  # nothing read yet
    for i in (6, 0, 3, 8):  # rows in different row groups and files, out of order
        row = m.rows[i]
        offset = 0 if "00000" in row.locator else 7
        index = int(row.locator.rsplit("#", 1)[1])
        assert tuple(samples[i].pixels[0, 0]) == colour(offset + index)
        assert samples[i].label == row.label and samples[i].generator == row.generator_id
    moved = pickle.loads(pickle.dumps(samples[6]))
    assert moved._data is None and tuple(moved.pixels[5, 5]) == colour(6)
    samples[6].release()
    assert samples[6]._data is None and tuple(samples[6].pixels[0, 0]) == colour(6)


def test_openfake_reddit_config_and_errors(openfake_mirror):
    reddit = negate_sdk.create_dataset("openfake", config="reddit")
    assert reddit.splits() == {"test": 2} and {r.source for r in reddit} == {"openfake-reddit"}
    with pytest.raises(ManifestError, match="no config 'v3'"):
        negate_sdk.create_dataset("openfake", config="v3")
    with pytest.raises(ManifestError, match="no split 'dev'"):
        negate_sdk.create_dataset("openfake", split="dev")


def test_mirror_missing_a_split_says_which_files(openfake_mirror):
    (openfake_mirror / "core" / "validation-00000-of-00001.parquet").unlink()
    with pytest.raises(
        DatasetUnavailableError, match=r"no files for split\(s\) validation .*core/validation-\*\.parquet"
    ):
        negate_sdk.create_dataset("openfake")
    assert len(negate_sdk.create_dataset("openfake", split="test")) == 4


def test_mirror_revision_is_read_from_huggingface_hub_download_metadata(openfake_mirror):
    meta = openfake_mirror / ".cache" / "huggingface" / "download" / "core"
    meta.mkdir(parents=True)
    for name in ("test-00000-of-00001.parquet",):
        (meta / f"{name}.metadata").write_text("0123456789abcdef\netag\n1700000000.0\n")
    assert negate_sdk.create_dataset("openfake", split="test").header.revision == "0123456789abcdef"


def test_unmapped_label_value_is_one_line_error(tmp_path, monkeypatch):
    root = tmp_path / "openfake"
    cols = write_openfake(root, 0, [("real", "", "photo", "none"), ("maybe", "x", "t", "?")])
    for split in ("train", "validation", "test"):
        write_parquet(root / "core" / f"{split}-00000-of-00001.parquet", cols, OPENFAKE_FEATURES)
    with pytest.raises(
        ManifestError, match="label value\\(s\\) 'maybe' \\(3 rows\\) in column 'label'"
    ) as err:
        negate_sdk.create_dataset("openfake", data_dir=tmp_path)
    assert "\n" not in str(err.value)


def test_offline_without_mirror_says_where_to_put_files(tmp_path, monkeypatch):
    monkeypatch.setenv("NEGATE_DATA_DIR", str(tmp_path))
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(DatasetUnavailableError) as err:
        resolve_dataset("defactify")
    message = str(err.value)
    assert "\n" not in message and isinstance(err.value, FileNotFoundError)
    assert f"put the files in {tmp_path / 'defactify'}" in message
    assert "data/train-*.parquet" in message and "hub is offline" in message


# -- Defactify -----------------------------------------------------------------------------------------

DEFACTIFY_FEATURES = {
    "Caption": datasets.Value("string"), "Image": datasets.Image(),
    "Label_A": datasets.Value("int32"), "Label_B": datasets.Value("int32"),
}  # fmt: skip
DEFACTIFY_ROWS = [  # Label_A, Label_B, expected label, expected generator
    (0, 0, 0, "none"), (1, 1, 1, "sd-2.1"), (1, 2, 1, "sdxl"), (1, 3, 1, "sd-3"),
    (1, 4, 1, "dalle-3"), (1, 5, 1, "midjourney-6"), (0, 3, 0, "none"), (1, 0, 1, "unknown"),
]  # fmt: skip


def test_defactify_label_b_is_mapped_and_checked_against_label_a(tmp_path):
    root = tmp_path / "defactify" / "data"
    cols = {"Caption": [], "Image": [], "Label_A": [], "Label_B": []}
    for i, (a, b, _, _) in enumerate(DEFACTIFY_ROWS):
        cols["Caption"].append(f"caption {i // 2}")
        cols["Image"].append({"bytes": encoded(colour(i), "JPEG"), "path": None})
        cols["Label_A"].append(a)
        cols["Label_B"].append(b)
    for split in ("train", "validation", "test"):
        write_parquet(root / f"{split}-00000-of-00001.parquet", cols, DEFACTIFY_FEATURES)
    m = negate_sdk.create_dataset("defactify", data_dir=tmp_path, split="validation")
    assert [(r.label, r.generator_id) for r in m] == [(la, g) for _, _, la, g in DEFACTIFY_ROWS]
    assert [r.attrs["caption"] for r in m][:3] == ["caption 0", "caption 0", "caption 1"]
    assert m.header.generator_map == {
        "1": "sd-2.1",
        "2": "sdxl",
        "3": "sd-3",
        "4": "dalle-3",
        "5": "midjourney-6",
        "0": "unknown",
    }
    assert sorted(m.header.warnings) == [
        "1 row(s) with real label, generator named ('Label_A' vs 'Label_B'); the label column was kept",
        "1 row(s) with synthetic label, real generator ('Label_A' vs 'Label_B'); the label column was kept, "
        "generator set to 'unknown'",
    ]
    assert m.to_sample(m.rows[4]).attrs["uses_clip"] == "unknown"  # DALL-E 3
    assert m.to_sample(m.rows[2]).attrs["uses_clip"] == "yes"  # SDXL


# -- WikiArt -------------------------------------------------------------------------------------------


def test_wikiart_is_all_real_with_class_label_names_in_attrs(tmp_path):
    artists = ["Unknown Artist", "claude-monet", "vincent-van-gogh"]
    genres = ["landscape", "portrait", "Unknown Genre"]
    styles = ["Impressionism", "Post_Impressionism"]
    features = {
        "image": datasets.Image(), "artist": datasets.ClassLabel(names=artists),
        "genre": datasets.ClassLabel(names=genres), "style": datasets.ClassLabel(names=styles),
    }  # fmt: skip
    cols = {"image": [{"bytes": encoded(colour(i)), "path": None} for i in range(5)],
            "artist": [0, 1, 2, 1, 2], "genre": [2, 0, 1, 0, 0], "style": [0, 0, 1, 0, 1]}  # fmt: skip
    write_parquet(tmp_path / "wikiart" / "data" / "train-00000-of-00001.parquet", cols, features)
    m = resolve_dataset("wikiart", data_dir=tmp_path)
    assert {(r.label, r.generator_id, r.split, r.source) for r in m} == {(0, "none", "train", "wikiart")}
    assert [r.attrs for r in m][:3] == [
        {"artist": "Unknown Artist", "genre": "Unknown Genre", "style": "Impressionism"},
        {"artist": "claude-monet", "genre": "landscape", "style": "Impressionism"},
        {"artist": "vincent-van-gogh", "genre": "portrait", "style": "Post_Impressionism"},
    ]
    assert m.header.column_map["label"] == "(constant 0)"


# -- CIFAKE --------------------------------------------------------------------------------------------


def write_cifake_hf(root, names):
    features = {"image": datasets.Image(), "label": datasets.ClassLabel(names=names)}
    for split in ("train", "test"):
        cols = {
            "image": [{"bytes": encoded(colour(i), "JPEG", 32), "path": None} for i in range(4)],
            "label": [0, 1, 1, 0],
        }
        write_parquet(root / "default" / split / "0000.parquet", cols, features)


def test_cifake_hf_mirror_maps_labels_by_class_name(tmp_path):
    write_cifake_hf(tmp_path / "cifake-hf", ["FAKE", "REAL"])
    m = resolve_dataset("cifake-hf", data_dir=tmp_path, split="test")
    # ClassLabel 0 is FAKE: synthetic (label 1), made by SD 1.4; 1 is REAL
    assert [(r.label, r.generator_id) for r in m] == [(1, "sd-1.4"), (0, "none"), (0, "none"), (1, "sd-1.4")]
    assert m.header.label_map == {"FAKE": 1, "REAL": 0}


def test_cifake_hf_mirror_with_another_class_order_is_refused(tmp_path):
    write_cifake_hf(tmp_path / "cifake-hf", ["REAL", "FAKE"])
    with pytest.raises(ManifestError, match="label classes are \\['REAL', 'FAKE'\\] but the manifest states"):
        resolve_dataset("cifake-hf", data_dir=tmp_path)


def write_image_tree(root, layout, fmt="JPEG"):
    """layout: {relative folder: number of images}; returns the files written."""
    written = []
    for folder, n in layout.items():
        (root / folder).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            path = root / folder / f"{i:03d}.{'jpg' if fmt == 'JPEG' else fmt.lower()}"
            path.write_bytes(encoded(colour(i + 10 * len(written)), fmt, 32))
            written.append(path)
    return written


def test_cifake_kaggle_folders(tmp_path):
    write_image_tree(tmp_path / "cifake", {"train/REAL": 3, "train/FAKE": 2, "test/REAL": 1, "test/FAKE": 2})
    (tmp_path / "cifake" / "train" / "REAL" / "notes.txt").write_text("not an image")
    m = negate_sdk.create_dataset("cifake", data_dir=tmp_path)
    assert m.splits() == {"test": 3, "train": 5}
    by_id = {r.sample_id: r for r in m}
    assert (by_id["train/FAKE/001.jpg"].label, by_id["train/FAKE/001.jpg"].generator_id) == (1, "sd-1.4")
    assert (by_id["test/REAL/000.jpg"].label, by_id["test/REAL/000.jpg"].generator_id) == (0, "none")
    assert {r.source for r in m} == {"cifake"}
    assert m.header.warnings == ("ignored 1 file(s) without an image extension, e.g. train/REAL/notes.txt",)
    sample = m.to_sample(by_id["test/REAL/000.jpg"])
    assert sample.path == tmp_path / "cifake" / "test" / "REAL" / "000.jpg" and sample.pixels.shape == (
        32,
        32,
        3,
    )


# -- local data without a manifest ---------------------------------------------------------------------


def test_folder_of_real_and_synthetic(tmp_path):
    write_image_tree(tmp_path / "mine", {"real": 2, "synthetic/batch1": 2, ".hidden": 1})
    m = resolve_dataset(tmp_path / "mine")
    assert m.header.kind == "folder" and m.splits() == {"all": 4}
    assert [(r.sample_id, r.label, r.generator_id, r.source) for r in m] == [
        ("real/000.jpg", 0, "none", "mine"),
        ("real/001.jpg", 0, "none", "mine"),
        ("synthetic/batch1/000.jpg", 1, "unknown", "mine"),
        ("synthetic/batch1/001.jpg", 1, "unknown", "mine"),
    ]  # fmt: skip


def test_folder_with_a_given_class_map_and_bad_layouts(tmp_path):
    write_image_tree(tmp_path / "g", {"nature": 2, "ai": 3})
    m = resolve_dataset(tmp_path / "g", label_dirs={"nature": 0, "ai": 1})
    assert m.counts("label") == {"0": 2, "1": 3}
    with pytest.raises(ManifestError, match="no class folders"):
        resolve_dataset(tmp_path / "g")
    with pytest.raises(ManifestError, match="unknown dataset 'no/such/thing'"):
        resolve_dataset("no/such/thing")


def test_csv_table_with_relative_paths_and_normalised_generators(tmp_path):
    files = write_image_tree(tmp_path / "set", {"a": 2, "b": 2})
    table = pd.DataFrame({
        "path": [f.relative_to(tmp_path / "set").as_posix() for f in files],
        "label": ["real", "synthetic", "1", "0"],
        "generator": ["none", "sd14", "DALL·E 3", ""],
        "source": ["x", "x", "y", "y"],
        "licence": ["CC0", "CC0", "MIT", "MIT"],
    })  # fmt: skip
    table.to_csv(tmp_path / "set" / "list.csv", index=False)
    m = resolve_dataset(tmp_path / "set" / "list.csv")
    assert [(r.label, r.generator_id, r.source, r.split) for r in m] == [
        (0, "none", "x", "all"),
        (1, "sd-1.4", "x", "all"),
        (1, "dalle-3", "y", "all"),
        (0, "none", "y", "all"),
    ]  # fmt: skip
    assert m.rows[2].attrs == {"licence": "MIT"}
    assert m.to_sample(m.rows[1]).path == files[1]
    table.to_parquet(tmp_path / "set" / "list.parquet")
    assert resolve_dataset(tmp_path / "set" / "list.parquet").content_hash == m.content_hash
    table.loc[2, "label"] = "probably"
    table.to_csv(tmp_path / "set" / "bad.csv", index=False)
    with pytest.raises(
        ManifestError, match=r"bad.csv: label must be real/synthetic/fake or 0/1; found 'probably' \(row 4\)"
    ):
        resolve_dataset(tmp_path / "set" / "bad.csv")
    table.drop(columns=["label"]).to_csv(tmp_path / "set" / "nolabel.csv", index=False)
    with pytest.raises(ManifestError, match="lacks column\\(s\\) label"):
        resolve_dataset(tmp_path / "set" / "nolabel.csv")


def test_parquet_export_with_embedded_images(tmp_path):
    features = {"image": datasets.Image(), "label": datasets.ClassLabel(names=["real", "fake"]),
                "generator": datasets.Value("string"), "split": datasets.Value("string")}  # fmt: skip
    cols = {"image": [{"bytes": encoded(colour(i)), "path": None} for i in range(3)], "label": [0, 1, 1],
            "generator": ["", "sdxl", "Midjourney v6"], "split": ["train", "test", "test"]}  # fmt: skip
    write_parquet(tmp_path / "export.parquet", cols, features)
    m = resolve_dataset(tmp_path / "export.parquet")
    assert m.header.kind == "parquet" and m.header.locator_scheme == "parquet-row"
    assert [(r.label, r.generator_id, r.split) for r in m] == [
        (0, "none", "train"),
        (1, "sdxl", "test"),
        (1, "midjourney-6", "test"),
    ]
    assert tuple(m.to_sample(m.rows[2]).pixels[0, 0]) == colour(2)


def test_hf_cache_snapshot_is_used_offline(tmp_path, monkeypatch):
    import huggingface_hub.constants

    repo = tmp_path / "hub" / "datasets--huggan--wikiart"
    snapshot = repo / "snapshots" / "c0ffee"
    cols = {"image": [{"bytes": encoded(colour(i)), "path": None} for i in range(2)], "artist": ["a", "b"],
            "genre": ["g", "g"], "style": ["s", "s"]}  # fmt: skip
    features = {
        "image": datasets.Image(),
        **{k: datasets.Value("string") for k in ("artist", "genre", "style")},
    }
    write_parquet(snapshot / "data" / "train-00000-of-00001.parquet", cols, features)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("c0ffee")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.delenv("NEGATE_DATA_DIR", raising=False)
    m = resolve_dataset("wikiart")
    assert (m.header.origin, m.header.revision, len(m)) == ("hf-cache", "c0ffee", 2)
    assert tuple(m.to_sample(m.rows[1]).pixels[0, 0]) == colour(1)


def test_hub_listing_selects_config_files_and_pins_the_commit(monkeypatch):
    """The online path, with the hub's answer given: file patterns are matched and the root pinned to the
    resolved commit (a revision with '/' is URL-quoted as HfFileSystem expects)."""
    from types import SimpleNamespace

    import huggingface_hub

    from negate_sdk.manifests import hub
    from negate_sdk.manifests.spec import find_spec

    listing = [
        "README.md",
        "default/train/0000.parquet",
        "default/train/0001.parquet",
        "default/test/0000.parquet",
    ]
    answer = SimpleNamespace(sha=None, siblings=[SimpleNamespace(rfilename=f) for f in listing])
    monkeypatch.setattr(huggingface_hub.HfApi, "dataset_info", lambda self, repo, revision=None: answer)
    spec = find_spec("cifake-hf")
    location = hub._from_hub(spec, spec.configs["default"].splits, "refs/convert/parquet")
    assert location.files == {"train": ["default/train/0000.parquet", "default/train/0001.parquet"],
                              "test": ["default/test/0000.parquet"]}  # fmt: skip
    assert location.root == "hf://datasets/dragonintelligence/CIFAKE-image-dataset@refs%2Fconvert%2Fparquet"


def test_dev_sets_are_registered_with_their_sources():
    from negate_sdk.manifests.locate import dev_data_dir

    root = dev_data_dir()
    if root is None:
        pytest.skip("the dev image sets (../shared/datasets) are not on this machine")
    dev = resolve_dataset("dev")
    assert len(dev) == 9000 and dev.counts("source") == {
        "cifake": 8000,
        "diffusiondb_coco": 400,
        "faces": 600,
    }
    assert dev.counts("generator_id") == {"none": 4500, "sd-1.4": 4000, "sd-1.x": 200, "stylegan2": 300}
    faces = resolve_dataset("dev-faces")
    assert faces.content_hash == dev.filter(source="faces").content_hash
    assert resolve_dataset("dev-cifake").splits() == {"test": 2000, "train": 6000}
    assert resolve_dataset(root).content_hash == dev.content_hash  # the folder itself, via its manifest.csv
    row = faces.rows[0]
    assert row.sha256 and row.width == 300 and "license" in row.attrs


def test_dev_sets_are_found_through_negate_dev_data(tmp_path, monkeypatch):
    from conftest import make_default_host

    from negate_sdk.plugins import use_host

    files = write_image_tree(
        tmp_path / "dev", {"faces/real": 1, "faces/synthetic": 1, "cifake/train/REAL": 1}
    )
    relative = [f.relative_to(tmp_path / "dev").as_posix() for f in files]
    (tmp_path / "dev" / "manifest.csv").write_text(
        "path,label,generator,source,split,license\n"
        f"{relative[0]},real,none,faces,dev,CC0\n{relative[1]},synthetic,stylegan2,faces,dev,CC0\n"
        f"{relative[2]},real,none,cifake,train,MIT\n"
    )
    monkeypatch.setenv("NEGATE_DEV_DATA", str(tmp_path / "dev"))
    with use_host(make_default_host()):
        assert {"dev", "dev-cifake", "dev-diffusiondb", "dev-faces"} <= set(negate_sdk.list_datasets())
        faces = resolve_dataset("dev-faces")
        assert (faces.id, faces.header.origin, len(faces)) == ("dev-faces", "local", 2)
        assert [(r.label, r.generator_id, r.attrs["license"]) for r in faces] == [
            (0, "none", "CC0"),
            (1, "stylegan2", "CC0"),
        ]
        assert resolve_dataset("dev", split="train").header.split == "train"
        with pytest.raises(ManifestError, match="is not a hub dataset: it takes no config"):
            resolve_dataset("dev", config="core")
    monkeypatch.setenv("NEGATE_DEV_DATA", str(tmp_path / "nowhere"))
    with use_host(make_default_host()):
        assert "dev" not in negate_sdk.list_datasets()
