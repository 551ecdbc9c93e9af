"""Links the APIs hand back, re-rooted on the gateway.

Confluence's `_links.next` is site-relative (/wiki/api/v2/...), Jira's `nextPage` is site-absolute
(https://acme.atlassian.net/rest/...). Through the gateway every one of them must be re-rooted on
{gateway}/ex/{product}/{cloudId}. A link to any other origin is refused rather than followed with the
token. Jira attachment `content` URLs are not followed at all: some of their forms (`/secure/attachment/...`,
`/jira/rest/...`) re-root to paths the gateway does not serve, so bytes are asked for by id.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from .errors import UnexpectedResponse

SITE_SUFFIXES = (".atlassian.net", ".jira.com", ".jira-dev.com")


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def reroot(link: str, product_root: str, site_origin: str | None = None) -> str:
    """The gateway URL for a link from an API response.

    `product_root` is {gateway}/ex/{product}/{cloudId}. Links already under the gateway stay there.
    """
    if not link:
        raise UnexpectedResponse("the API returned an empty link")
    root = urlsplit(product_root)
    gateway_origin = f"{root.scheme}://{root.netloc}".lower()
    parts = urlsplit(link)
    if parts.scheme or parts.netloc:
        link_origin = f"{parts.scheme}://{parts.netloc}".lower()
        host = (parts.hostname or "").lower()
        is_site = link_origin == (site_origin or "").lower() or host.endswith(SITE_SUFFIXES)
        if link_origin != gateway_origin and not is_site:
            raise UnexpectedResponse(f"the API returned a link to another host ({link_origin}); not following it")
    path = parts.path if parts.path.startswith("/") else f"/wiki/{parts.path}"
    if path.startswith(root.path + "/") or path == root.path:
        return urlunsplit((root.scheme, root.netloc, path, parts.query, ""))
    if path.startswith("/ex/"):
        raise UnexpectedResponse(f"the API returned a link into another gateway product ({path.split('/')[2]})")
    return urlunsplit((root.scheme, root.netloc, root.path + path, parts.query, ""))
