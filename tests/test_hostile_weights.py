"""Hostile weight files and head states: names, bounded reads, strict JSON, safetensors, skops models.

A detector card's sha256 proves nothing when the attacker wrote the card, so each case below is a file or
state an attacker could write; each must be refused with one ArtifactError line naming what is wrong.
"""

from __future__ import annotations

import json
import os
import struct
import time
import tracemalloc

import numpy as np
import pytest

import negate_sdk
from negate_sdk.artifacts import ArtifactError, save_skops
from negate_sdk.weightfiles import (
    artifact_path,
    check_calibrator_state,
    check_safetensors,
    float_array,
    load_safetensors_torch,
    read_bytes,
    read_json,
    read_safetensors,
)

N = 5


def xor_data(n=200, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, N))
    return X, ((X[:, 0] > 0) ^ (X[:, 1] > 0)).astype(int)


def refused(call, fragment):
    """Run ``call``; it must raise ArtifactError whose one-line message contains ``fragment``; return it."""
    with pytest.raises(ArtifactError) as err:
        call()
    message = str(err.value)
    assert fragment in message and "\n" not in message, message
    return message


# -- file names and reads --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "../classifier.json",
        "sub/classifier.json",
        "sub\\classifier.json",
        "/etc/passwd",
        "..",
        ".",
        "a..json",
        "classifier.json\x00.txt",
        "C:classifier.json",
        "line\nbreak.json",
    ],
)
def test_weight_file_names_must_be_plain(tmp_path, name):
    message = refused(lambda: artifact_path(tmp_path, name), "is not a plain file name")
    assert message == f"{tmp_path}: weight file name {name!r} is not a plain file name"


@pytest.mark.parametrize("name", ["", None, 7, ["a.json"]])
def test_weight_file_names_must_be_strings(tmp_path, name):
    refused(lambda: artifact_path(tmp_path, name), f"weight file name {name!r} is not a non-empty string")


def test_weight_files_must_be_regular_files_inside_the_folder(tmp_path):
    (tmp_path / "real.json").write_text("{}")
    assert artifact_path(tmp_path, "real.json") == tmp_path / "real.json"
    (tmp_path / "link.json").symlink_to(tmp_path / "real.json")  # even pointing inside
    refused(
        lambda: artifact_path(tmp_path, "link.json"),
        "link.json: weight file is a symlink, not a regular file",
    )
    (tmp_path / "folder.json").mkdir()
    refused(
        lambda: artifact_path(tmp_path, "folder.json"), "folder.json: weight file is a folder, not a regular"
    )
    os.mkfifo(tmp_path / "pipe.json")
    started = time.perf_counter()
    refused(
        lambda: artifact_path(tmp_path, "pipe.json"), "pipe.json: weight file is a FIFO, not a regular file"
    )
    refused(
        lambda: read_bytes(tmp_path / "pipe.json"), "pipe.json: weight file is a FIFO, not a regular file"
    )
    assert time.perf_counter() - started < 1.0  # opening a FIFO for reading would block forever
    refused(lambda: artifact_path(tmp_path, "absent.json"), "absent.json: weight file is missing")


def test_reads_are_bounded_and_refuse_devices(tmp_path):
    (tmp_path / "big.bin").write_bytes(bytes(100))
    assert refused(lambda: read_bytes(tmp_path / "big.bin", max_bytes=10), "100 bytes") == (
        f"{tmp_path / 'big.bin'}: 100 bytes, more than the 10 allowed"
    )
    started = time.perf_counter()
    refused(
        lambda: read_bytes("/dev/zero"), "/dev/zero: weight file is a character device, not a regular file"
    )
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('{"a": NaN}', "not valid JSON (NaN is not a number JSON allows)"),
        ('{"a": -Infinity}', "not valid JSON (-Infinity is not a number JSON allows)"),
        ('{"a": 1, "a": 2}', "not valid JSON (duplicate key 'a')"),
        ("[" * 100_000 + "]" * 100_000, "JSON nested too deeply"),
        ('{"a": 1', "not valid JSON (Expecting ',' delimiter at line 1 column 8)"),
        ("1" * 5000, "not valid JSON (Exceeds the limit (4300 digits)"),
        (b"\xff\xfe{}", "not UTF-8 text (byte 0)"),
    ],
)
def test_json_is_strict(tmp_path, text, fragment):
    path = tmp_path / "state.json"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    refused(lambda: read_json(path), fragment)


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ([1.0, 2.0], "w: shape (2,) where (3,) was expected"),
        ([[1.0], [2.0], [3.0]], "w: shape (3, 1) where (3,) was expected"),
        (
            [1.0, [2.0], 3.0],
            "w: holds values that are not numbers",
        ),
        ([1.0, "2", 3.0], "w: holds values that are not numbers"),
        ([1.0, True, 3.0], "w: holds values that are not numbers"),
        ([1.0, None, 3.0], "w: holds values that are not numbers"),
        ([1.0, 1e999, 3.0], "w: holds NaN or infinite values"),
        ([1.0, 10**400, 3.0], "w: holds a number too large for float64"),
    ],
)
def test_float_arrays_have_an_exact_shape_and_finite_numbers(value, fragment):
    refused(lambda: float_array(value, "w", (3,)), fragment)


