"""Truncated and tampered LightGBM and XGBoost model files: refused in Python, never handed to native code.

The native loaders abort or crash the whole process on such files, so every variant is checked and (only
if the check accepts it) loaded and used for prediction in a subprocess: a regression fails the test
instead of killing the test run.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import negate_sdk
from negate_sdk.artifacts import ArtifactError
from negate_sdk.weightfiles import check_lightgbm_model, check_xgboost_model, parse_ubjson

N_FEATURES = 6


def xor_data(n=400, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, N_FEATURES))
    return X, ((X[:, 0] > 0) ^ (X[:, 1] > 0)).astype(int)


@pytest.fixture(scope="module")
def lightgbm_saved(tmp_path_factory):
    """``(folder, state, head)`` of a saved LightGBM head of 12 trees."""
    folder = tmp_path_factory.mktemp("lightgbm")
    X, y = xor_data()
    head = negate_sdk.create_classifier("lightgbm", n_estimators=12, early_stopping_rounds=0).fit(X, y)
    return folder, head.save_weights(folder, "classifier"), head


@pytest.fixture(scope="module")
def xgboost_saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("xgboost")
    X, y = xor_data()
    head = negate_sdk.create_classifier("xgboost", n_estimators=8, early_stopping_rounds=0).fit(X, y)
    return folder, head.save_weights(folder, "classifier"), head


RUNNER = textwrap.dedent(
    """
    import json, pathlib, sys
    import numpy as np
    from negate_sdk.artifacts import ArtifactError
    from negate_sdk.weightfiles import check_lightgbm_model, check_xgboost_model

    kind, folder, features = sys.argv[1], pathlib.Path(sys.argv[2]), np.load(sys.argv[3])
    for path in sorted(folder.iterdir()):
        print("started", path.name, file=sys.stderr, flush=True)  # the last line names a crash
        data = path.read_bytes()
        try:
            if kind == "lightgbm":
                check_lightgbm_model(data.decode(), path.name)
            else:
                check_xgboost_model(data, path.name)
        except ArtifactError as err:
            print("@@", json.dumps({"variant": path.name, "refused": str(err)}), flush=True)
            continue
        try:  # an exception is fine (the heads turn it into an ArtifactError); a crash is not
            if kind == "lightgbm":
                import lightgbm as lgb
                p = lgb.Booster(model_str=data.decode()).predict(features)
            else:
                import xgboost as xgb
                booster = xgb.Booster()
                booster.load_model(bytearray(data))
                p = booster.predict(xgb.DMatrix(features))
        except Exception as err:
            error = f"{type(err).__name__}: {err}"[:200]
            print("@@", json.dumps({"variant": path.name, "load_error": error}), flush=True)
            continue
        row = {"variant": path.name, "predicted": np.asarray(p, float).tolist()}
        print("@@", json.dumps(row), flush=True)
    """
)


def run_variants(kind, variants, tmp_path):
    """Check (and, if accepted, load and predict with) each variant in a subprocess; ``{name: outcome}``."""
    folder = tmp_path / "variants"
    folder.mkdir()
    for name, data in variants.items():
        (folder / name).write_bytes(data)
    features = tmp_path / "X.npy"
    np.save(features, xor_data(20, seed=9)[0])
    script = tmp_path / "runner.py"
    script.write_text(RUNNER)
    done = subprocess.run(
        [sys.executable, str(script), kind, str(folder), str(features)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    last = done.stderr.strip().splitlines()[-1:] if done.stderr.strip() else []
    assert done.returncode == 0, f"{kind} loader died with {done.returncode} at {last}: {done.stderr[-500:]}"
    rows = [
        json.loads(line[3:]) for line in done.stdout.splitlines() if line.startswith("@@ ")
    ]  # not lib logs
    outcomes = {row["variant"]: row for row in rows}
    assert set(outcomes) == set(variants)
    return outcomes


# -- LightGBM --------------------------------------------------------------------------------------


def lgb_tamper(text: str, old: str, new: str, occurrence: int = 0) -> str:
    """Replace the ``occurrence``-th ``old`` by ``new``."""
    start = -1
    for _ in range(occurrence + 1):
        start = text.index(old, start + 1)
    return text[:start] + new + text[start + len(old) :]


def first_value(text: str, key: str, tree: int = 0) -> str:
    block = text[text.index(f"Tree={tree}\n") :]
    line = block[block.index(f"\n{key}=") + 1 :].split("\n", 1)[0]
    return line


def fix_sizes(text: str) -> str:
    """Rewrite tree_sizes to the blocks' actual byte sizes, as a tamperer who knows the format would."""
    starts = [i for i in range(1, len(text)) if text.startswith("Tree=", i) and text[i - 1] == "\n"]
    ends = [*starts[1:], text.index("end of trees\n")]
    sizes = " ".join(str(len(text[a:b].encode())) for a, b in zip(starts, ends))
    return lgb_tamper(
        text, "tree_sizes=" + text.split("tree_sizes=")[1].split("\n")[0], f"tree_sizes={sizes}"
    )


