"""How sites are addressed: host labels, content types, and the files a URL path may name."""

from __future__ import annotations

import itertools

import pytest

from chalicelib.adapters import sites
from chalicelib.local.sites import _candidates
from chalicelib.services.inputs import ProjectCreate

# Valid slugs chosen to tempt collisions: prefixes of each other, a "d<digits>" lookalike, digits only.
_SLUGS = ["a", "a-b", "b", "d1", "d1-a", "1", "1-a"]


def _label(owner: tuple[str, int, str, str]) -> str:
    kind, deployment_id, project, org = owner
    if kind == "production":
        return sites.production_label(project, org)
    return sites.deployment_label(deployment_id, project, org)


def test_host_labels_never_collide() -> None:
    # Given the production site and three deployments of every project/organization pair of tricky, valid slugs
    for slug in _SLUGS:
        ProjectCreate.model_validate({"name": "x", "repo_url": "/r", "slug": slug})
    pairs = list(itertools.product(_SLUGS, repeat=2))
    owners = [("production", 0, p, o) for p, o in pairs] + [
        ("deployment", i, p, o) for i in (1, 11, 111) for p, o in pairs
    ]

    # When each is given its host label
    labels = [_label(owner) for owner in owners]

    # Then no two of them share one
    assert len(set(labels)) == len(owners)


def test_a_deployment_label_reads_back_as_its_parts() -> None:
    # Given a deployment label
    label = sites.deployment_label(42, "my-site", "acme-co")

    # Then splitting on the separator gives the deployment, the project and the organization back
    assert label.split("--") == ["d42", "my-site", "acme-co"]
    assert sites.production_label("my-site", "acme-co").split("--") == ["my-site", "acme-co"]


def test_artifacts_of_different_deployments_never_share_a_prefix() -> None:
    # "deployments/1/" must not be a prefix of "deployments/10/", or one deployment would serve another's files
    prefixes = [sites.artifact_prefix(i) for i in (1, 10, 11, 100)]
    for a, b in itertools.permutations(prefixes, 2):
        assert not b.startswith(a)


@pytest.mark.parametrize(
    "path, content_type",
    [
        ("index.html", "text/html; charset=utf-8"),
        ("deployments/1/INDEX.HTM", "text/html; charset=utf-8"),
        ("css/site.css", "text/css; charset=utf-8"),
        ("app.js", "text/javascript; charset=utf-8"),
        ("module.mjs", "text/javascript; charset=utf-8"),
        ("data.json", "application/json"),
        ("logo.svg", "image/svg+xml"),
        ("photo.JPG", "image/jpeg"),
        ("font.woff2", "font/woff2"),
        ("app.wasm", "application/wasm"),
        ("archive.tar.gz", "application/octet-stream"),
        ("Makefile", "application/octet-stream"),
        (".hidden", "application/octet-stream"),
    ],
)
def test_content_type_follows_the_file_extension(path: str, content_type: str) -> None:
    assert sites.content_type(path) == content_type


@pytest.mark.parametrize(
    "path, keys",
    [
        ("", ["p/index.html"]),
        ("/", ["p/index.html"]),
        ("docs/", ["p/docs/index.html"]),
        ("about", ["p/about", "p/about/index.html", "p/about.html"]),
        ("/docs/guide", ["p/docs/guide", "p/docs/guide/index.html", "p/docs/guide.html"]),
        ("css/site.css", ["p/css/site.css"]),
        ("v1.2/intro", ["p/v1.2/intro", "p/v1.2/intro/index.html", "p/v1.2/intro.html"]),
    ],
)
def test_a_url_path_names_the_objects_tried_in_order(path: str, keys: list[str]) -> None:
    # When the site server maps a path below a deployment's prefix, Then it tries these keys, in this order
    assert _candidates("p/", path) == keys
