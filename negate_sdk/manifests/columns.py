"""How a hub dataset's raw columns become canonical manifest rows (:class:`RowMapping`).

A dataset spec names the label column and its raw values, the generator column and its raw values (or a
fixed generator), and the columns kept as attrs. ClassLabel columns are mapped by class *name*, never by
index, so a mirror with another class order cannot swap labels silently. Whatever the mapping meets (raw
values, unmapped labels, rows whose label and generator columns disagree) is recorded for the header.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from negate_sdk.manifests.errors import ManifestError
from negate_sdk.manifests.generators import normalise_generator
from negate_sdk.manifests.rules import ColumnRules
from negate_sdk.manifests.schema import REAL_GENERATOR, UNKNOWN_GENERATOR, ManifestRow, json_safe, parse_label
from negate_sdk.safetext import printable

if TYPE_CHECKING:
    from negate_sdk.manifests.spec import DatasetSpec


def _shared(value: Any) -> Any:
    """Short strings interned: attrs repeat few values (types, styles, dates) over up to millions of rows."""
    return sys.intern(value) if isinstance(value, str) and len(value) <= 64 else value


@dataclass(frozen=True)
class RowMapping(ColumnRules):
    """How one dataset's raw columns become canonical rows (the :class:`ColumnRules` of its spec, or given
    directly), with what was seen while mapping (the counters below fill in as rows are mapped)."""

    dataset_id: str
    generic_labels: bool = False  # tables of unknown origin: real/synthetic/fake/0/1 words
    extra_columns: dict[str, str] = field(default_factory=dict)  # canonical field -> column (source, split)
    seen_labels: dict[str, int] = field(default_factory=dict)
    seen_generators: dict[str, str] = field(default_factory=dict)
    unmapped: Counter = field(default_factory=Counter)
    dropped: Counter = field(default_factory=Counter)
    conflicts: Counter = field(default_factory=Counter)
    _names: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def from_spec(cls, spec: DatasetSpec) -> RowMapping:
        """The mapping a dataset spec declares."""
        return cls(dataset_id=spec.id, **spec.column_rules())

    def columns(self) -> list[str]:
        """The raw columns to read (never the image column)."""
        wanted = [self.label_column, self.generator_column, *self.attr_columns, *self.extra_columns.values()]
        return list(dict.fromkeys(c for c in wanted if c))

    def prepare(self, features: Any, where: str) -> None:
        """Check the file's columns and record the class names of ClassLabel columns."""
        missing = [c for c in self.columns() if c not in features]
        if missing:
            raise ManifestError(
                f"{where} has no column(s) {', '.join(missing)} (it has: {', '.join(features)}); "
                "the dataset's layout differs from its manifest"
            )
        for column in self.columns():
            names = getattr(features[column], "names", None)
            if names is not None:
                self._names[column] = list(names)
        if self.label_column and self.class_names is not None:
            found = self._names.get(self.label_column)
            if found != list(self.class_names):
                raise ManifestError(
                    f"{where}: the label classes are {found} but the manifest states "
                    f"{list(self.class_names)}; "
                    "labels would be swapped: check the mirror's label order and update the manifest"
                )
        for name in self._names.get(self.label_column or "", []):
            if self._label_of(name) is None and name not in self.unlabeled:
                raise ManifestError(f"{where}: label class {name!r} is not in the manifest's label map")

    def _value(self, column: str, raw: Any) -> Any:
        names = self._names.get(column)
        if names is not None and isinstance(raw, int) and 0 <= raw < len(names):
            return names[raw]
        return raw

    def _label_of(self, value: Any) -> int | None:
        key = str(value)
        if key in self.labels:
            return self.labels[key]
        lowered = {k.lower(): v for k, v in self.labels.items()}
        if key.lower() in lowered:
            return lowered[key.lower()]
        return parse_label(value) if self.generic_labels else None

    def _generator_of(self, raw: Any) -> str:
        if raw is None or str(raw).strip() == "":
            return self.synthetic_generator or UNKNOWN_GENERATOR
        key = str(raw)
        if key in self.generators:
            return self.generators[key]
        return normalise_generator(key)

    def rows(
        self, batch: Mapping[str, list[Any]], n: int, start: int, relpath: str, split: str, source: str
    ) -> Iterator[ManifestRow]:
        """Canonical rows of one batch of ``n`` raw rows starting at row ``start`` of ``relpath``."""
        for i in range(n):
            row_index = start + i
            if self.constant_label is not None:
                label: int | None = self.constant_label
            else:
                raw_label = self._value(self.label_column, batch[self.label_column][i])
                label = self._label_of(raw_label)
                if label is None:
                    (self.dropped if str(raw_label) in self.unlabeled else self.unmapped)[str(raw_label)] += 1
                    continue
                self.seen_labels[str(raw_label)] = label
            generator = REAL_GENERATOR
            attrs: dict[str, Any] = {}
            raw_generator = None
            if self.generator_column:
                raw_generator = self._value(self.generator_column, batch[self.generator_column][i])
            given = raw_generator is not None and str(raw_generator).strip() != ""
            if label == 1:
                generator = self._generator_of(raw_generator)
                if generator == REAL_GENERATOR:  # the generator column says "real"
                    self.conflicts["synthetic label, real generator"] += 1
                    generator = UNKNOWN_GENERATOR
                self.seen_generators[str(raw_generator) if given else "(empty)"] = generator
            elif given and self._generator_of(raw_generator) != REAL_GENERATOR:
                if self.check_generator_consistency:
                    self.conflicts["real label, generator named"] += 1
                else:  # e.g. where a real image comes from; kept, not a generator
                    attrs["real_origin"] = json_safe(raw_generator)
            for column in self.attr_columns:
                attrs[column.lower()] = _shared(json_safe(self._value(column, batch[column][i])))
            locator = f"{relpath}#{row_index}"
            extra = {k: batch[c][i] for k, c in self.extra_columns.items()}
            yield ManifestRow(
                sample_id=printable(f"{self.dataset_id}:{locator}"),  # file names may hold any bytes
                locator=locator,
                label=label,
                generator_id=generator,
                source=str(extra.get("source") or source),
                split=str(extra.get("split") or split),
                attrs=attrs,
            )

    def check(self, where: str) -> list[str]:
        """Raise for unmapped label values; return warnings (dropped rows, label/generator conflicts)."""
        if self.unmapped:
            shown = ", ".join(f"{v!r} ({n} rows)" for v, n in self.unmapped.most_common(3))
            raise ManifestError(
                f"{where}: label value(s) {shown} in column '{self.label_column}' are not in the label map "
                f"({', '.join(f'{k}={v}' for k, v in self.labels.items())})"
            )
        warnings = [
            f"dropped {n} row(s) with label value {v!r} (declared unlabeled)" for v, n in self.dropped.items()
        ]
        for what, n in self.conflicts.items():
            warnings.append(
                f"{n} row(s) with {what} ('{self.label_column}' vs '{self.generator_column}'); the label "
                "column was kept" + (", generator set to 'unknown'" if what.startswith("synthetic") else "")
            )
        return warnings