def lgb_tampers(text: str) -> dict[str, tuple[str, str]]:
    """Name -> (tampered text, the fragment its refusal must contain)."""
    left = first_value(text, "left_child")
    lefts = left.removeprefix("left_child=").split(" ")
    leaves = first_value(text, "num_leaves")
    n_leaves = int(leaves.removeprefix("num_leaves="))
    first_size = text.split("tree_sizes=")[1].split(" ")[0]
    # tampered trees with tree_sizes rewritten to match, so that the checks behind the size check are reached
    consistent = {
        "child out of range": (
            lgb_tamper(text, left, "left_child=" + " ".join(["999", *lefts[1:]])),
            "tree 0: node 0 has an invalid or repeated child 999",
        ),
        "child cycle": (
            lgb_tamper(text, left, "left_child=" + " ".join([lefts[0], "0", *lefts[2:]])),
            "tree 0: node 1 has an invalid or repeated child 0",
        ),
        "feature out of range": (
            _replace_first_number(text, "split_feature", str(N_FEATURES + 1)),
            f"tree 0 splits on a feature outside [0, {N_FEATURES})",
        ),
        "num_leaves one more": (
            lgb_tamper(text, leaves, f"num_leaves={n_leaves + 1}"),
            f"tree 0 split_feature has {n_leaves - 1} values where {n_leaves} are needed",
        ),
        "leaf value nan": (
            _replace_first_number(text, "leaf_value", "nan"),
            "tree 0 leaf_value is not a list of finite numbers",
        ),
        "threshold overflows": (
            _replace_first_number(text, "threshold", "1e999"),
            "tree 0 threshold holds a value too large for a double",
        ),
        "missing type 3": (
            _replace_first_number(text, "decision_type", "12"),
            "tree 0 node 0 has an invalid decision_type 12",
        ),
        "categorical without categories": (
            _replace_first_number(text, "decision_type", "1"),
            "tree 0 node 0 is categorical but its threshold is not a category index",
        ),
        "linear tree": (lgb_tamper(text, "is_linear=0", "is_linear=1"), "tree 0 is a linear tree"),
        "max_feature_idx lowered": (
            lgb_tamper(text, f"max_feature_idx={N_FEATURES - 1}", f"max_feature_idx={N_FEATURES - 2}"),
            f"feature_names lists {N_FEATURES} names for {N_FEATURES - 1} features",
        ),
        "no trees per iteration": (
            lgb_tamper(text, "num_tree_per_iteration=1", "num_tree_per_iteration=0"),
            "num_tree_per_iteration holds a value outside [1, 10000]",
        ),
        "multiclass objective on one output": (
            lgb_tamper(text, "objective=binary sigmoid:1", "objective=multiclass num_class:3"),
            "objective 'multiclass num_class:3' disagrees with num_class=1",
        ),
        "nul byte": (
            lgb_tamper(text, "num_leaves=", "num_\x00leaves="),
            "holds a NUL or carriage-return character",
        ),
    }
    return {name: (fix_sizes(tampered), fragment) for name, (tampered, fragment) in consistent.items()} | {
        "first tree one byte longer": (
            lgb_tamper(text, f"tree_sizes={first_size}", f"tree_sizes={int(first_size) + 1}"),
            "tree 0: block is not key=value lines followed by blank lines",
        ),
        "tree sizes past the end": (
            lgb_tamper(text, f"tree_sizes={first_size}", "tree_sizes=99999999999"),
            "(truncated?)",
        ),
        "end of trees removed": (
            lgb_tamper(text, "end of trees\n", ""),
            "no 'end of trees' line after the trees",
        ),
    }


def _replace_first_number(text: str, key: str, value: str, tree: int = 0) -> str:
    line = first_value(text, key, tree)
    head, _, rest = line.partition("=")
    numbers = rest.split(" ")
    return lgb_tamper(text, line, f"{head}=" + " ".join([value, *numbers[1:]]))


