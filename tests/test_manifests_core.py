"""The manifest schema, content hash, selection, generator table and the shortcut statistics."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from negate_sdk.manifests import (
    Manifest,
    ManifestError,
    ManifestHeader,
    ManifestRow,
    get_generator,
    load_generators,
    normalise_generator,
)
from negate_sdk.manifests.sampling import allocate, row_key
from negate_sdk.manifests.shortcuts import find_shortcuts, out_of_fold_auc, rank_auc


def make_rows(n_per_group=10):
    rows = []
    for source in ("a", "b"):
        for label, generator in ((0, "none"), (1, "sd-1.4"), (1, "dalle-3")):
            for i in range(n_per_group if label == 0 else n_per_group // 2):
                sid = f"{source}/{generator}/{i}"
                rows.append(
                    ManifestRow(sid, f"{sid}.png", label, generator, source, "train" if i % 3 else "test")
                )
    return rows


def manifest(rows=None):
    return Manifest(ManifestHeader(id="toy", kind="csv", root="/data"), make_rows() if rows is None else rows)


def test_content_hash_covers_rows_not_order_nor_route():
    rows = make_rows()
    m = manifest(rows)
    assert m.content_hash == manifest(rows[::-1]).content_hash
    other_route = Manifest(ManifestHeader(id="other", kind="folder", root="/elsewhere"), rows)
    assert other_route.content_hash == m.content_hash  # id and root are not content
    changed = [rows[0].__class__(**{**rows[0].to_dict(), "generator_id": "sdxl"}), *rows[1:]]
    assert manifest(changed).content_hash != m.content_hash
    with_attrs = [ManifestRow(**{**rows[0].to_dict(), "attrs": {"artist": "x"}}), *rows[1:]]
    assert manifest(with_attrs).content_hash != m.content_hash
    scheme = Manifest(ManifestHeader(id="toy", kind="hf", root="/data", locator_scheme="parquet-row"), rows)
    assert scheme.content_hash != m.content_hash  # the same locators mean other bytes


def test_content_hash_is_sha256_of_the_documented_bytes():
    import hashlib

    rows = make_rows(2)
    digest = hashlib.sha256(repr([("locator_scheme", "path"), ("schema", 1)]).encode())
    for row in sorted(rows, key=lambda r: r.sample_id):
        digest.update(row.canonical().encode() + b"\n")
    assert manifest(rows).content_hash == digest.hexdigest()
    assert json.loads(rows[0].canonical())[:4] == [rows[0].sample_id, rows[0].locator, 0, "none"]


def test_filter_and_splits():
    m = manifest()
    assert sum(m.splits().values()) == len(m) == 40
    test = m.filter(split="test", source=["a"])
    assert all(r.split == "test" and r.source == "a" for r in test)
    assert len(test) == sum(1 for r in m if r.split == "test" and r.source == "a")
    assert m.filter(label=1, generator="dalle-3").counts("generator_id") == {"dalle-3": 10}
    assert test.header.selection == ("filter(split=['test'], source=['a'])",)


def test_allocate_is_proportional_with_largest_remainder():
    assert allocate({"a": 50, "b": 30, "c": 20}, 10) == {"a": 5, "b": 3, "c": 2}
    assert allocate({"a": 2, "b": 1}, 2) == {"a": 1, "b": 1}  # exact 1.33/0.67: remainders .33 < .67
    assert allocate({"a": 3, "b": 3}, 100) == {"a": 3, "b": 3}
    assert sum(allocate({i: i + 1 for i in range(17)}, 50).values()) == 50


def test_sample_is_seeded_stratified_and_independent_of_row_order():
    m = manifest()
    picked = m.sample(20, seed=3)
    # quotas 10*20/40 = 5 for reals, 2.5 per generator; the two spare units go to the first .5 remainders
    # in group order: (1, 'a', 'dalle-3') and (1, 'a', 'sd-1.4')
    assert Counter((r.label, r.source, r.generator_id) for r in picked) == {
        (0, "a", "none"): 5, (1, "a", "sd-1.4"): 3, (1, "a", "dalle-3"): 3,
        (0, "b", "none"): 5, (1, "b", "sd-1.4"): 2, (1, "b", "dalle-3"): 2,
    }  # fmt: skip
    assert [r.sample_id for r in picked] == [r.sample_id for r in m.sample(20, seed=3)]
    assert {r.sample_id for r in picked} == {r.sample_id for r in manifest(m.rows[::-1]).sample(20, seed=3)}
    assert {r.sample_id for r in picked} != {r.sample_id for r in m.sample(20, seed=4)}
    # within a stratum, the rows with the smallest keys are kept
    stratum = [r for r in m if (r.label, r.source, r.generator_id) == (0, "a", "none")]
    kept = {r.sample_id for r in picked if (r.label, r.source, r.generator_id) == (0, "a", "none")}
    expected = sorted(stratum, key=lambda r: row_key(3, r.sample_id))[: len(kept)]
    assert kept == {r.sample_id for r in expected}


def test_per_generator_cap_applies_to_every_generator_including_reals():
    capped = manifest().sample(per_generator=4, seed=0)
    assert capped.counts("generator_id") == {"dalle-3": 4, "none": 4, "sd-1.4": 4}
    both = manifest().sample(6, per_generator=4, seed=0)
    assert len(both) == 6 and set(both.counts("generator_id").values()) == {2}


def test_sample_rejects_unknown_fields():
    with pytest.raises(ManifestError, match="cannot stratify by colour"):
        manifest().sample(3, stratify=("colour",))


def test_header_refuses_bad_label_map_and_kind():
    with pytest.raises(ManifestError, match="label map values must be 0 or 1"):
        ManifestHeader(id="x", kind="csv", root="/", label_map={"fake": 2})
    with pytest.raises(ManifestError, match="kind 'zip'"):
        ManifestHeader(id="x", kind="zip", root="/")


# -- generators ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("sd14", "sd-1.4"), ("SD 1.5", "sd-1.5"), ("sd1x", "sd-1.x"), ("stable-diffusion-2-1", "sd-2.1"),
        ("SDXL 1.0", "sdxl"), ("stabilityai/stable-diffusion-xl-base-1.0", "sdxl"), ("sd3", "sd-3"),
        ("SD 3.5", "sd-3.5"), ("sd3.5-large", "sd-3.5"), ("DALL·E 3", "dalle-3"), ("dall-e-3", "dalle-3"),
        ("dalle3", "dalle-3"), ("DALL-E 2", "dalle-2"), ("midjourney-v6", "midjourney-6"),
        ("Midjourney v6.1", "midjourney-6"), ("FLUX.1 [dev]", "flux-1-dev"),
        ("flux.1-schnell", "flux-1-schnell"),
        ("FLUX.2 [pro]", "flux-2"), ("imagen-3.0", "imagen-3"), ("imagen-4.0-ultra-generate-001", "imagen-4"),
        ("PixArt-Σ", "pixart-sigma"), ("gpt-image-1", "gpt-image-1"), ("HiDream-I1-Full", "hidream-i1"),
        ("stylegan2", "stylegan2"), ("real", "none"), ("", "none"), (None, "none"),
        ("My Model 2", "my-model-2"),
    ],
)  # fmt: skip
def test_normalise_generator(raw, expected):
    assert normalise_generator(raw) == expected


def test_generator_table_states_field_section_6():
    table = load_generators()
    uses = {g: table[g].uses_clip for g in table}
    clip_users = ("sd-1.4", "sd-1.5", "sd-2.1", "sdxl", "sd-3", "sd-3.5", "flux-1-dev", "flux-1-schnell",
                  "hidream-i1", "kandinsky-2", "stable-cascade", "vq-diffusion", "hunyuan-dit",
                  "dalle-2")  # fmt: skip
    for clip in clip_users:
        assert uses[clip] == "yes", clip
        assert "CLIP" in table[clip].clip_usage or "unCLIP" in table[clip].clip_usage
    for no_clip in ("flux-2", "chroma", "pixart-alpha", "pixart-sigma", "deepfloyd-if", "imagen-1", "sana",
                    "lumina-2", "qwen-image", "kolors", "progan", "stylegan", "stylegan2", "stylegan3",
                    "biggan", "adm", "glide"):  # fmt: skip
        assert uses[no_clip] == "no", no_clip
    for closed in ("dalle-3", "midjourney-6", "imagen-3", "imagen-4", "gpt-image-1", "ideogram-3",
                   "recraft-v3", "seedream-3"):  # fmt: skip
        assert uses[closed] == "unknown", closed
    assert uses["none"] == "n/a"
    assert all(info.evidence for info in table.values())
    assert table["sdxl"].text_encoders == ("CLIP ViT-L/14", "OpenCLIP ViT-bigG/14")
    assert table["sd-1.4"].release_date == "2022-08-22"


def test_unknown_generator_info_and_table_errors(tmp_path):
    assert get_generator("my-model").uses_clip == "unknown"
    bad = tmp_path / "generators.toml"
    bad.write_text('[none]\nname="Real"\nfamily="real"\nuses_clip="n/a"\nevidence="-"\n'
                   '[unknown]\nname="?"\nfamily="?"\nuses_clip="unknown"\nevidence="-"\n'
                   '[a]\nname="A"\nfamily="x"\nuses_clip="no"\nevidence="e"\naliases=["zz-1"]\n'
                   '[b]\nname="B"\nfamily="x"\nuses_clip="no"\nevidence="e"\n'
                   'aliases=["ZZ 1.0"]\n')  # fmt: skip
    with pytest.raises(ManifestError, match="collides"):
        load_generators(bad)
    bad.write_text('[none]\nname="Real"\nfamily="real"\nuses_clip="n/a"\nevidence="-"\n'
                   '[unknown]\nname="?"\nfamily="?"\nuses_clip="unknown"\nevidence="-"\n'
                   '[a]\nname="A"\nfamily="x"\nuses_clip="maybe"\nevidence="e"\n')  # fmt: skip
    with pytest.raises(ManifestError, match="uses_clip must be one of"):
        load_generators(bad)


# -- statistics ------------------------------------------------------------------------------------


def test_rank_auc_matches_sklearn_with_ties():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 300)
    scores = np.round(rng.normal(size=300) + labels * 0.7, 1)  # rounding makes many ties
    assert rank_auc(scores, labels) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    assert rank_auc([0.1, 0.2], [1, 1]) != rank_auc([0.1, 0.2], [1, 1])  # NaN: one class only
    assert rank_auc([1, 2, 3, 4], [0, 0, 1, 1]) == 1.0 and rank_auc([1, 1, 1, 1], [0, 1, 0, 1]) == 0.5


def test_out_of_fold_auc_separates_shortcut_from_noise():
    rng = np.random.default_rng(1)
    labels = np.repeat([0, 1], 200)
    folds = rng.integers(0, 5, 400)
    assert out_of_fold_auc(np.where(labels == 1, "PNG", "JPEG"), labels, folds) == 1.0
    assert out_of_fold_auc(["JPEG"] * 400, labels, folds) == 0.5
    noise = rng.choice(["q75", "q90", "q95"], 400)
    assert abs(out_of_fold_auc(noise, labels, folds) - 0.5) < 0.1
    # 80% of fakes PNG, 20% JPEG; reals all JPEG: best AUC = 0.5 * (1 + 0.8) = 0.9
    mixed = np.where((labels == 1) & (np.arange(400) % 5 != 0), "PNG", "JPEG")
    assert out_of_fold_auc(mixed, labels, folds) == pytest.approx(0.9, abs=0.02)


def test_find_shortcuts_per_source_and_pooled():
    obs, labels, sources, ids = [], [], [], []
    for source, fake_format in (("clean", "JPEG"), ("leaky", "PNG")):
        for i in range(40):
            label = i % 2
            fmt = fake_format if label else "JPEG"
            obs.append({"format": fmt, "width": 64, "height": 64, "mode": "RGB", "exif": False,
                        "jpeg_quality": 90 if fmt == "JPEG" else None, "n_bytes": 1000 + i})  # fmt: skip
            labels.append(label)
            sources.append(source)
            ids.append(f"{source}/{i}")
    found = {(f.source, f.attribute): f for f in find_shortcuts(obs, labels, sources, ids)}
    assert found[("leaky", "format")].auc == 1.0 and found[("leaky", "format")].flagged
    assert found[("leaky", "jpeg_quality")].flagged
    assert found[("leaky", "format")].synthetic_top == "PNG 100%"
    assert found[("clean", "format")].auc == 0.5 and not found[("clean", "format")].flagged
    assert not found[("clean", "bytes_per_pixel")].flagged  # informational, never flagged
    assert 0.7 < found[("(all sources)", "format")].auc < 0.8  # 1/4 PNG, all fake: 0.5 * (1 + 0.5)


def test_importing_manifests_is_cheap():
    code = (
        "import sys, negate_sdk.manifests as m; m.Manifest; m.resolve_dataset; "
        "print([x for x in ('pandas', 'pyarrow', 'datasets', 'torch') if x in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_rows_join_the_generator_table_and_provenance_cites_the_selection():
    m = manifest()
    frame = m.to_frame()
    assert dict(zip(frame["generator_id"], frame["uses_clip"])) == {
        "none": "n/a",
        "sd-1.4": "yes",
        "dalle-3": "unknown",
    }
    assert set(frame.loc[frame["generator_id"] == "sd-1.4", "generator_family"]) == {"stable-diffusion"}
    sample = m.to_sample(m.rows[-1])
    assert (sample.generator, sample.attrs["uses_clip"], str(sample.path)) == (
        "dalle-3",
        "unknown",
        "/data/b/dalle-3/4.png",
    )
    chosen = m.filter(source="a").sample(6, seed=1)
    cited = chosen.provenance()
    assert cited["content_hash"] == chosen.content_hash and cited["n_rows"] == 6
    assert cited["selection"] == [
        "filter(source=['a'])",
        "sample(limit=6, per_generator=None, seed=1, stratify=['label', 'source', 'generator_id'])",
    ]
