"""A conformance suite every registered component is run through (ours and third parties').

Each ``check_*`` function exercises one contract from :mod:`negate_sdk.api` and raises
``AssertionError`` with a message naming the broken rule. Plugin authors run it in their own tests::

    from negate_sdk.conformance import check_entry
    check_entry(negate_sdk.get_extractor("my_extractor"), tmp_path)

The images are generated (gradients, noise, stripes, a checkerboard; square and not, 8 px to 96 px) so
the suite needs no files and no network. A component whose normal configuration needs large weights
declares small offline ``test_params`` in its registry metadata; the suite uses them.
"""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from negate_sdk.api import Label, Sample, Thresholds, Verdict, VetoDecision, VetoEffect
from negate_sdk.registry import Entry

SHAPES = ((8, 8), (33, 47), (64, 64), (96, 72), (40, 90), (72, 96), (64, 48), (17, 23))


def conformance_samples(n: int = 8, seed: int = 0) -> list[Sample]:
    """``n`` labelled samples of varied content and shape; odd indices are labelled synthetic.

    The synthetic half is smoother (blurred noise) than the real half (sharp noise plus structure), so a
    detector that learns anything can separate them on this toy set.
    """
    rng = np.random.default_rng(seed)
    samples = []
    for i in range(n):
        h, w = SHAPES[i % len(SHAPES)]
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
        base = 128 + 60 * np.sin(2 * np.pi * (xx / max(w, 1) * (1 + i % 3) + yy / max(h, 1)))
        noise = rng.normal(0, 25, size=(h, w, 3))
        if i % 2:  # synthetic: smooth noise (a 3x3 box blur, done with cumulative sums)
            padded = np.pad(noise, ((1, 1), (1, 1), (0, 0)), mode="edge")
            noise = sum(padded[dy : dy + h, dx : dx + w] for dy in range(3) for dx in range(3)) / 9.0
        else:  # real: add a checkerboard of fine structure
            noise += 20 * (((xx // 2 + yy // 2) % 2)[..., None] - 0.5)
        tint = np.array([1.0, 0.9 + 0.05 * (i % 3), 0.8 + 0.1 * (i % 2)])
        pixels = np.clip(base[..., None] * tint + noise, 0, 255).astype(np.uint8)
        samples.append(Sample.from_array(pixels, id=f"conformance-{i}", label=i % 2, generator=None))
    return samples


def _params_equal(a: Any, b: Any) -> bool:
    if hasattr(a, "get_params") and hasattr(b, "get_params"):
        return type(a) is type(b) and _params_equal(a.get_params(deep=False), b.get_params(deep=False))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_params_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_params_equal(x, y) for x, y in zip(a, b))
    try:
        return bool(a == b)
    except Exception:
        return a is b


def check_params(component: Any) -> None:
    """scikit-learn's parameter rules: ``get_params`` round-trips through the constructor and ``clone``."""
    from sklearn.base import clone

    assert hasattr(component, "get_params") and hasattr(component, "set_params"), (
        f"{type(component).__name__} lacks get_params/set_params"
    )
    params = component.get_params(deep=False)
    rebuilt = type(component)(**params)
    assert _params_equal(rebuilt.get_params(deep=False), params), "constructor does not store its parameters"
    cloned = clone(component)
    assert _params_equal(cloned.get_params(deep=False), params), "clone changes parameters"
    assert component.set_params(**params) is component, "set_params must return self"


def _read_only_pixels(samples: Sequence[Sample]) -> list[np.ndarray]:
    """Decode each sample, make its cached pixels read-only and return a copy of them to compare later."""
    snapshot = []
    for sample in samples:
        pixels = sample.pixels
        pixels.flags.writeable = False
        snapshot.append(pixels.copy())
    return snapshot


def _transform(extractor: Any, samples: Sequence[Sample]) -> Any:
    """``extractor.transform(samples)``, a write into the read-only pixels reported as the broken rule."""
    try:
        return extractor.transform(samples)
    except ValueError as err:
        if "read-only" not in str(err):
            raise
        raise AssertionError(f"transform must not write into the input pixels ({err})") from err


def check_extractor(extractor: Any, samples: Sequence[Sample] | None = None) -> None:
    """Extractor contract: shapes, dtype, finiteness, names, determinism, batch = one at a time, and
    the input pixels left untouched (they are handed over read-only)."""
    samples = list(samples or conformance_samples())
    snapshot = _read_only_pixels(samples)
    assert isinstance(extractor.name, str) and extractor.name, "extractor needs a non-empty name"
    assert isinstance(extractor.version, str) and extractor.version, "extractor needs a version string"
    key = extractor.cache_key
    assert isinstance(key, str) and key, "cache_key must be a non-empty string"
    assert copy.deepcopy(extractor).cache_key == key, "cache_key must be stable across copies"
    check_params(extractor)
    assert extractor.fit(samples) is extractor, "fit must return self"
    X = _transform(extractor, samples)
    changed = [s.id for s, before in zip(samples, snapshot) if not np.array_equal(s.pixels, before)]
    assert not changed, f"fit and transform must not change the input pixels (changed: {changed[0]})"
    names = list(extractor.get_feature_names_out())
    assert isinstance(X, np.ndarray) and X.dtype == np.float32, f"transform must give float32, got {type(X)}"
    assert X.shape == (len(samples), len(names)), f"shape {X.shape} != ({len(samples)}, {len(names)} names)"
    assert len(names) > 0, "an extractor must produce at least one feature"
    assert all(isinstance(n, str) and n for n in names), "feature names must be non-empty strings"
    assert len(set(names)) == len(names), "feature names must be unique"
    assert np.isfinite(X).all(), (
        f"non-finite features: {[names[j] for j in np.where(~np.isfinite(X).all(0))[0]]}"
    )
    assert np.array_equal(_transform(extractor, samples), X), "transform must be deterministic"
    one_by_one = np.vstack([_transform(extractor, [s]) for s in samples])
    np.testing.assert_allclose(one_by_one, X, rtol=1e-4, atol=1e-5, err_msg="batch != one-at-a-time")
    empty = extractor.transform([])
    assert empty.shape == (0, len(names)), f"an empty batch must give (0, {len(names)}), got {empty.shape}"


def check_classifier(classifier: Any) -> None:
    """Classifier contract: scikit-learn binary classifier with ``predict_proba`` over classes [0, 1]."""
    check_params(classifier)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 5))
    y = (X[:, 0] + 0.3 * X[:, 1] > 0).astype(int)
    assert classifier.fit(X, y) is classifier, "fit must return self"
    assert list(classifier.classes_) == [0, 1], f"classes_ must be [0, 1], got {classifier.classes_}"
    proba = classifier.predict_proba(X)
    assert proba.shape == (80, 2), f"predict_proba shape {proba.shape} != (80, 2)"
    assert np.all((proba >= 0) & (proba <= 1)), "probabilities outside [0, 1]"
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6, err_msg="rows must sum to 1")
    accuracy = np.mean((proba[:, 1] >= 0.5) == y)
    assert accuracy >= 0.8, f"fails to learn a linearly separable problem (train accuracy {accuracy:.2f})"


