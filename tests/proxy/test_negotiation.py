"""PEP 691 content negotiation, as pure logic."""

from __future__ import annotations

import pytest

from tuf_pypi.proxy.negotiation import HTML_V1, JSON_V1, TEXT_HTML, negotiate

from .helpers import PIP_ACCEPT

UV_ACCEPT = (
    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, "
    "text/html;q=0.01"
)
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        pytest.param(PIP_ACCEPT, JSON_V1, id="pip"),
        pytest.param(UV_ACCEPT, JSON_V1, id="uv"),
        pytest.param(BROWSER, TEXT_HTML, id="browser"),
        pytest.param(None, TEXT_HTML, id="no-header"),
        pytest.param("", TEXT_HTML, id="empty-header"),
        pytest.param("*/*", TEXT_HTML, id="anything"),
        pytest.param("text/html", TEXT_HTML, id="pep-503-client"),
        pytest.param("text/*", TEXT_HTML, id="text-wildcard"),
        pytest.param(HTML_V1, HTML_V1, id="v1-html"),
        pytest.param("application/vnd.pypi.simple.latest+json", JSON_V1, id="latest-json"),
        pytest.param("application/vnd.pypi.simple.latest+html", HTML_V1, id="latest-html"),
        pytest.param("APPLICATION/VND.PYPI.SIMPLE.V1+JSON", JSON_V1, id="case-insensitive"),
        pytest.param(f"{JSON_V1};q=0.5, text/html;q=0.9", TEXT_HTML, id="q-values"),
        pytest.param(f"{JSON_V1};q=0.500, {HTML_V1};q=0.5", HTML_V1, id="tie-by-preference"),
        pytest.param(f"text/html;q=0, {JSON_V1};q=0.1", JSON_V1, id="q-zero-excludes"),
        pytest.param("text/html;q=0, */*", HTML_V1, id="specific-range-wins-over-wildcard"),
        pytest.param(f"{JSON_V1}, */*;q=0.1", JSON_V1, id="exact-beats-wildcard"),
        pytest.param(f"text/html;q=2, {JSON_V1};q=0.3", JSON_V1, id="bad-q-ignored"),
        pytest.param(f"nonsense, {HTML_V1}", HTML_V1, id="malformed-member-ignored"),
        pytest.param("text/html; charset=utf-8; q=0.5", TEXT_HTML, id="other-params"),
    ],
)
def test_negotiated_type(accept: str | None, expected: str) -> None:
    chosen = negotiate(accept)
    assert chosen is not None
    assert chosen.media_type == expected


@pytest.mark.parametrize(
    "accept",
    [
        "application/json",
        "application/vnd.pypi.simple.v2+json",
        "text/plain, image/*",
        "*/*;q=0",
        "text/html;q=1.5",
        "garbage",
    ],
)
def test_nothing_acceptable(accept: str) -> None:
    assert negotiate(accept) is None


def test_content_types() -> None:
    assert negotiate(PIP_ACCEPT).content_type == JSON_V1  # type: ignore[union-attr]
    assert negotiate("text/html").content_type == "text/html; charset=utf-8"  # type: ignore[union-attr]
    assert negotiate(HTML_V1).form == "html"  # type: ignore[union-attr]
