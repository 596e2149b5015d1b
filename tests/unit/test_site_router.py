"""The sites' CloudFront Function, run by node with the `cloudfront` module's KeyValueStore handle mocked.

The handler is the file the template embeds (chalicelib/infra/site_router.js), evaluated as CloudFront would
run it but for its one import, whose `cf.kvs()` here reads a dict. Index rules are checked against the
embedded site server's (`chalicelib.local.sites._candidates`), so the two serve the same object for a path.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

import pytest

from chalicelib.infra.cdn import SITE_ROUTER_CODE, SITE_ROUTER_SOURCE
from chalicelib.local.sites import _candidates

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")

# Reads {"source": path, "store": {...}, "events": [...]} on stdin, prints the handler's results as JSON.
HARNESS = r"""
const fs = require('node:fs');
const vm = require('node:vm');
const input = JSON.parse(fs.readFileSync(0, 'utf8'));
const importLine = /^import cf from 'cloudfront';$/m;
const source = fs.readFileSync(input.source, 'utf8');
if (!importLine.test(source)) throw new Error("the router must `import cf from 'cloudfront';`");
const lookups = [];
// input.failing: the store cannot be read ("all": every call throws; "get": get() throws, exists() answers).
const held = (key) => Object.prototype.hasOwnProperty.call(input.store, key);
const cf = { kvs: () => ({
  get: async (key) => {
    lookups.push(key);
    if (input.failing) throw new Error('KeyValueStore read failed');
    if (!held(key)) throw new Error('KeyNotFound: ' + key);
    return input.store[key];
  },
  exists: async (key) => {
    if (input.failing === 'all') throw new Error('KeyValueStore read failed');
    return held(key);
  },
}) };
const handler = vm.runInNewContext(source.replace(importLine, '') + '\n;handler', { cf: cf });
(async () => {
  const results = [];
  for (const event of input.events) results.push(await handler(event));
  process.stdout.write(JSON.stringify({ results: results, lookups: lookups }));
})().catch((err) => { console.error(err); process.exit(1); });
"""

STORE = {
    "site--acme": "deployments/7/",
    "d3--site--acme": "deployments/3/",
    "site--acme--git--main": "deployments/9/",
}


def _event(host: str | None, uri: str) -> dict[str, Any]:
    headers = {"host": {"value": host}} if host is not None else {}
    return {
        "version": "1.0",
        "context": {"eventType": "viewer-request"},
        "viewer": {"ip": "192.0.2.1"},
        "request": {"method": "GET", "uri": uri, "querystring": {}, "headers": headers, "cookies": {}},
    }


def _route(
    *requests: tuple[str | None, str], store: dict[str, str] = STORE, failing: str | None = None
) -> tuple[list[dict[str, Any]], list[str]]:
    payload = {
        "source": str(SITE_ROUTER_SOURCE),
        "store": store,
        "failing": failing,
        "events": [_event(h, u) for h, u in requests],
    }
    result = subprocess.run(
        ["node", "-e", HARNESS], input=json.dumps(payload), capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout)
    return output["results"], output["lookups"]


def test_production_preview_and_immutable_hosts_are_rewritten_to_their_prefixes() -> None:
    # Given a store that maps three kinds of label to artifact prefixes
    # When each host asks for its root
    results, lookups = _route(
        ("site--acme.sites.example.com", "/"),
        ("d3--site--acme.sites.example.com", "/"),
        ("Site--Acme--Git--Main.Sites.Example.com", "/"),
    )
    # Then each request goes to its own prefix in the bucket, looked up by the host's first label
    assert [r["uri"] for r in results] == [
        "/deployments/7/index.html",
        "/deployments/3/index.html",
        "/deployments/9/index.html",
    ]
    assert lookups == ["site--acme", "d3--site--acme", "site--acme--git--main"]


@pytest.mark.parametrize(
    ("uri", "key"),
    [
        ("/", "index.html"),
        ("/docs/", "docs/index.html"),
        ("/docs", "docs/index.html"),
        ("/docs/intro", "docs/intro/index.html"),
        ("/app.js", "app.js"),
        ("/assets/logo.svg", "assets/logo.svg"),
        ("/a/b.c/d", "a/b.c/d/index.html"),
        ("/v1.2/", "v1.2/index.html"),
    ],
)
def test_index_rules_are_the_embedded_site_servers(uri: str, key: str) -> None:
    # When CloudFront routes a path of production
    (result,), _ = _route(("site--acme.sites.example.com", uri))
    # Then it asks the bucket for the object the rules name
    assert result["uri"] == "/deployments/7/" + key
    # And the embedded site server serves that same object for the path
    assert "deployments/7/" + key in _candidates("deployments/7/", uri)


def test_a_rollback_is_one_store_write() -> None:
    # Given production pointing at deployment 7, then at deployment 3 (a rollback writes the store only)
    (before,), _ = _route(("site--acme.sites.example.com", "/page.html"))
    (after,), _ = _route(
        ("site--acme.sites.example.com", "/page.html"), store={**STORE, "site--acme": "deployments/3/"}
    )
    # Then the same request is served from the other deployment's prefix
    assert (before["uri"], after["uri"]) == ("/deployments/7/page.html", "/deployments/3/page.html")


def test_unknown_hosts_are_404_without_asking_the_origin() -> None:
    # When a host the store does not hold (get() throws, exists() says no such key), or no host, is requested
    results, _ = _route(("nothing--here.sites.example.com", "/"), (None, "/"))
    # Then CloudFront answers 404 itself (a response, not a request forwarded to S3)
    for result in results:
        assert result["statusCode"] == 404
        assert "uri" not in result
        assert result["body"]["data"].startswith("no site is served at")


def test_malformed_hosts_are_404_without_a_lookup_and_nothing_of_the_host_is_echoed() -> None:
    # Given hosts whose first label is no label deployd makes (a store key that only matches case-folded
    # would be served otherwise), one of them carrying markup
    hosts = ["<script>alert(1)</script>.sites.example.com", "site_acme.sites.example.com", "a%0d%0ab.sites.example.com"]
    # When each is requested
    results, lookups = _route(*[(host, "/") for host in hosts], store={**STORE, "site_acme": "deployments/7/"})
    # Then each is a 404 that says nothing of the host, and the store is never asked
    assert lookups == []
    for result in results:
        assert result["statusCode"] == 404
        assert result["body"]["data"] == "no site is served at this address\n"


@pytest.mark.parametrize("failing", ["all", "get"], ids=["store-unreadable", "get-failed-for-a-held-key"])
def test_a_store_that_cannot_be_read_is_503_not_404(failing: str) -> None:
    # When the KeyValueStore lookup of a site the store holds fails (the store unreadable, or get() failing
    # while exists() still answers that the key is there)
    (result,), lookups = _route(("site--acme.sites.example.com", "/"), failing=failing)
    # Then CloudFront answers 503 with a Retry-After, not 404: the site is not gone, and nothing reaches S3
    assert lookups == ["site--acme"]
    assert (result["statusCode"], result["statusDescription"]) == (503, "Service Unavailable")
    assert result["headers"]["retry-after"] == {"value": "5"}
    assert "uri" not in result


def test_parent_segments_are_refused() -> None:
    (result,), _ = _route(("site--acme.sites.example.com", "/../d3--site--acme/index.html"))
    assert result["statusCode"] == 400


def test_the_template_embeds_this_file() -> None:
    assert SITE_ROUTER_CODE == SITE_ROUTER_SOURCE.read_text()