def check_veto(veto: Any, samples: Sequence[Sample] | None = None) -> None:
    """Veto contract: a decision in {-1, 0, 1} with a reason for each sample; a declared effect."""
    samples = list(samples or conformance_samples())
    assert VetoEffect(veto.effect) in VetoEffect, "a veto declares effect 'downgrade' or 'raise'"
    check_params(veto)
    assert veto.fit(samples) is veto, "fit must return self"
    decisions = veto.decide(samples)
    assert len(decisions) == len(samples), "one decision per sample"
    assert all(isinstance(d, VetoDecision) for d in decisions), "decide returns VetoDecision objects"
    assert all(d.value in (-1, 0, 1) for d in decisions), "decisions are -1, 0 or 1"
    assert all(isinstance(d.reason, str) for d in decisions), "every decision carries a reason string"
    allowed = {VetoEffect.DOWNGRADE: (-1, 0), VetoEffect.RAISE: (-1, 1)}[VetoEffect(veto.effect)]
    assert all(d.value in allowed for d in decisions), f"a '{veto.effect}' veto only returns {allowed}"
    predicted = veto.predict(samples)
    assert predicted.dtype == np.int8 and predicted.shape == (len(samples),), "predict gives (n,) int8"
    assert list(predicted) == [d.value for d in decisions], "predict must agree with decide"


