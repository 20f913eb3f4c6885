"""The proxy's URL space, as pure logic."""

from __future__ import annotations

import pytest

from tuf_pypi.proxy.routes import (
    FileRoute,
    MetricsRoute,
    NotFound,
    PageRoute,
    Redirect,
    RootRoute,
    Route,
    file_url,
    route,
)

SHA = "ab" * 32


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/", Redirect("/simple/")),
        ("", Redirect("/simple/")),
        ("/simple", Redirect("/simple/")),
        ("/simple/", RootRoute()),
        ("/simple/demo-core/", PageRoute("demo-core")),
        ("/simple/demo-core/?x=1", PageRoute("demo-core")),
        ("http://127.0.0.1:1/simple/demo-core/", PageRoute("demo-core")),
        ("/simple/demo-core", Redirect("/simple/demo-core/")),
        ("/simple/Demo_Core/", Redirect("/simple/demo-core/")),
        ("/simple/Demo_Core", Redirect("/simple/demo-core/")),
        ("/simple/demo.core/", Redirect("/simple/demo-core/")),
        ("/simple/Demo%5FCore/", Redirect("/simple/demo-core/")),
        (
            f"/files/demo-core/{SHA}/demo_core-1.0-py3-none-any.whl",
            FileRoute("demo-core", SHA, "demo_core-1.0-py3-none-any.whl"),
        ),
        (
            f"/files/demo-core/{SHA}/a%20b.whl.metadata",
            FileRoute("demo-core", SHA, "a b.whl.metadata"),
        ),
        ("/metrics", MetricsRoute()),
    ],
)
def test_route(target: str, expected: Route) -> None:
    assert route(target) == expected


@pytest.mark.parametrize(
    "target",
    [
        "/simple/demo-core/index.html",
        "/simple//",
        "/simple/..%2F..%2Fetc/",
        "/simple/-bad-/",
        "/simple/caf%C3%A9/",
        f"/files/Demo_Core/{SHA}/x.whl",
        f"/files/demo-core/{SHA.upper()}/x.whl",
        "/files/demo-core/abc/x.whl",
        f"/files/demo-core/{SHA}/..",
        f"/files/demo-core/{SHA}/a%2Fb.whl",
        f"/files/demo-core/{SHA}/",
        f"/files/demo-core/{SHA}/x.whl/more",
        "/packages/x.whl",
        "/tuf/root.json",
        "relative",
    ],
)
def test_not_found(target: str) -> None:
    assert isinstance(route(target), NotFound)


@pytest.mark.parametrize(
    "target",
    [
        "/simple/foo%0A/",  # a raw LF would end the Location header and start another
        "/simple/foo%0A",
        "/simple/Foo%0D%0ASet-Cookie:%20x/",
        "/simple/%C5%BFix/",  # U+017F LONG S: case-folds to "six", but is not ASCII
        "/simple/%C5%BFix",
        "/simple/%C4%B1dna/",  # U+0131 DOTLESS I
        f"/files/foo%0A/{SHA}/x.whl",
        f"/files/%C5%BFix/{SHA}/x.whl",
    ],
)
def test_names_that_only_look_valid_are_refused_not_redirected(target: str) -> None:
    # Refused outright: never normalized into a redirect, so nothing from them can
    # reach a Location header.
    where = route(target)
    assert isinstance(where, NotFound), where


def test_file_url_round_trips_through_the_page_url() -> None:
    from urllib.parse import urljoin, urlsplit

    name = "odd name+1.0.whl"
    url = urljoin("http://127.0.0.1:9/simple/demo-core/", file_url("demo-core", SHA, name))
    assert "?" not in url and "#" not in url
    assert route(urlsplit(url).path) == FileRoute("demo-core", SHA, name)
    assert route(urlsplit(url + ".metadata").path) == FileRoute(
        "demo-core", SHA, name + ".metadata"
    )