def test_float_arrays_pass_exact_values():
    np.testing.assert_array_equal(float_array([1, 2.5, -3], "w", (3,)), [1.0, 2.5, -3.0])


# -- safetensors -----------------------------------------------------------------------------------


def safetensors_bytes(header, data=b"", *, length=None, pad=b""):
    raw = json.dumps(header) if not isinstance(header, (bytes, str)) else header
    raw = (raw.encode() if isinstance(raw, str) else raw) + pad
    return struct.pack("<Q", len(raw) if length is None else length) + raw + data


GOOD_HEADER = {
    "__metadata__": {"format": "pt"},
    "w": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]},
    "b": {"dtype": "BF16", "shape": [2], "data_offsets": [24, 28]},
    "empty": {"dtype": "I64", "shape": [0, 4], "data_offsets": [28, 28]},
    "k": {"dtype": "I16", "shape": [2], "data_offsets": [28, 32]},
}
GOOD_DATA = (
    np.arange(6, dtype="<f4").tobytes()
    + np.array([0x3FC0, 0xC000], "<u2").tobytes()  # bfloat16 1.5 and -2.0
    + np.array([-7, 300], "<i2").tobytes()
)


def test_a_well_formed_safetensors_file_is_read_exactly_without_torch(tmp_path):
    path = tmp_path / "w.safetensors"
    path.write_bytes(safetensors_bytes(GOOD_HEADER, GOOD_DATA, pad=b"   "))
    tensors = read_safetensors(path)
    assert list(tensors) == ["w", "b", "empty", "k"]
    np.testing.assert_array_equal(tensors["w"], np.arange(6, dtype=np.float32).reshape(2, 3))
    np.testing.assert_array_equal(tensors["b"], np.array([1.5, -2.0], np.float32))
    assert tensors["b"].dtype == np.float32 and tensors["empty"].shape == (0, 4)
    np.testing.assert_array_equal(tensors["k"], np.array([-7, 300], np.int16))
    entries = check_safetensors(path)
    header_end = 8 + len(json.dumps(GOOD_HEADER)) + 3
    assert (entries["w"].start, entries["w"].end, entries["k"].end) == (
        header_end,
        header_end + 24,
        header_end + 32,
    )


def test_the_reference_loader_agrees_on_a_checked_file(tmp_path):
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    tensors = {"a": np.arange(12, dtype=np.float64).reshape(3, 4), "c": np.array([1, 2], np.uint8)}
    path = tmp_path / "ref.safetensors"
    safetensors_numpy.save_file(tensors, str(path))
    ours = read_safetensors(path)
    for name, value in tensors.items():
        np.testing.assert_array_equal(ours[name], value)
        assert ours[name].dtype == value.dtype


