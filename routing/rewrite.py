"""Applying `rewrite-target` (nginx, reference §4.6) and `rewrite-path` (Higress) to a path.

`rewrite-path` replaces what the rule matched at the start of the path and keeps the rest: rule
Prefix `/v1` with `/v2` sends `/v1/a` as `/v2/a` and `/v1` as `/v2`; a replacement ending in `/`
absorbs the rest's leading slash (`/v1/a` with `/` gives `/a`, not `//a`).

For `rewrite-target`, nginx renders ``rewrite "(?i)<path>" <target> break;``: an unanchored,
case-insensitive search of the path regex in the normalised URI; on a match the *whole* URI
becomes the target with `$1`…`$9` replaced by the capture groups (a group that did not take
part gives ""). No match leaves the path unchanged. The query string is not part of the path
and is always kept by the caller.
"""

from __future__ import annotations

import re

from routing.model import Rewrite

_GROUP_REF = re.compile(r"\$(\d)")


def rewrite_path(rewrite: Rewrite, path: str) -> str:
    """The upstream path for a normalised request path (decoded; the proxy re-encodes it)."""
    if rewrite.keep_rest:
        matched = rewrite.pattern.match(path)
        if matched is None:
            return path
        rest = path[matched.end() :]
        if rewrite.target.endswith("/") and rest.startswith("/"):
            rest = rest[1:]
        return rewrite.target + rest
    found = rewrite.pattern.search(path)
    if found is None:
        return path
    groups = found.groups()

    def group(ref: re.Match[str]) -> str:
        n = int(ref.group(1))
        if n == 0:
            return found.group(0)
        return (groups[n - 1] or "") if n <= len(groups) else ""

    result = _GROUP_REF.sub(group, rewrite.target)
    return result if result.startswith("/") else "/" + result