def check_detector(
    detector: Any, directory: str | os.PathLike[str], samples: Sequence[Sample] | None = None
) -> None:
    """Detector contract: fit, probabilities, verdicts consistent with thresholds, save/load round trip."""
    from negate_sdk.detectors import load_detector

    samples = list(samples or conformance_samples(12))
    check_params(detector)
    takes_features = getattr(detector, "takes_features", None)
    assert isinstance(takes_features, bool), "a detector says whether it takes features (takes_features)"
    stages: list[str] = []
    fitted = detector.fit(samples, progress=lambda stage, advance, total: stages.append(stage))
    assert fitted is detector, "fit must return self"
    assert isinstance(detector.thresholds, Thresholds), "a fitted detector exposes its thresholds"
    described = detector.describe()
    assert isinstance(described.get("trained_on"), list), "describe() lists what it was trained on"
    proba = detector.predict_proba(samples)
    assert proba.shape == (len(samples), 2), f"predict_proba shape {proba.shape}"
    assert np.all((proba >= 0) & (proba <= 1)), "probabilities outside [0, 1]"
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6, err_msg="rows must sum to 1")
    predicted = detector.predict(samples)
    assert predicted.shape == (len(samples),) and set(np.unique(predicted)) <= {0, 1}, "predict gives 0/1"
    verdicts = detector.verdicts(samples)
    assert len(verdicts) == len(samples) and all(isinstance(v, Verdict) for v in verdicts)
    for verdict, score in zip(verdicts, proba[:, 1]):
        assert isinstance(verdict.label, Label), "a verdict's label is a Label"
        assert verdict.t_genuine <= verdict.t_synthetic, "t_genuine must not exceed t_synthetic"
        assert math.isclose(verdict.score, score, rel_tol=1e-6, abs_tol=1e-9), (
            "verdict score != predict_proba"
        )
        if verdict.novelty:  # unlike the training data: the reason is stated
            assert any(r.startswith("unlike the training data") for r in verdict.reasons)
        if verdict.novelty and not any(d.applied for d in verdict.vetoes):  # UNCERTAIN whatever the score
            assert verdict.label == Label.UNCERTAIN, "a verdict unlike the training data must be UNCERTAIN"
        elif not any(d.applied for d in verdict.vetoes):
            expected = (
                Label.SYNTHETIC
                if score >= verdict.t_synthetic
                else Label.GENUINE
                if score < verdict.t_genuine
                else Label.UNCERTAIN
            )
            assert verdict.label == expected, f"label {verdict.label} inconsistent with score {score}"
    if takes_features:  # features supplied from a store must score exactly as features computed inside
        extractors = detector.feature_extractors()
        X = np.hstack([e.transform(samples) for e in extractors]).astype(np.float32)
        np.testing.assert_allclose(detector.predict_proba(samples, features=X), proba, rtol=1e-6,
                                   err_msg="features= must give the scores of the extractors")  # fmt: skip
    one_by_one = np.vstack([detector.predict_proba([s]) for s in samples])
    # float32 networks may pick other kernels per batch size: equal to float32 accuracy, not bitwise
    np.testing.assert_allclose(one_by_one, proba, rtol=1e-3, atol=1e-5, err_msg="batch != one-at-a-time")
    path = Path(directory)
    detector.save(path)
    loaded = load_detector(path)
    np.testing.assert_allclose(
        loaded.predict_proba(samples), proba, rtol=1e-6, atol=1e-9, err_msg="save/load"
    )


def check_entry(entry: Entry, directory: str | os.PathLike[str]) -> None:
    """Create the component of a registry entry (with its ``test_params``) and run its kind's checks."""
    params = dict(entry.metadata.get("test_params", {}))
    component = entry.load()(**params)
    if entry.kind == "extractor":
        check_extractor(component)
    elif entry.kind == "classifier":
        check_classifier(component)
    elif entry.kind == "veto":
        check_veto(component)
    elif entry.kind == "detector":
        check_detector(component, directory)
    elif entry.kind == "dataset":
        check_dataset(component)


