"""docs/proxy.md: the Prometheus alert rules parse, and use only metrics and labels the
proxy really exports; the configuration file example is one the client accepts."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from tuf_pypi.client import TamperedError
from tuf_pypi.client.config import load_config
from tuf_pypi.proxy import ProxyServer
from tuf_pypi.testing.mirror_server import MirrorServer
from tuf_pypi.testing.signed_index import Index

DOC = Path(__file__).resolve().parents[2] / "docs" / "proxy.md"
_METRIC = re.compile(r"\b(tuf_pypi_\w+)(\{[^}]*\})?")


def _block(language: str, marker: str) -> str:
    blocks = re.findall(rf"```{language}\n(.*?)```", DOC.read_text(), re.S)
    [block] = [b for b in blocks if marker in b]
    return block


def _exported(mirror: MirrorServer, index: Index, tmp_path: Path) -> dict[str, set[str]]:
    """Metric name -> label names, from a proxy that served a page and refused an answer."""
    with ProxyServer(
        [mirror.url], index.root_bytes, tmp_path / "cache", cache_max_size=10**9
    ) as proxy:
        proxy.app.respond("/simple/demo-core/", {})
        proxy.health.failed(mirror.url, TamperedError("a test refusal"), "test")
        text = proxy.registry.render()
    names: dict[str, set[str]] = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            names.setdefault(line.split()[2], set())
        elif line and not line.startswith("#"):
            name, _, rest = line.partition("{")
            labels = re.findall(r'(\w+)="', rest.partition("}")[0]) if rest else []
            names.setdefault(name.split()[0], set()).update(labels)
    return names


def test_alert_rules_use_exported_metrics(
    mirror: MirrorServer, base_index: Index, tmp_path: Path
) -> None:
    rules = yaml.safe_load(_block("yaml", "groups:"))
    exported = _exported(mirror, base_index, tmp_path)
    alerts = [rule for group in rules["groups"] for rule in group["rules"]]
    assert len(alerts) >= 4
    for rule in alerts:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule
        assert rule["alert"] and rule["labels"]["severity"] in ("warning", "critical")
        used = _METRIC.findall(rule["expr"])
        assert used, rule["expr"]
        for name, selector in used:
            assert name in exported, f"{rule['alert']}: {name} is not exported"
            for label in re.findall(r"(\w+)\s*=~?", selector):
                assert label in exported[name], f"{rule['alert']}: {name} has no label {label}"
        for label in re.findall(r"\$labels\.(\w+)", str(rule.get("annotations"))):
            assert any(label in exported[name] for name, _ in used), (rule["alert"], label)


def test_configuration_example_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "tuf-pypi.toml"
    path.write_text(_block("toml", "mirrors ="))
    config = load_config([path])
    assert config.mirrors == ("https://mirror.example/", "https://backup.example/")
    assert config.root == tmp_path / "root.json"
    assert config.cache_max_size == 2 * 1024**3
