"""The illustration veto, trained on images the test draws: flat-colour shapes with dark outlines
("illustrations") against noisy, textured, photo-like images."""

from __future__ import annotations

import io
import json
from pathlib import Path

import click
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image, ImageDraw

from negate_sdk.api import Label, Sample, Thresholds, VetoEffect
from negate_sdk.artifacts import read_card
from negate_sdk.cli._common import NegateGroup
from negate_sdk.cli.train_veto_cmd import train_veto_command
from negate_sdk.conformance import check_veto, conformance_samples
from negate_sdk.detectors import Detector, load_detector
from negate_vetoes.illustration import UNTRAINED_MESSAGE, IllustrationVeto

OUTLINE = (20, 20, 20)
TINY = {"image_size": 64, "epochs": 3, "batch_size": 16, "patience": None, "device": "cpu", "verbose": False}


def illustration(rng: np.random.Generator, size: int = 64) -> np.ndarray:
    """Flat-colour ellipses, boxes and triangles with dark outlines on a flat pastel background."""
    image = Image.new("RGB", (size, size), tuple(int(v) for v in rng.integers(170, 256, 3)))
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(2, 5))):
        fill = tuple(int(v) for v in rng.integers(0, 256, 3))
        x0, y0 = (int(v) for v in rng.integers(0, size // 2, 2))
        w, h = (int(v) for v in rng.integers(size // 4, size // 2, 2))
        width = int(rng.integers(2, 4))
        kind = int(rng.integers(0, 3))
        if kind == 0:
            draw.ellipse((x0, y0, x0 + w, y0 + h), fill=fill, outline=OUTLINE, width=width)
        elif kind == 1:
            draw.rectangle((x0, y0, x0 + w, y0 + h), fill=fill, outline=OUTLINE, width=width)
        else:
            corners = [(x0, y0 + h), (x0 + w // 2, y0), (x0 + w, y0 + h)]
            draw.polygon(corners, fill=fill, outline=OUTLINE, width=width)
    return np.asarray(image)


def photo(rng: np.random.Generator, size: int = 64) -> np.ndarray:
    """A smooth colour gradient with blurred coarse texture and sensor-like fine noise."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    slope = rng.uniform(-60, 60, 3) * (
        xx[..., None] * rng.uniform(-1, 1) + yy[..., None] * rng.uniform(-1, 1)
    )
    coarse = rng.normal(128, 40, (size // 8, size // 8, 3)).clip(0, 255).astype(np.uint8)
    coarse = np.asarray(Image.fromarray(coarse).resize((size, size), Image.Resampling.BICUBIC)) - 128.0
    pixels = (
        rng.uniform(60, 190, 3)
        + slope
        + 0.5 * coarse
        + rng.uniform(10, 25) * rng.normal(size=(size, size, 3))
    )
    return np.clip(pixels, 0, 255).astype(np.uint8)


def drawn(n: int, seed: int) -> tuple[list[Sample], np.ndarray]:
    """``n`` illustrations then ``n`` photos (varied sizes), with labels 1 = illustration."""
    rng = np.random.default_rng(seed)
    sizes = [48, 64, 80, 72]
    images = [illustration(rng, sizes[i % 4]) for i in range(n)] + [
        photo(rng, sizes[i % 4]) for i in range(n)
    ]
    samples = [Sample.from_array(p, id=f"drawn-{seed}-{i}") for i, p in enumerate(images)]
    return samples, np.array([1] * n + [0] * n)


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Tiny networks run faster on one thread (more so on a shared machine); restored afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def trained(one_torch_thread):
    samples, y = drawn(20, seed=0)
    return IllustrationVeto(**TINY).train(samples, y)


def test_the_veto_separates_illustrations_from_photos(trained):
    samples, y = drawn(12, seed=1)  # images the veto has never seen
    p = trained.illustration_proba(samples)
    assert p[y == 1].min() > 0.5 > p[y == 0].max(), (p[y == 1], p[y == 0])
    validation = trained.training_info_["validation"]
    assert validation["auc"] == 1.0 and validation["others_vetoed"] == 0.0
    decisions = trained.decide(samples)
    assert [d.value for d in decisions] == [0] * 12 + [-1] * 12
    assert decisions[0].reason == f"looks like a human illustration (p={p[0]:.2f})"
    assert decisions[12].reason == f"not an illustration (p={p[12]:.2f})"


def test_an_untrained_veto_fails_with_a_one_line_hint():
    veto = IllustrationVeto()
    for call in (lambda: veto.fit(conformance_samples(2)), lambda: veto.decide(conformance_samples(2))):
        with pytest.raises(ValueError) as err:
            call()
        assert str(err.value) == UNTRAINED_MESSAGE and "\n" not in str(err.value)
    assert "negate train-veto --dataset" in UNTRAINED_MESSAGE
    with pytest.raises(
        ValueError, match=r"no trained illustration veto at .*; train one with 'negate train-veto"
    ):
        IllustrationVeto(weights="/nonexistent/veto").fit([])


def test_the_veto_only_downgrades_and_never_raises_on_bad_input(trained):
    check_veto(trained)
    assert VetoEffect(trained.effect) is VetoEffect.DOWNGRADE
    broken = Sample.from_bytes(b"\xff\xd8\xff\xe0 truncated jpeg", id="broken")
    samples, _ = drawn(2, seed=2)
    tiny = Sample.from_array(illustration(np.random.default_rng(3), 8), id="tiny")
    decisions = trained.decide([broken, *samples, tiny])
    assert decisions[0].value == -1 and decisions[0].reason == "abstains: the image could not be decoded"
    assert all(d.value in (-1, 0) for d in decisions)
    assert np.isnan(trained.illustration_proba([broken])[0])


@pytest.fixture(scope="module")
def detector(trained):
    """A composite detector whose pixels call everything SYNTHETIC, with the trained veto."""
    detector = Detector(extractors=["example_colour_moments"], classifier="logistic", vetoes=[trained])
    detector.fit(conformance_samples(16))
    detector.thresholds_ = Thresholds(0.0, 0.0, 0.0)
    return detector


def test_inside_a_detector_illustrations_are_downgraded_to_uncertain(detector):
    samples, _ = drawn(6, seed=4)
    verdicts = detector.verdicts(samples)
    assert [v.label for v in verdicts] == [Label.UNCERTAIN] * 6 + [Label.SYNTHETIC] * 6
    assert all(
        v.reasons[0].startswith("illustration: looks like a human illustration (p=") for v in verdicts[:6]
    )
    assert all(len(v.reasons) == 1 and v.reasons[0].startswith("score ") for v in verdicts[6:])
    genuine = Detector(extractors=["example_colour_moments"], vetoes=[detector.vetoes_[0]])
    genuine.fit(conformance_samples(16))
    genuine.thresholds_ = Thresholds(1.0, 1.0, 1.0)  # everything GENUINE: a downgrade veto changes nothing
    assert [v.label for v in genuine.verdicts(samples)] == [Label.GENUINE] * 12


def test_detector_save_load_round_trip_keeps_the_veto(detector, tmp_path):
    samples, _ = drawn(4, seed=5)
    broken = Sample.from_bytes(b"not an image", id="broken")
    path = detector.save(tmp_path / "model")
    card = read_card(path)
    assert card["vetoes"][0]["name"] == "illustration" and "veto0.safetensors" in card["files"]
    assert card["vetoes"][0]["state"]["pretrained"] is True
    loaded = load_detector(path)
    before, after = detector.verdicts([*samples, broken]), loaded.verdicts([*samples, broken])
    assert [v.to_dict() for v in after[:-1]] == [v.to_dict() for v in before[:-1]]
    assert after[-1].error == before[-1].error == "not a supported image (unrecognised format)"
    np.testing.assert_array_equal(
        loaded.vetoes_[0].illustration_proba(samples), detector.vetoes_[0].illustration_proba(samples)
    )


def test_standalone_save_and_weights_folder(trained, tmp_path):
    path = trained.save(tmp_path / "veto")
    assert sorted(p.name for p in path.iterdir()) == ["illustration.json", "illustration.safetensors"]
    samples, _ = drawn(3, seed=6)
    reloaded = IllustrationVeto(weights=str(path), threshold=0.99)
    np.testing.assert_array_equal(reloaded.illustration_proba(samples), trained.illustration_proba(samples))
    config = json.loads((path / "illustration.json").read_text())
    assert config["image_size"] == 64 and config["training"]["validation"]["auc"] == 1.0
    config["backbone_sha256"] = "0" * 64
    (path / "illustration.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="trained on other EfficientNet-Lite0 weights"):
        IllustrationVeto(weights=str(path)).fit([])


def write_folder(root: Path, n: int, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    for kind, draw in (("illustration", illustration), ("other", photo)):
        (root / kind).mkdir(parents=True)
        for i in range(n):
            buffer = io.BytesIO()
            Image.fromarray(draw(rng)).save(buffer, format="PNG")
            (root / kind / f"{kind}-{i}.png").write_bytes(buffer.getvalue())
    return root


def cli() -> click.Group:
    group = NegateGroup()  # the same error handling as `negate`
    group.add_command(train_veto_command)
    return group


def test_train_veto_command_on_a_folder(tmp_path):
    data = write_folder(tmp_path / "art", 8, seed=7)
    out = tmp_path / "veto"
    params = ["epochs=1", "image_size=32", "batch_size=8", "device=cpu", "verbose=false"]
    args = ["train-veto", "--dataset", str(data), "--out", str(out), "--json"]
    result = CliRunner().invoke(cli(), args + [x for p in params for x in ("--param", p)])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (summary["n_images"], summary["n_positives"], summary["split"]) == (16, 8, "all")
    veto = IllustrationVeto(weights=summary["out"])
    assert len(veto.decide([Sample.from_path(data / "other" / "other-0.png")])) == 1
    swapped_args = [*args[:4], str(tmp_path / "swapped"), "--json", "--positive-label", "0",
                    "--label-dirs", "illustration=0,other=1"]  # fmt: skip
    swapped = CliRunner().invoke(cli(), swapped_args + [x for p in params for x in ("--param", p)])
    assert swapped.exit_code == 0, swapped.output
    assert json.loads(swapped.stdout)["n_positives"] == 8  # the same illustrations, labelled 0 this time


def test_train_veto_command_errors_are_one_line(tmp_path):
    data = write_folder(tmp_path / "art", 2, seed=8)
    result = CliRunner().invoke(cli(), ["train-veto", "--dataset", str(data), "--out", str(tmp_path / "o")])
    assert result.exit_code == 1
    assert result.output.strip() == (
        "Error: training the veto needs at least 4 images of each class; got 2 illustrations and 2 others"
    )
    unknown = CliRunner().invoke(cli(), ["train-veto", "--veto", "illustrationz", "--dataset", str(data),
                                         "--out", str(tmp_path / "o")])  # fmt: skip
    assert unknown.exit_code == 1 and "did you mean 'illustration'" in unknown.output