def check_dataset(dataset: Any, n_images: int = 2) -> None:
    """Dataset contract: a :class:`negate_sdk.manifests.Manifest` of canonical rows whose hash, splits,
    filters, seeded sampling and lazy samples behave; decodes ``n_images`` images of each label."""
    import pickle
    from dataclasses import replace

    from negate_sdk.manifests import Manifest, ManifestHeader, ManifestRow
    from negate_sdk.manifests.schema import REAL_GENERATOR, is_sha256

    assert isinstance(dataset, Manifest), (
        f"a dataset factory returns a Manifest, got {type(dataset).__name__}"
    )
    assert isinstance(dataset.header, ManifestHeader), "manifest.header must be a ManifestHeader"
    rows = dataset.rows
    assert isinstance(rows, list) and rows, "manifest.rows must be a non-empty list"
    assert all(isinstance(r, ManifestRow) for r in rows), "every row must be a ManifestRow"
    assert len({r.sample_id for r in rows}) == len(rows), "sample ids must be unique"
    for row in rows:
        assert row.label in (0, 1), f"{row.sample_id}: label {row.label!r} is not 0 or 1"
        assert (row.generator_id == REAL_GENERATOR) == (row.label == 0), (
            f"{row.sample_id}: real rows have generator '{REAL_GENERATOR}' and synthetic rows another"
        )
        assert row.source and row.split and row.locator, f"{row.sample_id}: empty source, split or locator"
        assert row.sha256 is None or is_sha256(row.sha256), f"{row.sample_id}: malformed sha256"
    digest = dataset.content_hash
    assert is_sha256(digest), "content_hash must be 64 hex digits"
    assert Manifest(dataset.header, rows[::-1]).content_hash == digest, (
        "content_hash must not depend on row order"
    )
    flipped = replace(rows[0], label=1 - rows[0].label)
    assert Manifest(dataset.header, [flipped, *rows[1:]]).content_hash != digest, (
        "content_hash ignores labels"
    )
    assert dataset.provenance()["content_hash"] == digest, "provenance() must cite the content hash"
    splits = dataset.splits()
    assert sum(splits.values()) == len(rows), "splits() must count every row once"
    for split, n in splits.items():
        assert dataset.filter(split=split).splits() == {split: n}, f"filter(split={split!r}) is wrong"
    limit = max(1, len(rows) // 2)
    first, second = dataset.sample(limit, seed=0), dataset.sample(limit, seed=0)
    assert [r.sample_id for r in first] == [r.sample_id for r in second], "sample() must be deterministic"
    assert len(first) == limit, f"sample({limit}) gave {len(first)} rows"
    ids = {r.sample_id for r in rows}
    assert {r.sample_id for r in first} <= ids, "sample() must return rows of the manifest"
    n_strata = len({(r.label, r.source, r.generator_id) for r in rows})
    for label in (0, 1):
        share = sum(r.label == label for r in rows) * limit / len(rows)
        got = sum(r.label == label for r in first)
        assert abs(got - share) <= n_strata, f"sample() is not stratified by label ({got} vs {share:.1f})"
    for label in (0, 1):
        for row in [r for r in rows if r.label == label][:n_images]:
            sample = dataset.to_sample(row, trust_sha256=False)
            assert (sample.id, sample.label, sample.generator, sample.source, sample.split) == (
                row.sample_id, row.label, row.generator_id, row.source, row.split,
            ), f"{row.sample_id}: the Sample's fields differ from the row's"  # fmt: skip
            pixels = sample.pixels
            assert pixels.dtype == np.uint8 and pixels.ndim == 3 and pixels.shape[2] == 3, (
                "pixels are (h, w, 3)"
            )
            if row.sha256 is not None:
                assert sample.sha256 == row.sha256, (
                    f"{row.sample_id}: sha256 of the bytes differs from the row's"
                )
            if row.width is not None:
                meta = sample.metadata
                assert (meta.width, meta.height) == (row.width, row.height), f"{row.sample_id}: size differs"
            sample.release()
            assert np.array_equal(sample.pixels, pixels), "pixels must be re-read identically after release()"
            copy_ = pickle.loads(pickle.dumps(sample))
            assert np.array_equal(copy_.pixels, pixels), "a pickled sample must decode to the same pixels"