@pytest.mark.parametrize(
    ("build", "fragment"),
    [
        (
            lambda: safetensors_bytes(GOOD_HEADER, GOOD_DATA, length=2**62),
            "header length 4611686018427387904 exceeds",
        ),
        (
            lambda: safetensors_bytes(GOOD_HEADER, GOOD_DATA, length=10**6),
            "header length 1000000 exceeds the file",
        ),
        (lambda: b"\x01\x02\x03", "3 bytes, too short for a safetensors header"),
        (lambda: safetensors_bytes(b"[1, 2]"), "safetensors header does not start with '{'"),
        (lambda: safetensors_bytes(b'{"w": '), "safetensors header: not valid JSON (Expecting value"),
        (
            lambda: safetensors_bytes("{" + '"a":' * 1 + "[" * 50_000 + "]" * 50_000 + "}"),
            "JSON nested too deeply",
        ),
        (lambda: safetensors_bytes(b'{"w": {}, "w": {}}'), "not valid JSON (duplicate key 'w')"),
        (
            lambda: safetensors_bytes(
                {"w": {"dtype": "F128", "shape": [1], "data_offsets": [0, 16]}}, bytes(16)
            ),
            "tensor 'w' has unknown dtype 'F128'",
        ),
        (
            lambda: safetensors_bytes(
                {"w": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 20]}}, bytes(20)
            ),
            "tensor 'w' of shape (2, 3) F32 needs 24 bytes but spans 20",
        ),
        (
            lambda: safetensors_bytes(
                {"w": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}, bytes(4)
            ),
            "tensor 'w' has an invalid shape [-1]",
        ),
        (
            lambda: safetensors_bytes(
                {"w": {"dtype": "F32", "shape": [1], "data_offsets": [8, 4]}}, bytes(8)
            ),
            "tensor 'w' has invalid data_offsets [8, 4]",
        ),
        (
            lambda: safetensors_bytes(
                {
                    "w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                    "v": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]},
                },
                bytes(12),
            ),
            "tensor 'v' at offset 4 overlaps the previous tensor",
        ),
        (
            lambda: safetensors_bytes(
                {"w": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, bytes(8)
            ),
            "tensor 'w' at offset 4 leaves a gap before it",
        ),
        (
            lambda: safetensors_bytes(
                {"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}, bytes(9)
            ),
            "tensors cover 4 bytes but the data buffer holds 9 (trailing bytes)",
        ),
        (
            lambda: safetensors_bytes(GOOD_HEADER, GOOD_DATA[:-1]),
            "tensors cover 32 bytes but the data buffer holds 31",
        ),
        (
            lambda: safetensors_bytes({"__metadata__": {"a": 1}}),
            "safetensors __metadata__ is not a map of strings",
        ),
        (
            lambda: safetensors_bytes(
                {"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4], "x": 1}}, bytes(4)
            ),
            "tensor 'w' needs exactly dtype, shape and data_offsets",
        ),
    ],
)
def test_malformed_safetensors_are_refused_before_any_loader(tmp_path, build, fragment):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(build())
    tracemalloc.start()
    message = refused(lambda: read_safetensors(path), fragment)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert message.startswith(f"{path}: ")
    assert peak < 4 * path.stat().st_size + 2_000_000  # a claimed 2^62-byte header allocates nothing


def test_the_torch_loader_runs_only_on_checked_files(tmp_path):
    torch = pytest.importorskip("torch")
    path = tmp_path / "w.safetensors"
    path.write_bytes(safetensors_bytes(GOOD_HEADER, GOOD_DATA))
    tensors = load_safetensors_torch(path)
    assert tensors["b"].dtype == torch.bfloat16 and tensors["b"].float().tolist() == [1.5, -2.0]
    path.write_bytes(safetensors_bytes(GOOD_HEADER, GOOD_DATA, length=2**62))
    refused(lambda: load_safetensors_torch(path), "header length 4611686018427387904 exceeds")


# -- JSON head state: logistic, SVM scaler, calibrators ---------------------------------------------


@pytest.fixture(scope="module")
def saved_heads(tmp_path_factory):
    """``{name: (folder, state, head)}`` for every head, fitted on the same data and saved."""
    X, y = xor_data()
    small = {
        "random_forest": {"n_estimators": 5},
        "lightgbm": {"n_estimators": 5},
        "xgboost": {"n_estimators": 5},
    }
    out = {}
    for name in ["logistic", "svm", "random_forest", "lightgbm", "xgboost", "ensemble"]:
        head = negate_sdk.create_classifier(name, **small.get(name, {}))
        if name == "ensemble":
            head.set_params(lightgbm__n_estimators=5, random_forest__n_estimators=5)
        head.fit(X, y)
        folder = tmp_path_factory.mktemp(name)
        out[name] = (folder, head.save_weights(folder, "classifier"), head)
    return out


def copy_folder(source, target):
    for path in source.iterdir():
        (target / path.name).write_bytes(path.read_bytes())
    return target


def logistic_case(saved_heads, tmp_path, arrays):
    folder, state, head = saved_heads["logistic"]
    copy_folder(folder, tmp_path)
    (tmp_path / state["file"]).write_text(json.dumps(arrays) if not isinstance(arrays, str) else arrays)
    return lambda: type(head).load_weights(tmp_path, "classifier", state)


def test_logistic_arrays_are_checked(saved_heads, tmp_path):
    folder, state, head = saved_heads["logistic"]
    good = json.loads((folder / state["file"]).read_text())
    path = tmp_path / state["file"]
    cases = {
        "short coef": (
            {**good, "coef": good["coef"][:-1]},
            f"{path}: coef: shape (4,) where (5,) was expected",
        ),
        "nan literal": (json.dumps(good).replace(str(good["mean"][0]), "NaN", 1), "NaN is not a number JSON"),
        "overflow": (
            json.dumps({**good, "scale": [7.0] * N}).replace("7.0", "1e999"),
            f"{path}: scale: holds NaN or",
        ),
        "string": ({**good, "intercept": ["0.5"]}, f"{path}: intercept: holds values that are not numbers"),
        "missing": (
            {k: v for k, v in good.items() if k != "mean"},
            "not the arrays ['coef', 'intercept', 'mean', 'scale']",
        ),
        "zero scale": ({**good, "scale": [0.0] * N}, "scaler scale holds values that are not positive"),
        "not an object": ([1, 2], "holds list, not the arrays"),
    }
    for arrays, fragment in cases.values():
        refused(logistic_case(saved_heads, tmp_path, arrays), fragment)
    loaded = logistic_case(saved_heads, tmp_path, good)()
    X = xor_data(20, seed=4)[0]
    np.testing.assert_array_equal(loaded.predict_proba(X), head.predict_proba(X))


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (
            lambda s: {**s, "file": "../classifier.json"},
            "weight file name '../classifier.json' is not a plain file name",
        ),
        (
            lambda s: {**s, "file": "/etc/hostname"},
            "weight file name '/etc/hostname' is not a plain file name",
        ),
        (lambda s: {**s, "file": None}, "weight file name None is not a non-empty string"),
        (
            lambda s: {**s, "n_features_in": "5"},
            "logistic head: n_features_in: '5' is not an integer in [1, 10000000]",
        ),
        (lambda s: {**s, "n_features_in": True}, "n_features_in: True is not an integer"),
        (lambda s: {**s, "params": {"C": 1.0, "evil": 1}}, "logistic head: unknown parameters ['evil']"),
        (lambda s: [s], "logistic head: its state is not an object"),
    ],
)
def test_logistic_state_is_checked(saved_heads, tmp_path, change, fragment):
    folder, state, head = saved_heads["logistic"]
    copy_folder(folder, tmp_path)
    refused(lambda: type(head).load_weights(tmp_path, "classifier", change(state)), fragment)


