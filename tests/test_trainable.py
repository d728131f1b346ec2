"""Trainable detectors (saturate_cnn, supcon): their pieces against references, learning, seeding,
resuming, artifacts and the conformance suite."""

from __future__ import annotations

import colorsys
import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image
from sklearn.metrics import roc_auc_score

import negate_sdk
from negate_sdk.api import Label, Sample
from negate_sdk.artifacts import ArtifactError, read_card
from negate_sdk.conformance import check_entry
from negate_sdk.detectors import load_detector
from negate_sdk.runtime.augment import Augmentation, square_view
from negate_sdk.runtime.views import ViewSpec
from negate_trainable.networks import supcon_loss
from negate_trainable.saturate import SaturateCNN, network_input
from negate_trainable.supcon import SupConDetector

FAST = {"image_size": 16, "batch_size": 8, "verbose": False, "device": "cpu"}


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Tiny networks run faster on one thread (thread start-up costs more than it saves, the more so on a
    shared machine); the process's setting is restored afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def toy(n: int, seed: int, size: int = 16, generators: tuple[str, ...] = ("gen-a",)) -> list[Sample]:
    """``n`` images, odd ones synthetic: reals are sharp noise, synthetics blurred noise with a faint
    2-pixel grid (the periodic trace of an upsampling layer)."""
    rng = np.random.default_rng(seed)
    samples = []
    for i in range(n):
        label = i % 2
        noise = rng.normal(0, 30, (size + 2, size + 2, 3))
        if label:
            noise = sum(noise[dy : dy + size, dx : dx + size] for dy in range(3) for dx in range(3)) / 3.0
            yy, xx = np.mgrid[0:size, 0:size]
            noise = noise + 12.0 * ((yy % 2 == 0) & (xx % 2 == 0))[..., None]
        else:
            noise = noise[1 : size + 1, 1 : size + 1]
        pixels = np.clip(rng.uniform(70, 180, 3) + noise, 0, 255).astype(np.uint8)
        generator = generators[(i // 2) % len(generators)] if label else "none"
        samples.append(Sample.from_array(pixels, id=f"toy-{seed}-{i}", label=label, generator=generator))
    return samples


def labels(samples):
    return np.array([s.label for s in samples])


# -- pieces ----------------------------------------------------------------------------------------


def reference_inverted(rgb):
    """Invert, then boost HSV saturation 8x (clipped at 1) through colorsys, one pixel at a time."""
    h, s, v = colorsys.rgb_to_hsv(*(1.0 - np.asarray(rgb) / 255.0))
    return np.array(colorsys.hsv_to_rgb(h, min(1.0, 8 * s), v)) * 255.0


def test_network_input_views_match_a_colorsys_reference():
    pixels = np.array([[[100, 150, 200], [255, 0, 0]], [[0, 0, 0], [37, 41, 45]]], dtype=np.uint8)
    views = pixels[None]
    inverted = network_input(views, "inverted", 8.0)[0]
    for y, x in np.ndindex(2, 2):
        expected = reference_inverted(pixels[y, x]) / 127.5 - 1.0
        np.testing.assert_allclose(inverted[:, y, x], expected, atol=1e-5)
    np.testing.assert_allclose(inverted[:, 0, 0], np.array([155.0, 77.5, 0.0]) / 127.5 - 1.0, atol=1e-5)
    rgb = network_input(views, "rgb", 8.0)[0]
    np.testing.assert_allclose(rgb[:, 0, 0], np.array([100, 150, 200]) / 127.5 - 1.0, atol=1e-6)
    both = network_input(views, "both", 8.0)
    assert both.shape == (1, 6, 2, 2) and np.array_equal(both[0], np.concatenate([rgb, inverted]))
    with pytest.raises(ValueError, match="unknown view 'hsv'; use one of inverted, rgb, both"):
        network_input(views, "hsv", 8.0)


def reference_supcon(z, classes, temperature):
    """Khosla et al.'s L_out written as loops over anchors, positives and the contrast set."""
    rows = np.concatenate([z[:, v] for v in range(z.shape[1])])
    tags = np.tile(classes, z.shape[1])
    losses = []
    for i in range(len(rows)):
        others = [a for a in range(len(rows)) if a != i]
        denominator = np.log(sum(np.exp(rows[i] @ rows[a] / temperature) for a in others))
        positives = [p for p in others if tags[p] == tags[i]]
        if positives:
            losses.append(-np.mean([rows[i] @ rows[p] / temperature - denominator for p in positives]))
    return np.mean(losses)


def test_supcon_loss_matches_a_loop_reference_and_an_analytic_case():
    import torch

    rng = np.random.default_rng(0)
    z = rng.normal(size=(6, 2, 5))
    z /= np.linalg.norm(z, axis=2, keepdims=True)
    classes = np.array([0, 1, 0, 2, 1, 0])
    tensor = torch.tensor(z, requires_grad=True)
    loss = supcon_loss(tensor, torch.tensor(classes), 0.1)
    np.testing.assert_allclose(float(loss.detach()), reference_supcon(z, classes, 0.1), rtol=1e-10)
    loss.backward()
    assert torch.isfinite(tensor.grad).all()
    # identical embeddings: every pair has the same logit, so each log-probability is -log(n_views*n - 1)
    same = torch.ones(4, 2, 3) / np.sqrt(3)
    np.testing.assert_allclose(
        float(supcon_loss(same, torch.tensor([0, 0, 1, 1]), 0.5)), np.log(7), rtol=1e-6
    )
    lonely = supcon_loss(torch.tensor(z[:3, :1]), torch.tensor([0, 1, 2]), 0.1)  # no anchor has a positive
    assert float(lonely) == 0.0


def test_square_views_of_any_size_and_augmentation_per_image():
    spec = ViewSpec(16, crop_pct=1.0)
    rng = np.random.default_rng(0)
    for shape in ((8, 8, 3), (33, 47, 3), (200, 31, 3), (1, 1, 3)):
        assert square_view(rng.integers(0, 256, shape, dtype=np.uint8), spec).shape == (16, 16, 3)
    image = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    assert np.array_equal(square_view(image, spec), image)  # already the right size: untouched
    images = rng.integers(0, 256, (3, 16, 16, 3), dtype=np.uint8)
    assert Augmentation().batch(images, [0, 1, 2], seed=0, epoch=1) is images  # inactive: identity
    augment = Augmentation(crop_scale=0.5, flip=True, jpeg_probability=0.5, jpeg_quality=40)
    batch = augment.batch(images, [4, 9, 2], seed=3, epoch=2)
    alone = augment.batch(images[1:2], [9], seed=3, epoch=2)
    assert np.array_equal(batch[1], alone[0])  # an image is augmented the same way in any batch
    assert not np.array_equal(batch, augment.batch(images, [4, 9, 2], seed=3, epoch=3))
    flips = Augmentation(flip=True).batch(np.repeat(images[:1], 8, axis=0), range(8), seed=0, epoch=0)
    mirrored = [np.array_equal(f, images[0][:, ::-1]) for f in flips]
    kept = [np.array_equal(f, images[0]) for f in flips]
    assert all(m or k for m, k in zip(mirrored, kept)) and any(mirrored) and any(kept)
    with pytest.raises(ValueError, match=r"crop_scale must be in \(0, 1\], got 0"):
        Augmentation(crop_scale=0)


# -- detectors -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["saturate_cnn", "supcon"])
def test_registered_detectors_conform(name, default_host, tmp_path):
    entry = default_host.registry("detector").get(name)
    assert entry.metadata["requires"] == "torch" and "trainable" in entry.tags
    check_entry(entry, tmp_path / "saved")


def test_listing_the_plugin_imports_no_torch():
    code = textwrap.dedent(
        """
        import sys
        import negate_sdk
        from negate_sdk.plugins import PluginHost, use_host
        host = PluginHost()
        host.load_entrypoints(only=["negate_trainable"])
        with use_host(host):
            print(negate_sdk.list_detectors(), "torch" in sys.modules)
        """
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "['saturate_cnn', 'supcon'] False"


@pytest.mark.parametrize("view", ["rgb", "both"])
def test_saturate_cnn_learns_an_upsampling_trace(view):
    train, test = toy(64, seed=0), toy(40, seed=1)
    detector = SaturateCNN(view=view, epochs=4, patience=None, **FAST).fit(train)
    # the network ranks unseen images almost perfectly; the decision point comes from a Platt fit on only
    # 12 validation images, so accuracy is looser than the ranking
    assert roc_auc_score(labels(test), detector.predict_proba(test)[:, 1]) >= 0.97
    assert np.mean(detector.predict(test) == labels(test)) >= 0.85
    assert detector.validation_metrics_["n"] == 12 and detector.training_info_["n_train"] == 52
    t = detector.thresholds
    assert 0.0 <= t.t_genuine <= t.t_synthetic <= 1.0 and t.t_decision == 0.5
    verdicts = detector.verdicts(test)
    assert [v.label for v in verdicts] == [t.label(s) for s in detector.predict_proba(test)[:, 1]]


def test_fit_is_seeded_and_deterministic_on_cpu():
    train, test = toy(24, seed=2), toy(8, seed=3)
    params = {"epochs": 2, "patience": None, "flip": True, "crop_scale": 0.7, **FAST}
    first = SaturateCNN(**params).fit(train).raw_scores(test)
    again = SaturateCNN(**params).fit(train).raw_scores(test)
    other = SaturateCNN(**params, random_state=1).fit(train).raw_scores(test)
    assert np.array_equal(first, again)
    assert not np.allclose(first, other)


def test_progress_goes_to_the_callback_or_to_stderr(capsys):
    calls = []
    SaturateCNN(epochs=2, patience=None, **FAST).fit(toy(12, seed=14), progress=lambda *c: calls.append(c))
    stages = {}
    for stage, advance, total in calls:
        done, _ = stages.get(stage, (0, total))
        stages[stage] = (done + advance, total)
    # 12 images: 2 for validation, 10 for training in batches of 8 and 2
    assert stages == {
        "prepare images": (12, 12),
        "saturate_cnn epoch 1/2": (2, 2),
        "saturate_cnn epoch 2/2": (2, 2),
    }
    SaturateCNN(epochs=1, **{**FAST, "verbose": True}).fit(toy(12, seed=14))
    err = capsys.readouterr().err
    assert "saturate_cnn epoch 1/1: loss=" in err and "val_auc=" in err and "(best)" in err


def test_a_time_budget_cut_inside_an_epoch_keeps_the_weights_as_they_stand(tmp_path):
    detector = SaturateCNN(epochs=3, patience=None, max_minutes=1e-6, **FAST).fit(toy(24, seed=7))
    info = detector.training_info_
    assert info["stopped_by_budget"] is True and not info["stopped_early"]
    assert [(h["epoch"], h["train_loss"]) for h in info["history"]] == [(1, None)]  # cut short, then judged
    detector.save(tmp_path / "model")
    assert read_card(tmp_path / "model")["training"]["stopped_by_budget"] is True
    assert detector.describe()["training"]["stopped_by_budget"] is True  # what results.json records
    assert np.isfinite(load_detector(tmp_path / "model").raw_scores(toy(4, seed=8))).all()
    with pytest.raises(ValueError, match="max_minutes must be a positive number"):
        SaturateCNN(epochs=1, max_minutes=0, **FAST).fit(toy(12, seed=7))


class TenSecondsPerCall:
    """A clock for the training loop that moves 10 s at every reading."""

    def __init__(self):
        self.now = 0.0

    def perf_counter(self):
        self.now += 10.0
        return self.now


def test_a_time_budget_does_not_begin_an_epoch_that_would_end_past_it(monkeypatch):
    from negate_sdk.runtime import training

    monkeypatch.setattr(training, "time", TenSecondsPerCall())
    # 10 training images in batches of 8 and 2: an epoch reads the clock 4 times (30 s); the budget is 60 s
    detector = SaturateCNN(epochs=5, patience=None, max_minutes=1.0, **FAST).fit(toy(12, seed=9))
    info = detector.training_info_
    assert info["stopped_by_budget"] is True
    assert [h["epoch"] for h in info["history"]] == [1]
    assert info["history"][0]["train_loss"] is not None  # a whole epoch
    unbounded = SaturateCNN(epochs=2, patience=None, **FAST).fit(toy(12, seed=9)).training_info_
    assert unbounded["stopped_by_budget"] is False and len(unbounded["history"]) == 2


def test_supcon_input_size_follows_small_training_images(tmp_path):
    from negate_trainable.supcon import auto_input_size

    def arrays(side, n=9):
        return [Sample.from_array(np.zeros((side, side + 7, 3), dtype=np.uint8)) for _ in range(n)]

    assert auto_input_size(arrays(32), 0) == 64  # CIFAKE: twice 32
    assert auto_input_size(arrays(50), 0) == 128  # 100 rounded up to a multiple of 32
    assert auto_input_size(arrays(112), 0) is None  # 224 or more: the backbone's own size
    path = tmp_path / "small.png"
    Image.fromarray(np.zeros((40, 90, 3), dtype=np.uint8)).save(path)
    files = [Sample.from_path(path) for _ in range(3)] + [Sample.from_bytes(b"not an image")]
    assert auto_input_size(files, 0) == 96  # from the headers; the unreadable one is skipped
    assert not files[0].is_decoded


class Interrupt(Exception):
    """Stands for Ctrl-C in the middle of a fit."""


def test_an_interrupted_fit_resumes_from_the_last_completed_epoch(tmp_path):
    train, test = toy(24, seed=4), toy(8, seed=5)
    params = {"epochs": 3, "patience": None, "flip": True, **FAST}
    uninterrupted = SaturateCNN(**params).fit(train)

    def stop_in_epoch_3(stage, advance, total):
        if stage == "saturate_cnn epoch 3/3":
            raise Interrupt

    checkpoints = tmp_path / "ckpt"
    with pytest.raises(Interrupt):
        SaturateCNN(**params, checkpoint_dir=str(checkpoints)).fit(train, progress=stop_in_epoch_3)
    state = json.loads((checkpoints / "state.json").read_text())
    assert (state["epoch"], state["finished"]) == (2, False)
    best = f"best-{state['best_epoch']:04d}.safetensors"
    assert sorted(p.name for p in checkpoints.iterdir()) == [best, "epoch-0002.safetensors", "state.json"]
    resumed = SaturateCNN(**params, checkpoint_dir=str(checkpoints)).fit(train)
    assert resumed.training_info_["resumed_from_epoch"] == 3
    assert [h["epoch"] for h in resumed.training_info_["history"]] == [1, 2, 3]
    assert resumed.training_info_["history"] == [
        {**h, "seconds": r["seconds"]}
        for h, r in zip(uninterrupted.training_info_["history"], resumed.training_info_["history"])
    ]
    assert np.array_equal(resumed.raw_scores(test), uninterrupted.raw_scores(test))
    finished = SaturateCNN(**params, checkpoint_dir=str(checkpoints)).fit(train)  # nothing left to train
    assert finished.training_info_["resumed_from_epoch"] == 4
    assert np.array_equal(finished.raw_scores(test), uninterrupted.raw_scores(test))
    with pytest.raises(ValueError, match="holds a checkpoint of another training run"):
        SaturateCNN(**params, checkpoint_dir=str(checkpoints)).fit(toy(24, seed=6))


def test_saved_detector_is_a_card_and_safetensors(tmp_path):
    train, test = toy(16, seed=7), toy(6, seed=8)
    detector = SaturateCNN(epochs=1, **FAST).fit(train)
    detector.set_training_info(trained_on=["toy"])
    path = detector.save(tmp_path / "cnn")
    assert sorted(p.name for p in path.iterdir()) == ["detector.json", "model.safetensors"]
    card = read_card(path)
    assert (card["detector"], card["composite"], card["trained_on"]) == ("saturate_cnn", False, ["toy"])
    assert card["params"]["view"] == "inverted" and card["training"]["n_train"] == 12
    loaded = load_detector(path)
    assert isinstance(loaded, SaturateCNN)
    np.testing.assert_array_equal(loaded.predict_proba(test), detector.predict_proba(test))
    with pytest.raises(ArtifactError, match="the card is for detector 'saturate_cnn', not 'supcon'"):
        SupConDetector.load(path)
    broken = Sample.from_bytes(b"GIF89a but not really", id="broken")
    verdict = loaded.verdicts([broken, test[0]])
    assert verdict[0].error and verdict[0].label is Label.UNCERTAIN and verdict[1].error is None
    with pytest.raises(ValueError, match="training needs at least 4 images of each class; got 3 real"):
        SaturateCNN(**FAST).fit(toy(6, seed=9) + toy(2, seed=10)[1:])


def test_supcon_with_generator_classes_and_the_offline_backbone(tmp_path):
    gens = ("gen-a", "gen-b")
    train, test = toy(48, seed=11, size=32, generators=gens), toy(24, seed=12, size=32, generators=gens)
    detector = SupConDetector(
        classes="generator", image_size=32, epochs=1, batch_size=16, verbose=False, device="cpu"
    )
    groups = detector._groups(train, labels(train))
    assert sorted(set(zip(labels(train), [s.generator for s in train], groups))) == [
        (0, "none", 0), (1, "gen-a", 1), (1, "gen-b", 2)
    ]  # fmt: skip
    detector.fit(train)
    assert detector.embed_dim_ == 1280 and detector.view_.size == 32
    assert roc_auc_score(labels(test), detector.predict_proba(test)[:, 1]) >= 0.93
    assert np.mean(detector.predict(test) == labels(test)) >= 0.8
    path = detector.save(tmp_path / "supcon")
    card = read_card(path)
    assert card["model"]["embed_dim"] == 1280 and card["params"]["classes"] == "generator"
    np.testing.assert_allclose(
        load_detector(path).predict_proba(test), detector.predict_proba(test), rtol=1e-6
    )


def test_supcon_refuses_a_backbone_that_is_not_a_network():
    detector = SupConDetector(backbone="example_colour_moments", **FAST)
    with pytest.raises(ValueError, match="backbone 'example_colour_moments'"):
        detector.fit(toy(10, seed=13))
    assert negate_sdk.is_extractor("example_colour_moments")
