"""The ONNX Runtime backend: graphs exported once, verified against PyTorch, reused without torch, and the
torch-free decoding pipeline that overlaps them."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from PIL import Image

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")
pytest.importorskip("timm")

from negate_sdk.api import Sample  # noqa: E402
from negate_sdk.catalog import create_classifier, create_extractor  # noqa: E402
from negate_sdk.conformance import conformance_samples  # noqa: E402
from negate_sdk.detectors import Detector  # noqa: E402
from negate_sdk.imaging.errors import ImageError  # noqa: E402
from negate_sdk.runtime import embedding, onnx_graphs  # noqa: E402
from negate_sdk.runtime.devices import clear_model_cache, threaded_batches  # noqa: E402
from negate_timm.backbones import EfficientNetLite0, TimmExtractor  # noqa: E402

skimage_data = pytest.importorskip("skimage.data")


@pytest.fixture
def graph_cache(tmp_path, monkeypatch):
    """An empty graph cache and model cache for one test."""
    folder = tmp_path / "graphs"
    monkeypatch.setenv(onnx_graphs.GRAPHS_ENV, str(folder))
    monkeypatch.setattr(embedding, "_REFUSED", set())  # graphs refused by other tests are tried again
    clear_model_cache()
    yield folder
    clear_model_cache()


def photos() -> list[Sample]:
    """Real photographs of different sizes (portrait, landscape, smaller than the network's input)."""
    return [
        Sample.from_array(skimage_data.chelsea()),  # 300 x 451
        Sample.from_array(skimage_data.coffee()),  # 400 x 600
        Sample.from_array(skimage_data.astronaut()[:333, :180]),  # portrait
        Sample.from_array(skimage_data.rocket()[:150, :120]),  # smaller than 224 on both sides
    ]


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-row cosine similarity."""
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def test_lite0_graph_equals_pytorch_and_is_reused_without_building_the_model(graph_cache, monkeypatch):
    samples = photos()
    expected = EfficientNetLite0(device="cpu", backend="torch").transform(samples)
    extractor = EfficientNetLite0(device="cpu", backend="onnx")
    got = extractor.transform(samples)
    assert extractor.loaded_model().backend == "onnx"
    assert cosine(expected, got).min() >= 0.9999 and np.abs(expected - got).max() < 1e-4
    (sidecar,) = graph_cache.glob("*.json")
    info = json.loads(sidecar.read_text())
    assert info["min_cosine"] >= onnx_graphs.MIN_COSINE and 0 < info["max_abs_diff"] < 1e-4
    assert info["opset"] == onnx_graphs.OPSET and info["dim"] == 1280
    assert (graph_cache / f"{info['key']}.onnx").is_file() and not list(graph_cache.glob(".*"))

    clear_model_cache()  # a new process: the graph comes from the cache, the torch model is never built
    monkeypatch.setattr(TimmExtractor, "_build", lambda self, device: pytest.fail("model was rebuilt"))
    again = EfficientNetLite0(device="cpu", backend="auto")
    np.testing.assert_array_equal(again.transform(samples), got)
    assert again.feature_names() == extractor.feature_names()


def test_stage_graph_takes_every_native_input_size(graph_cache):
    samples = photos()  # centre squares of 224, and 120 for the small one
    expected = create_extractor("timm_efficientnet_lite0_stages", device="cpu", backend="torch").transform(
        samples
    )
    extractor = create_extractor("timm_efficientnet_lite0_stages", device="cpu", backend="onnx")
    got = extractor.transform(samples)
    assert cosine(expected, got).min() >= 0.9999 and np.abs(expected - got).max() < 1e-4
    assert extractor.feature_names()[:2] == ["stage1_mean_000", "stage1_mean_001"]
    assert len(extractor.feature_names()) == got.shape[1] == 128


def test_backend_is_a_runtime_choice_that_leaves_the_feature_cache_key_alone():
    onnx = create_extractor("timm_efficientnet_lite0", backend="onnx")
    assert onnx.cache_key == create_extractor("timm_efficientnet_lite0", backend="torch").cache_key


def test_a_damaged_graph_is_exported_again_and_never_trusted(graph_cache, caplog):
    params = {"device": "cpu", "pretrained": False, "image_size": 32}
    samples = conformance_samples(4)
    first = create_extractor("timm_efficientnet_lite0", backend="onnx", **params).transform(samples)
    (graph,) = graph_cache.glob("*.onnx")
    graph.write_bytes(b"not an onnx graph")
    clear_model_cache()
    with caplog.at_level(logging.WARNING, logger="negate_sdk.runtime.onnx_graphs"):
        again = create_extractor("timm_efficientnet_lite0", backend="onnx", **params).transform(samples)
    assert "ignoring cached ONNX graph" in caplog.text
    np.testing.assert_allclose(again, first, atol=1e-6)
    assert graph.stat().st_size > 1000  # re-exported in place


def test_a_graph_that_disagrees_is_refused_and_auto_falls_back_to_pytorch(graph_cache, monkeypatch, caplog):
    monkeypatch.setattr(onnx_graphs, "MIN_COSINE", 1.5)  # no graph can agree this well
    params = {"device": "cpu", "pretrained": False, "image_size": 32}
    samples = conformance_samples(3)
    with pytest.raises(onnx_graphs.GraphExportError, match="disagrees with PyTorch"):
        create_extractor("timm_efficientnet_lite0", backend="onnx", **params).transform(samples)
    with caplog.at_level(logging.WARNING):
        extractor = create_extractor("timm_efficientnet_lite0", backend="auto", **params)
        got = extractor.transform(samples)
    assert extractor.loaded_model().backend == "torch" and "disagrees with PyTorch" in caplog.text
    assert caplog.text.count("disagrees with PyTorch") == 1  # refused once per process, not per call
    expected = create_extractor("timm_efficientnet_lite0", backend="torch", **params).transform(samples)
    np.testing.assert_array_equal(got, expected)
    assert not list(graph_cache.glob("*")), "a refused graph must not stay in the cache"


def test_an_extractor_that_does_not_name_its_weights_runs_in_pytorch(graph_cache):
    class Unnamed(EfficientNetLite0):
        def _weights_identity(self):
            return None

    params = {"device": "cpu", "pretrained": False, "image_size": 32}
    assert Unnamed(**params).loaded_model().backend == "torch"
    with pytest.raises(ValueError, match="does not say what its weights are"):
        Unnamed(**params, backend="onnx").loaded_model()


def test_backend_resolution():
    assert onnx_graphs.resolve_backend("torch", "cpu") == "torch"
    assert onnx_graphs.resolve_backend("auto", "cpu") == "onnx"
    assert onnx_graphs.resolve_backend("auto", "cuda") == "torch"
    assert onnx_graphs.resolve_backend("auto", "cpu", "bf16") == "torch"
    with pytest.raises(ValueError, match="CPU only"):
        onnx_graphs.resolve_backend("onnx", "cuda:0")
    with pytest.raises(ValueError, match="precision 'fp16'"):
        onnx_graphs.resolve_backend("onnx", "cpu", "fp16")
    with pytest.raises(ValueError, match="unknown backend"):
        onnx_graphs.resolve_backend("tensorrt", "cpu")


def test_threaded_batches_keep_order_bound_memory_and_report_a_bad_image_at_its_batch(tmp_path):
    paths = []
    for i in range(7):
        path = tmp_path / f"{i}.png"
        Image.fromarray(np.full((8, 8, 3), i * 10, np.uint8)).save(path)
        paths.append(path)
    (tmp_path / "bad.png").write_bytes(b"\x89PNG broken")
    samples = [Sample.from_path(p) for p in paths[:4]] + [Sample.from_path(tmp_path / "bad.png")]
    samples += [Sample.from_path(p) for p in paths[4:]]
    prepared = []

    def prepare(pixels):
        prepared.append(int(pixels[0, 0, 0]))
        return pixels[:1, :1, 0]

    batches = threaded_batches(samples, prepare, batch_size=2, ahead=1)
    first = next(batches)
    time.sleep(0.3)  # time for the thread to run ahead as far as it may
    assert len(prepared) <= 4  # the batch handed out and one ahead, never the whole list
    seen = [first, next(batches)]  # images 0-3 arrive in order, before the bad one is reached
    assert [[int(v[0, 0]) for _, v in batch] for batch in seen] == [[0, 10], [20, 30]]
    assert [[i for i, _ in batch] for batch in seen] == [[0, 1], [2, 3]]
    with pytest.raises(ImageError, match="not a supported image"):
        next(batches)
    ok = list(threaded_batches(samples[:4], lambda pixels: pixels.sum(), batch_size=3))
    assert [i for batch in ok for i, _ in batch] == [0, 1, 2, 3]


def test_checking_with_a_saved_detector_imports_no_torch_nor_the_heads_libraries(graph_cache, tmp_path):
    samples = conformance_samples(12)
    lite0 = {"device": "cpu", "pretrained": False, "image_size": 32}
    # LightGBM + SVM + random forest, as in hybrid: scored in numpy once saved
    head = create_classifier("ensemble").set_params(lightgbm__n_estimators=5, random_forest__n_estimators=5)
    detector = Detector(
        extractors=["colour", create_extractor("timm_efficientnet_lite0", **lite0)], classifier=head
    ).fit(samples)
    detector.save(tmp_path / "model")
    image = tmp_path / "upload.png"
    Image.fromarray(samples[0].pixels).save(image)
    script = textwrap.dedent(
        f"""
        import json, sys
        from negate_sdk.cli.negate import main
        sys.argv = ["negate", "check", {str(image)!r}, "--model", {str(tmp_path / "model")!r}, "--json"]
        try:
            main()
        except SystemExit as stop:
            assert not stop.code, stop.code
        heavy = ("torch", "timm", "sklearn", "lightgbm", "skops")
        print(json.dumps({{name: name in sys.modules for name in heavy}}))
        """
    )
    env = {**__import__("os").environ, onnx_graphs.GRAPHS_ENV: str(graph_cache)}
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr
    rows, modules = run.stdout.rsplit("\n", 2)[0], json.loads(run.stdout.strip().splitlines()[-1])
    assert json.loads(rows)[0]["verdict"] in {"GENUINE", "UNCERTAIN", "SYNTHETIC"}
    assert modules == {"torch": False, "timm": False, "sklearn": False, "lightgbm": False, "skops": False}
