"""Generates ``docs/handcrafted.md`` from the families' feature metadata, so code and docs cannot drift.

Run ``python -m negate_handcrafted.docs docs/handcrafted.md`` to rewrite the page (``--check`` to verify it
is current); the test suite fails when the committed page differs from :func:`render`.
"""

from __future__ import annotations

import argparse
import inspect
import re
import sys
from pathlib import Path

from negate_handcrafted import context
from negate_handcrafted.union import FAMILIES, HandcraftedUnion

INTRO = f"""\
# Handcrafted features

The `negate_handcrafted` plugin registers eleven feature families and their union, `handcrafted`
({{n_features}} features). Every feature below is computed from real pixel values (uint8 RGB, never a
normalised tensor), is finite for any image (constant, 1 px, huge) and is documented with its range.

```python
import negate_sdk
from negate_sdk.manifests import resolve_dataset

samples = list(resolve_dataset("dev-faces").sample(16, seed=0).to_samples())  # or Sample.from_path(...)
extractor = negate_sdk.create_extractor("handcrafted")
X = extractor.transform(samples)  # (n_samples, {{n_features}}) float32
names = extractor.get_feature_names_out()  # "spectral__band_0_share", ...
X = extractor.transform(samples, n_jobs=-1)  # process pool; equal to the serial result
```

For large collections, `negate_handcrafted.parallel.transform_parallel(extractor, samples, n_jobs,
chunk_size)` streams chunks of path-backed samples through the SDK's process pool (`negate_sdk.pool`:
memory stays flat in the number of images) and accepts a `progress(stage, advance, total)` callback;
its workers use one BLAS thread each and call `negate_sdk.pool.tune_allocator()` (glibc keeps freed
memory instead of page-faulting it back in for every image), which a process dedicated to extraction
can call too. Speed is tracked by `benchmarks/test_bench_handcrafted.py` (target: 20 images/s per CPU
core for `handcrafted` on 512 x 512
RGB); per-source dev-set AUC by `benchmarks/handcrafted_dev_auc.py`.

## How images are analysed

- **No resampling, no squashing.** Images of at most `max_pixels` pixels
  (default {context.DEFAULT_MAX_PIXELS:,} = 512 x 512) are analysed whole at native resolution. Larger ones
  are analysed on a centred crop with the same aspect ratio and at most `max_pixels` pixels, its offsets
  multiples of {context.GRID_ALIGN} so JPEG blocks stay aligned. Images under {context.MIN_SIDE} px on a
  side are edge-padded to {context.MIN_SIDE} px.
- **Two budgets.** Families summarising the whole image (spectral, patch, and the grid-sampled lbp,
  colour and GLCM) read the working crop; families making many passes per pixel or many transforms
  (residual, wavelet, gabor, HOG, edges, invert_saturate, jpeg_ghost) read its centred *detail crop*
  of at most {context.DETAIL_PIXELS:,} pixels (256 x 256). Both are the same image for images up to 256 x 256.
- **One analysis context per image.** Grayscale (ITU-R BT.601 luma, float32), the Fourier spectrum of
  its periodic component (Moisan's periodic-plus-smooth decomposition: no window, no border cross),
  the power spectrum, Sobel gradients and the edge map (gradient maxima across the edge above
  {context.EDGE_THRESHOLD:g} grey levels/px) are computed once and shared. A family used alone builds its own
  context; `handcrafted` builds one for all families and returns exactly the concatenation of their
  columns, with the same names and values.
- **Rotation.** The last column says whether a 90° rotation leaves the feature unchanged (for a square
  image analysed without cropping or grid sampling); the tests check every feature marked yes.
"""


def _module_text(family: type) -> str:
    module = inspect.getmodule(family)
    doc = inspect.cleandoc(module.__doc__ or "") if module else ""
    doc = re.sub(r":\w+:`([^`]+)`", r"``\1``", doc)  # Sphinx roles read as code in Markdown
    paragraphs = doc.split("\n\n")
    body = " ".join(" ".join(p.split()) for p in paragraphs[1:]) if len(paragraphs) > 1 else ""
    return " ".join(paragraphs[0].split()) + ("\n\n" + body if body else "")


def render() -> str:
    """The full Markdown text of ``docs/handcrafted.md``."""
    union = HandcraftedUnion()
    parts = [INTRO.format(n_features=len(union.feature_names()))]
    parts.append("## Families\n")
    parts.append("| extractor | version | features | summary |\n|---|---|---|---|")
    for family in FAMILIES:
        extractor = family()
        parts.append(
            f"| `{family.name}` | {family.version} | {len(extractor.feature_specs())} | {family.summary} |"
        )
    parts.append(
        f"| `handcrafted` | {HandcraftedUnion.version} | {len(union.feature_specs())} | all of the above |\n"
    )
    for family in FAMILIES:
        extractor = family()
        params = ", ".join(f"`{k}={v!r}`" for k, v in extractor.get_params().items())
        parts.append(f"## `{family.name}` (version {family.version})\n")
        parts.append(_module_text(family) + "\n")
        parts.append(f"Parameters: {params}.\n")
        parts.append("| feature | meaning | range | 90° rotation |\n|---|---|---|---|")
        for spec in extractor.feature_specs():
            rotation = "unchanged" if spec.rotation_invariant else "may change"
            meaning = spec.meaning.replace("|", "\\|")
            parts.append(f"| `{family.name}__{spec.name}` | {meaning} | {spec.range} | {rotation} |")
        parts.append("")
    return "\n".join(parts).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write (or with ``--check`` verify) the documentation page; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path, help="the Markdown file, e.g. docs/handcrafted.md")
    parser.add_argument(
        "--check", action="store_true", help="fail if the file differs from the generated text"
    )
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = args.path.read_text() if args.path.exists() else ""
        if current != text:
            print(
                f"{args.path} is out of date: run python -m negate_handcrafted.docs {args.path}",
                file=sys.stderr,
            )
            return 1
        return 0
    args.path.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
