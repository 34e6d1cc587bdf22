"""What an import reports: problems that refuse the model (each naming the Keras layer, its class and
the config key, with the closest Layerloom construct) and warnings that do not."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Problem:
    code: str
    message: str
    layer: str | None = None  # the Keras layer's name
    class_name: str | None = None
    key: str | None = None  # the config key at fault, e.g. "config.padding"
    suggestion: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.layer is not None:
            out["node"] = self.layer
        field_ = ".".join(part for part in ("layers" if self.layer else None, self.layer, self.key) if part)
        if field_:
            out["field"] = field_
        return out


class KerasImportError(Exception):
    """The model cannot be imported; ``problems`` lists every reason found."""

    def __init__(self, problems: list[Problem]) -> None:
        if not problems:
            raise ValueError("KerasImportError needs at least one problem")
        self.problems = problems
        super().__init__("; ".join(p.message for p in problems[:10]))

    @classmethod
    def single(cls, code: str, message: str, **where: Any) -> "KerasImportError":
        return cls([Problem(code, message, **where)])


@dataclass
class Report:
    """Collects problems (so every refusal is reported at once) and warnings."""

    problems: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def refuse(self, layer: str | None, class_name: str | None, key: str | None, message: str,
               suggestion: str | None = None, code: str = "unsupported") -> None:
        where = f"Layer {layer!r} ({class_name})" if layer else "The model"
        text = f"{where}: {message}" + (f" In Layerloom: {suggestion}" if suggestion else "")
        self.problems.append(Problem(code, text, layer, class_name, key, suggestion))

    def warn(self, message: str) -> None:
        self.warnings.append(message)

    def raise_if_any(self) -> None:
        if self.problems:
            raise KerasImportError(self.problems)