def test_a_state_naming_a_symlink_or_fifo_is_refused_without_blocking(saved_heads, tmp_path):
    folder, state, head = saved_heads["svm"]
    copy_folder(folder, tmp_path)
    (tmp_path / "linked.safetensors").symlink_to(tmp_path / state["model"])
    refused(
        lambda: type(head).load_weights(tmp_path, "c", {**state, "model": "linked.safetensors"}),
        "is a symlink",
    )
    os.mkfifo(tmp_path / "pipe.safetensors")
    started = time.perf_counter()
    refused(
        lambda: type(head).load_weights(tmp_path, "c", {**state, "model": "pipe.safetensors"}), "is a FIFO"
    )
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize(
    ("state", "fragment"),
    [
        ({"method": "evil"}, "c: unknown calibration method 'evil'"),
        ({"method": "sigmoid", "a": 1.0}, "c: sigmoid calibrator needs exactly a, b, method"),
        (
            {"method": "sigmoid", "a": 1e999, "b": 0.0},
            "sigmoid calibrator a, b: holds NaN or infinite values",
        ),
        (
            {"method": "isotonic", "x": [0.5, 0.1], "y": [0.2, 0.9]},
            "knots are not increasing or values not in [0, 1]",
        ),
        (
            {"method": "isotonic", "x": [0.1, 0.5], "y": [0.2, 1.5]},
            "knots are not increasing or values not in [0, 1]",
        ),
        ({"method": "isotonic", "x": [0.1, 0.5], "y": [0.2]}, "isotonic calibrator y: shape (1,) where (2,)"),
        ({"method": "isotonic", "x": [], "y": []}, "isotonic calibrator needs between 1 and"),
        ({"method": "none", "extra": 1}, "none calibrator needs exactly method"),
    ],
)
def test_calibrator_states_are_checked(state, fragment):
    refused(lambda: check_calibrator_state(state, "c"), fragment)


