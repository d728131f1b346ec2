"""Checks of scikit-learn models loaded from skops files, before their compiled code ever reads them.

skops only allow-lists types; the values inside are the file's. scikit-learn's Cython tree walks child
and feature indices without bounds checks, and libsvm trusts the support-vector counts, so a tampered
forest or SVM could read outside its arrays at prediction time. Each check below returns the model
unchanged or raises :class:`ArtifactError` naming the file and the first problem.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from negate_sdk.artifacts import ArtifactError
from negate_sdk.weightfiles.files import tree_problem

MAX_ESTIMATORS = 100_000
SVM_KERNELS = ("linear", "poly", "rbf", "sigmoid")


def _array(model: Any, name: str, where: str, shape: tuple[int, ...], kind: str) -> np.ndarray:
    value = getattr(model, name, None)
    if not isinstance(value, np.ndarray) or value.shape != shape or value.dtype.kind not in kind:
        found = (type(value).__name__, getattr(value, "shape", None), str(getattr(value, "dtype", "")))
        raise ArtifactError(f"{where}: {name} is {found}, not an array of shape {shape}")
    if value.dtype.kind == "f" and not np.all(np.isfinite(value)):
        raise ArtifactError(f"{where}: {name} holds NaN or infinite values")
    return value


def _binary_classes(model: Any, where: str) -> None:
    classes = getattr(model, "classes_", None)
    if not isinstance(classes, np.ndarray) or classes.tolist() != [0, 1]:
        raise ArtifactError(f"{where}: classes are {str(classes)[:40]}, not [0, 1]")


def check_sklearn_tree(tree: Any, where: str, n_features: int) -> None:
    """A fitted binary ``sklearn.tree._tree.Tree``: one tree rooted at 0, features in range, finite values."""
    from sklearn.tree._tree import Tree

    if type(tree) is not Tree:
        raise ArtifactError(f"{where}: {type(tree).__name__} is not a scikit-learn tree")
    if tree.n_features != n_features or tree.n_outputs != 1 or tree.max_n_classes != 2:
        raise ArtifactError(f"{where}: tree is not a binary tree over {n_features} features")
    if tree.n_classes.tolist() != [2]:
        raise ArtifactError(f"{where}: tree has {tree.n_classes.tolist()} classes, not [2]")
    # the node arrays are views of node_count rows of a buffer of capacity rows: check before viewing them
    n = tree.node_count
    if not 1 <= n <= tree.capacity:
        raise ArtifactError(f"{where}: tree claims {n} nodes in a buffer of {tree.capacity}")
    left, right, feature = tree.children_left, tree.children_right, tree.feature
    threshold, value = tree.threshold, tree.value
    if value.shape != (n, 1, 2) or not np.all(np.isfinite(value)):
        raise ArtifactError(f"{where}: tree values are not finite of shape ({n}, 1, 2)")
    splits = np.flatnonzero((left != -1) | (right != -1))
    bad = splits[~((feature[splits] >= 0) & (feature[splits] < n_features) & np.isfinite(threshold[splits]))]
    if len(bad):
        raise ArtifactError(f"{where}: tree node {bad[0]} splits on an invalid feature or threshold")
    problem = tree_problem(left, right, feature, n_features)
    if problem:
        raise ArtifactError(f"{where}: tree {problem}")


def check_forest(model: Any, where: str, n_features: int) -> Any:
    """A fitted binary ``RandomForestClassifier`` over ``n_features`` features; returned for prediction.

    Its ``n_jobs`` is reset to 1: a file must not choose how many threads prediction starts, and one thread
    keeps the sum over trees in a fixed order.
    """
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.tree import DecisionTreeClassifier

    if type(model) is not RandomForestClassifier:
        raise ArtifactError(f"{where}: holds a {type(model).__name__}, not a RandomForestClassifier")
    _binary_classes(model, where)
    if getattr(model, "n_features_in_", None) != n_features or getattr(model, "n_outputs_", None) != 1:
        raise ArtifactError(f"{where}: forest is not fitted on {n_features} features with one output")
    if getattr(model, "n_classes_", None) != 2:
        raise ArtifactError(f"{where}: forest has {getattr(model, 'n_classes_', None)} classes, not 2")
    trees = getattr(model, "estimators_", None)
    if not isinstance(trees, list) or not 1 <= len(trees) <= MAX_ESTIMATORS:
        raise ArtifactError(f"{where}: forest holds no list of trees")
    for i, estimator in enumerate(trees):
        if type(estimator) is not DecisionTreeClassifier:
            raise ArtifactError(f"{where}: tree {i} is a {type(estimator).__name__}")
        _binary_classes(estimator, f"{where}: tree {i}")
        if estimator.n_features_in_ != n_features or estimator.n_outputs_ != 1 or estimator.n_classes_ != 2:
            raise ArtifactError(f"{where}: tree {i} is not a binary tree over {n_features} features")
        check_sklearn_tree(getattr(estimator, "tree_", None), f"{where}: tree {i}", n_features)
    model.n_jobs = 1
    return model


def check_svc(model: Any, where: str, n_features: int) -> Any:
    """A fitted binary dense ``SVC`` over ``n_features`` features, consistent as libsvm needs it; returned.

    Checks the kernel (no callables or precomputed kernels), the support vectors, their per-class counts,
    dual coefficients, intercepts, gamma, degree and coef0, and the (empty or one-value) Platt arrays.
    """
    from sklearn.svm import SVC

    if type(model) is not SVC:
        raise ArtifactError(f"{where}: holds a {type(model).__name__}, not an SVC")
    _binary_classes(model, where)
    if getattr(model, "_impl", None) != "c_svc" or getattr(model, "_sparse", None) is not False:
        raise ArtifactError(f"{where}: SVC is not a dense C-SVC")
    if not isinstance(model.kernel, str) or model.kernel not in SVM_KERNELS:
        raise ArtifactError(f"{where}: SVC kernel {str(model.kernel)[:30]!r} is not one of {SVM_KERNELS}")
    if getattr(model, "n_features_in_", None) != n_features:
        raise ArtifactError(f"{where}: SVC is fitted on {getattr(model, 'n_features_in_', None)} features")
    vectors = getattr(model, "support_vectors_", None)
    n_sv = vectors.shape[0] if isinstance(vectors, np.ndarray) and vectors.ndim == 2 else -1
    if n_sv < 1:
        raise ArtifactError(f"{where}: SVC has no support vectors")
    vectors = _array(model, "support_vectors_", where, (n_sv, n_features), "f")
    if vectors.dtype != np.float64 or not vectors.flags.c_contiguous:
        raise ArtifactError(f"{where}: support_vectors_ is not C-ordered float64")
    counts = _array(model, "_n_support", where, (2,), "i")
    if counts.dtype != np.int32 or counts.min() < 0 or int(counts.sum()) != n_sv:
        raise ArtifactError(f"{where}: support-vector counts {counts.tolist()} do not add up to {n_sv}")
    _array(model, "support_", where, (n_sv,), "i")
    for name in ("_dual_coef_", "dual_coef_"):
        _array(model, name, where, (1, n_sv), "f")
    for name in ("_intercept_", "intercept_"):
        _array(model, name, where, (1,), "f")
    for name in ("_probA", "_probB"):  # Platt parameters: none, or one pair for two classes
        value = getattr(model, name, None)
        size = value.size if isinstance(value, np.ndarray) and value.size <= 1 else 0
        _array(model, name, where, (size,), "f")
    gamma = getattr(model, "_gamma", None)
    if type(gamma) not in (float, np.float64) or not np.isfinite(gamma) or gamma < 0:
        raise ArtifactError(f"{where}: SVC gamma {repr(gamma)[:30]} is not a finite non-negative number")
    if type(model.degree) is not int or not 0 <= model.degree <= 100:
        raise ArtifactError(f"{where}: SVC degree {str(model.degree)[:30]!r} is not an integer in [0, 100]")
    if type(model.coef0) not in (int, float) or not np.isfinite(model.coef0):
        raise ArtifactError(f"{where}: SVC coef0 is not a finite number")
    if type(model.cache_size) not in (int, float) or not 0 < model.cache_size <= 100_000:
        raise ArtifactError(f"{where}: SVC cache_size is not a number of megabytes in (0, 100000]")
    return model
