"""Per-environment settings: infra/config/<env>.json, validated into one object."""

import json
from pathlib import Path
from typing import Any

import attrs

HERE = Path(__file__).resolve().parent


@attrs.frozen(kw_only=True)
class StackConfig:
    stage: str
    region: str
    msk: dict[str, Any]
    topic: dict[str, Any]
    consumer: dict[str, Any]
    # Not named "lambda": a keyword. Read from the file's "lambda" key.
    functions: dict[str, Any]
    api: dict[str, Any]
    vpc: dict[str, Any]
    alarms: dict[str, Any]
    table: dict[str, Any]
    waf: dict[str, Any]

    @property
    def provisioned_msk(self) -> bool:
        kind: str = self.msk["kind"]  # load() checked it
        return kind == "provisioned"

    @classmethod
    def load(cls, env: str) -> "StackConfig":
        path = HERE / f"{env}.json"
        if not path.exists():
            known = ", ".join(sorted(p.stem for p in HERE.glob("*.json")))
            raise SystemExit(f"no configuration {path}; known environments: {known}")
        raw = json.loads(path.read_text())
        raw["functions"] = raw.pop("lambda")
        if raw["msk"]["kind"] not in ("serverless", "provisioned"):
            raise SystemExit(f"{path}: msk.kind must be serverless or provisioned")
        return cls(**raw)