def test_good_calibrator_states_pass_unchanged():
    for state in (
        {"method": "none"},
        {"method": "sigmoid", "a": 1.5, "b": -0.25},
        {"method": "isotonic", "x": [0, 1], "y": [0.1, 0.9]},
    ):
        assert check_calibrator_state(state, "c") is state


# -- SVM and random forest: numpy arrays in safetensors ---------------------------------------------


def rewrite_tensors(folder, state, **changes):
    """The head's safetensors file with arrays replaced (or removed, with None)."""
    from safetensors.numpy import save

    arrays = read_safetensors(folder / state["model"])
    arrays.update(changes)
    (folder / state["model"]).write_bytes(save({k: v for k, v in arrays.items() if v is not None}))


def test_a_tampered_svm_is_refused(saved_heads, tmp_path):
    folder, state, head = saved_heads["svm"]
    path = tmp_path / state["model"]
    n_sv = len(head.dual_coef_)

    def tampered(state=state, **arrays):
        copy_folder(folder, tmp_path)
        rewrite_tensors(tmp_path, state, **arrays)
        return lambda: type(head).load_weights(tmp_path, "classifier", state)

    refused(tampered(dual_coef=np.zeros(n_sv + 3)), "dual_coef is not finite float64 of shape")
    refused(tampered(support_vectors=np.zeros((n_sv, N + 1))), "support_vectors is not finite float64")
    refused(tampered(intercept=np.array([np.inf])), "intercept is not finite float64 of shape (1,)")
    refused(tampered(mean=None), "not an SVM's")
    refused(tampered(scale=np.zeros(N)), "scaler scale holds values that are not positive")
    bad_gamma = {**state, "kernel_params": {**state["kernel_params"], "gamma": float("nan")}}
    refused(tampered(bad_gamma), "gamma nan is not a finite non-negative number")
    refused(
        tampered({**state, "params": {**state["params"], "kernel": "precomputed"}}), "kernel 'precomputed'"
    )
    refused(tampered({**state, "kernel_params": {"gamma": 1.0}}), "kernel_params is not")
    copy_folder(folder, tmp_path)
    save_skops(tmp_path / "old.skops", {"a": 1})
    assert refused(
        lambda: type(head).load_weights(tmp_path, "classifier", {**state, "model": "old.skops"}), "retrain"
    ) == (
        f"{tmp_path / 'old.skops'}: saved by an older negate as a scikit-learn object; retrain the detector"
    )
    assert path.exists()


def test_an_svm_scores_as_scikit_learn_does():
    from sklearn.svm import SVC

    X, y = xor_data()
    for kernel in ("rbf", "linear", "poly", "sigmoid"):
        head = negate_sdk.create_classifier("svm", kernel=kernel).fit(X, y)
        reference = SVC(kernel=kernel).fit((X - head.mean_) / head.scale_, y)
        expected = reference.decision_function((X - head.mean_) / head.scale_)
        np.testing.assert_allclose(head.decision_function(X), expected, rtol=1e-9, atol=1e-9)


def test_a_tampered_forest_is_refused(saved_heads, tmp_path):
    folder, state, head = saved_heads["random_forest"]
    path = tmp_path / state["model"]
    trees = head.trees_.arrays()
    first_split = int(np.flatnonzero(trees["feature"] >= 0)[0])

    def node(name, value, at=first_split):
        array = trees[name].copy()
        array[at] = value
        return {name: array}

    def load(state=state, **arrays):
        copy_folder(folder, tmp_path)
        rewrite_tensors(tmp_path, state, **arrays)
        return lambda: type(head).load_weights(tmp_path, "classifier", state)

    for arrays, fragment in [
        (node("left", 10**6), "tree 0 node 0 has an invalid or repeated child"),
        (node("left", 0), "tree 0 node 0 has an invalid or repeated child 0"),  # a cycle
        (node("feature", N + 3), "tree 0 node 0 splits on feature 8, outside [0, 5)"),
        (node("threshold", np.nan), "thresholds, values or covers are not finite"),
        (node("missing", 7), "missing-value settings are out of range"),
        ({"roots": np.array([0, 0], dtype=np.int32)}, "tree roots are not increasing"),
        ({"value": trees["value"][:-1]}, "the node arrays differ in length"),
        ({"feature": trees["feature"].astype(np.int64)}, "feature is int64"),
        ({"cover": None}, "not the tree arrays"),
    ]:
        message = refused(load(**arrays), fragment)
        assert message.startswith(f"{path}: "), message
    refused(load({**state, "layout": {"average": 1, "float32_inputs": True}}), "values are not true/false")
    loaded = load()()
    X = xor_data(20, seed=4)[0]
    np.testing.assert_array_equal(loaded.predict_proba(X), head.predict_proba(X))