def test_truncated_lightgbm_models_are_refused_and_never_crash_the_process(lightgbm_saved, tmp_path):
    folder, state, head = lightgbm_saved
    text = (folder / state["model"]).read_text()
    boundaries = [i for i in range(len(text)) if text.startswith(("Tree=", "end of trees"), i)]
    offsets = {len(text) * k // 50 for k in range(50)}
    offsets |= {p + d for p in boundaries for d in range(-3, 4) if 0 <= p + d < len(text) - 1}
    variants = {f"cut-{n:06d}": text[:n].encode() for n in sorted(offsets)}
    variants["whole"] = text.encode()
    outcomes = run_variants("lightgbm", variants, tmp_path)
    X = xor_data(20, seed=9)[0]
    np.testing.assert_allclose(outcomes.pop("whole")["predicted"], head.predict_proba(X)[:, 1], rtol=1e-12)
    assert len(outcomes) >= 50 + len(boundaries)
    for name, outcome in outcomes.items():
        assert outcome.get("refused", "").startswith(f"{name}: not a valid LightGBM model: "), outcome
        assert "\n" not in outcome["refused"]


def test_tampered_lightgbm_models_are_refused_with_the_reason(lightgbm_saved, tmp_path):
    folder, state, _ = lightgbm_saved
    text = (folder / state["model"]).read_text()
    assert fix_sizes(text) == text  # the tamperer's size fix-up reproduces LightGBM's own tree_sizes
    cases = lgb_tampers(text)
    # well formed (same byte length, so tree_sizes still hold): must load and predict
    value = first_value(text, "leaf_value", tree=3).removeprefix("leaf_value=").split(" ")[0]
    benign = _replace_first_number(text, "leaf_value", "0." + "1" * (len(value) - 2), tree=3)
    variants = {f"{i:02d}": case[0].encode() for i, case in enumerate(cases.values())}
    variants["benign"] = benign.encode()
    outcomes = run_variants("lightgbm", variants, tmp_path)
    assert np.all(np.isfinite(outcomes.pop("benign")["predicted"]))
    for i, (name, (_, fragment)) in enumerate(cases.items()):
        refused = outcomes[f"{i:02d}"].get("refused", "")
        assert fragment in refused, (name, refused)


def test_the_lightgbm_head_refuses_a_tampered_file_naming_it(lightgbm_saved, tmp_path):
    folder, state, head = lightgbm_saved
    text = (folder / state["model"]).read_text()
    (tmp_path / state["model"]).write_text(_replace_first_number(text, "split_feature", "40"))
    with pytest.raises(ArtifactError) as err:
        type(head).load_weights(tmp_path, "classifier", state)
    assert str(err.value) == (
        f"{tmp_path / state['model']}: not a valid LightGBM model: tree 0 splits on a feature outside [0, 6)"
    )
    (tmp_path / state["model"]).write_text(text)
    with pytest.raises(ArtifactError, match=r"best_iteration: 13 is not an integer in \[1, 12\]$"):
        type(head).load_weights(tmp_path, "classifier", {**state, "best_iteration": 13})
    with pytest.raises(ArtifactError, match=r"model has 6 features, the card 7$"):
        type(head).load_weights(tmp_path, "classifier", {**state, "n_features_in": 7})
    loaded = type(head).load_weights(tmp_path, "classifier", state)
    X = xor_data(30, seed=5)[0]
    np.testing.assert_array_equal(loaded.predict_proba(X), head.predict_proba(X))


# -- XGBoost ---------------------------------------------------------------------------------------


def ubjson(value) -> bytes:
    """Encode as XGBoost writes UBJSON (the inverse of ``parse_ubjson``), to build tampered models."""
    if isinstance(value, dict):
        return b"{" + b"".join(_key(k) + ubjson(v) for k, v in value.items()) + b"}"
    if isinstance(value, np.ndarray):
        marker = {"float32": b"d", "uint8": b"U", "int32": b"l", "int64": b"L"}[value.dtype.name]
        big = value.astype(value.dtype.newbyteorder(">"))
        return b"[$" + marker + b"#L" + len(value).to_bytes(8, "big") + big.tobytes()
    if isinstance(value, list):
        return b"[#L" + len(value).to_bytes(8, "big") + b"".join(ubjson(v) for v in value)
    if isinstance(value, str):
        return b"S" + _key(value)
    if value is None or isinstance(value, bool):
        return {None: b"Z", True: b"T", False: b"F"}[value]
    if isinstance(value, float):
        return b"d" + np.asarray(value, ">f4").tobytes()
    for marker, dtype, low, high in ((b"i", ">i1", -128, 127), (b"I", ">i2", -(2**15), 2**15 - 1)):
        if low < value < high:  # XGBoost's writer uses strict bounds
            return marker + np.asarray(value, dtype).tobytes()
    if -(2**31) < value < 2**31 - 1:
        return b"l" + np.asarray(value, ">i4").tobytes()
    return b"L" + np.asarray(value, ">i8").tobytes()


def _key(text: str) -> bytes:
    raw = text.encode()
    return b"L" + len(raw).to_bytes(8, "big") + raw


def xgb_tampers(data: bytes) -> dict[str, tuple[bytes, str]]:
    def edit(change):
        doc = parse_ubjson(data)
        change(doc)
        return ubjson(doc)

    def model(doc):
        return doc["learner"]["gradient_booster"]["model"]

    def tree(doc, i=0):
        return model(doc)["trees"][i]

    def set_item(key, index, value, i=0):
        def change(doc):
            tree(doc, i)[key][index] = value

        return change

    def set_path(value, *keys):
        def change(doc):
            node = doc
            for key in keys[:-1]:
                node = node[key]
            node[keys[-1]] = value

        return change

    return {
        "child out of range": (
            edit(set_item("left_children", 0, 999)),
            "tree 0 node 0 has an invalid or repeated child 999",
        ),
        "child loops to the root": (
            edit(set_item("right_children", 0, 0)),
            "tree 0 node 0 has an invalid or repeated child 0",
        ),
        "feature out of range": (
            edit(set_item("split_indices", 0, 9)),
            f"tree 0 node 0 splits on feature 9, outside [0, {N_FEATURES})",
        ),
        "infinite split": (
            edit(set_item("split_conditions", 0, np.inf)),
            "tree 0 split_conditions holds NaN or infinite",
        ),
        "nodes miscounted": (
            edit(lambda doc: tree(doc)["tree_param"].update(num_nodes="1000")),
            "where 1000 are needed",
        ),
        "learner has fewer features": (
            edit(set_path("4", "learner", "learner_model_param", "num_feature")),
            "tree 0 num_feature differs from the learner's 4",
        ),
        "tree in a missing output group": (
            edit(lambda doc: model(doc)["tree_info"].__setitem__(0, 5)),
            "tree_info assigns a tree to an output outside [0, 1)",
        ),
        "rounds miscounted": (
            edit(lambda doc: model(doc)["iteration_indptr"].__setitem__(-1, 3)),
            "iteration_indptr does not split the trees into boosting rounds",
        ),
        "dart booster": (
            edit(set_path("dart", "learner", "gradient_booster", "name")),
            "booster 'dart' is not gbtree",
        ),
        "categorical split": (edit(set_item("split_type", 0, 1)), "tree 0 has categorical splits"),
        "trailing bytes": (data + b"Z", "1 bytes follow the model"),
        "typed array past the end": (
            data.replace(b"[$l#L" + (0).to_bytes(8, "big"), b"[$l#L" + (2**40).to_bytes(8, "big"), 1),
            "runs past the end",
        ),
        "string longer than the file": (
            b"{L" + (2**62).to_bytes(8, "big") + b"learner",
            "is more than the 7 bytes left",
        ),
        "deep nesting": (b"[" * 100_000, "nested more than 32 levels deep"),
        "float64 marker": (
            b"{L\x00\x00\x00\x00\x00\x00\x00\x01aD" + bytes(8) + b"}",
            "unsupported UBJSON marker b'D'",
        ),
    }


def test_the_ubjson_reader_round_trips_an_xgboost_model_exactly(xgboost_saved):
    folder, state, _ = xgboost_saved
    data = (folder / state["model"]).read_bytes()
    assert ubjson(parse_ubjson(data)) == data  # the reader loses nothing, so the checks see what XGBoost sees
    info = check_xgboost_model(data, "m.ubj")
    assert (info.n_trees, info.n_rounds, info.n_features, info.n_groups) == (8, 8, N_FEATURES, 1)
    assert info.objective == "binary:logistic"


def test_truncated_and_flipped_xgboost_models_never_crash_the_process(xgboost_saved, tmp_path):
    folder, state, head = xgboost_saved
    data = (folder / state["model"]).read_bytes()
    rng = np.random.default_rng(11)
    variants = {f"cut-{n:06d}": data[:n] for n in {len(data) * k // 50 for k in range(50)} | {len(data) - 1}}
    for k, i in enumerate(rng.integers(0, len(data), 150)):
        flipped = bytearray(data)
        flipped[i] ^= int(rng.integers(1, 256))
        variants[f"flip-{k:03d}"] = bytes(flipped)
    variants["whole"] = data
    outcomes = run_variants("xgboost", variants, tmp_path)
    X = xor_data(20, seed=9)[0]
    np.testing.assert_allclose(outcomes.pop("whole")["predicted"], head.predict_proba(X)[:, 1], rtol=1e-6)
    for name, outcome in outcomes.items():
        if name.startswith("cut-"):
            assert outcome.get("refused", "").startswith(f"{name}: not a valid XGBoost UBJSON model: "), (
                outcome
            )
        else:  # a flip can leave a valid model (then it predicts) or one XGBoost itself rejects
            predicted = outcome.get("predicted")
            assert "refused" in outcome or "load_error" in outcome or np.all(np.isfinite(predicted)), outcome


def test_tampered_xgboost_models_are_refused_with_the_reason(xgboost_saved, tmp_path):
    folder, state, _ = xgboost_saved
    data = (folder / state["model"]).read_bytes()
    cases = xgb_tampers(data)
    outcomes = run_variants(
        "xgboost", {f"{i:02d}": case[0] for i, case in enumerate(cases.values())}, tmp_path
    )
    for i, (name, (_, fragment)) in enumerate(cases.items()):
        refused = outcomes[f"{i:02d}"].get("refused", "")
        assert fragment in refused and "\n" not in refused, (name, refused)


def test_the_xgboost_head_checks_the_card_against_the_model(xgboost_saved, tmp_path):
    folder, state, head = xgboost_saved
    data = (folder / state["model"]).read_bytes()
    path = tmp_path / state["model"]
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(ArtifactError, match=rf"^{path}: not a valid XGBoost UBJSON model: "):
        type(head).load_weights(tmp_path, "classifier", state)
    path.write_bytes(data)
    with pytest.raises(ArtifactError, match=r"model has 6 features, the card 5$"):
        type(head).load_weights(tmp_path, "classifier", {**state, "n_features_in": 5})
    with pytest.raises(ArtifactError, match=r"best_iteration: 0 is not an integer in \[1, 8\]$"):
        type(head).load_weights(tmp_path, "classifier", {**state, "best_iteration": 0})
    loaded = type(head).load_weights(tmp_path, "classifier", state)
    X = xor_data(30, seed=5)[0]
    np.testing.assert_array_equal(loaded.predict_proba(X), head.predict_proba(X))


def test_checks_refuse_inputs_that_are_not_models():
    with pytest.raises(ArtifactError, match=r"^m.txt: not a valid LightGBM model: does not start with"):
        check_lightgbm_model("xgboost\nnum_class=1\nTree=0\n", "m.txt")
    with pytest.raises(ArtifactError, match=r"^m.txt: LightGBM model is not text$"):
        check_lightgbm_model(b"tree", "m.txt")
    with pytest.raises(
        ArtifactError,
        match=r"^m.ubj: not a valid XGBoost UBJSON model: needs 1 bytes at offset 0 but the file ends at 0$",
    ):
        check_xgboost_model(b"", "m.ubj")


def test_single_leaf_trees_load_and_their_unread_fields_stay_unchecked(tmp_path):
    X, y = xor_data(200)
    # every tree is a single leaf: LightGBM writes the node arrays (and leaf_weight) of such trees empty
    head = negate_sdk.create_classifier(
        "lightgbm", n_estimators=3, min_child_samples=500, early_stopping_rounds=0
    )
    state = head.fit(X, y).save_weights(tmp_path, "classifier")
    text = (tmp_path / state["model"]).read_text()
    assert "num_leaves=1\n" in text and "\nleaf_weight=\n" in text
    assert check_lightgbm_model(text, "m.txt").n_trees == 1  # boosting stops at a tree that cannot split
    loaded = type(head).load_weights(tmp_path, "classifier", state)
    np.testing.assert_array_equal(loaded.predict_proba(X[:7]), head.predict_proba(X[:7]))
    # but the fields LightGBM does read for a single leaf are checked
    refused = fix_sizes(text.replace("leaf_count=", "leaf_count=1 ", 1))
    with pytest.raises(ArtifactError, match=r"tree 0 leaf_count has 2 values where 1 are needed$"):
        check_lightgbm_model(refused, "m.txt")
