"""What a dataset spec says about its raw columns, declared once: :class:`ColumnRules`.

Both :class:`negate_sdk.manifests.spec.DatasetSpec` (the TOML file, checked) and
:class:`negate_sdk.manifests.columns.RowMapping` (the rules applied to rows, with what was seen) are
column rules; each adds only its own fields.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any


@dataclass(frozen=True, kw_only=True)
class ColumnRules:
    """Which raw columns hold the label, the generator and the attrs, and how raw values map to labels and
    generator ids (see ``docs/datasets.md`` for the TOML keys they come from).

    ``labels``: raw label value → 0/1; ``class_names``: the stated order of a ClassLabel column (checked,
    never trusted for mapping); ``constant_label``: every row's label when there is no label column;
    ``unlabeled``: raw label values whose rows are dropped; ``generators``: raw generator value → generator
    id; ``synthetic_generator``: the generator of synthetic rows with none; ``check_generator_consistency``:
    count real rows that name a generator as conflicts instead of keeping the name as ``real_origin``.
    """

    label_column: str | None = None
    generator_column: str | None = None
    attr_columns: tuple[str, ...] = ()
    labels: dict[str, int] = field(default_factory=dict)
    class_names: tuple[str, ...] | None = None
    constant_label: int | None = None
    unlabeled: tuple[str, ...] = ()
    generators: dict[str, str] = field(default_factory=dict)
    synthetic_generator: str | None = None
    check_generator_consistency: bool = False

    def column_rules(self) -> dict[str, Any]:
        """The rules alone, as keyword arguments for another :class:`ColumnRules` (tables copied)."""
        return {
            f.name: dict(value) if isinstance(value := getattr(self, f.name), dict) else value
            for f in fields(ColumnRules)
        }