# -- the ensemble ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (lambda s: {**s, "members": []}, "ensemble head: members is not a list of 1 to 64 members"),
        (
            lambda s: {**s, "members": [{**s["members"][0], "head": "ensemble"}]},
            "head 'ensemble' is not a plain head",
        ),
        (lambda s: {**s, "members": [{**s["members"][0], "head": "no_such_head"}]}, "member 'lightgbm': "),
        (
            lambda s: {**s, "members": [s["members"][0], s["members"][0]]},
            "member 1 label 'lightgbm' is empty, nested or",
        ),
        (
            lambda s: {**s, "members": [{**s["members"][0], "label": "a__b"}]},
            "label 'a__b' is empty, nested or repeated",
        ),
        (
            lambda s: {**s, "members": [{**s["members"][0], "extra": 1}]},
            "member 0 needs exactly label, head, state",
        ),
        (
            lambda s: {**s, "members": [{**s["members"][0], "calibrator": {"method": "pickle"}}]},
            "member 'lightgbm' calibrator: unknown calibration method 'pickle'",
        ),
        (lambda s: {**s, "params": {**s["params"], "weights": [1, -1, 1]}}, "weights must be non-negative"),
        (
            lambda s: {**s, "params": {**s["params"], "weights": [1, 1]}},
            "weights: shape (2,) where (3,) was expected",
        ),
        (
            lambda s: {
                **s,
                "members": [{**s["members"][0], "state": {**s["members"][0]["state"], "n_features_in": 4}}],
            },
            "model has 5 features, the card 4",
        ),
    ],
)
def test_ensemble_state_is_checked(saved_heads, tmp_path, change, fragment):
    folder, state, head = saved_heads["ensemble"]
    copy_folder(folder, tmp_path)
    refused(lambda: type(head).load_weights(tmp_path, "classifier", change(state)), fragment)


# -- every head: hostile values anywhere in its state are one ArtifactError line --------------------

HOSTILE_VALUES = [None, -1, 2**70, 1.5, "", "../../etc/passwd", "x" * 5000, [], {}, [None], {"a": None}, True]


def state_paths(state, prefix=()):
    """Every key path in a nested state (dicts and lists)."""
    if isinstance(state, dict):
        for key, value in state.items():
            yield (*prefix, key)
            yield from state_paths(value, (*prefix, key))
    elif isinstance(state, list):
        for i, value in enumerate(state):
            yield (*prefix, i)
            yield from state_paths(value, (*prefix, i))


def replaced(state, path, value):
    copy = json.loads(json.dumps(state))
    node = copy
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return copy


@pytest.mark.parametrize("name", ["logistic", "svm", "random_forest", "lightgbm", "xgboost", "ensemble"])
def test_any_hostile_value_in_a_head_state_is_an_artifact_error_or_loads(saved_heads, tmp_path, name):
    folder, state, head = saved_heads[name]
    copy_folder(folder, tmp_path)
    X = xor_data(10, seed=8)[0]
    # an ensemble member's own state is a head state, fuzzed above: here only the ensemble's fields
    paths = [p for p in state_paths(state) if not (len(p) > 3 and p[2] == "state")]
    outcomes = {"refused": 0, "loaded": 0}
    started = time.perf_counter()
    for path in paths:
        for value in HOSTILE_VALUES:
            try:
                loaded = type(head).load_weights(tmp_path, "classifier", replaced(state, path, value))
            except ArtifactError as err:
                assert "\n" not in str(err), (path, value, str(err))
                outcomes["refused"] += 1
                continue
            # accepted: a field the loader does not need (a label) or a valid value (a calibrator's slope)
            p = loaded.predict_proba(X)
            assert p.shape == (10, 2) and np.all((p >= 0) & (p <= 1)), (path, value)
            outcomes["loaded"] += 1
    assert outcomes["refused"] >= len(HOSTILE_VALUES) * 2, outcomes
    assert time.perf_counter() - started < 30
