"""Engine adapters: strata.integrations.lmcache (LMCache remote connector) and
strata.integrations.sglang (SGLang HiCache storage backend). Each subclasses the engine's base
class when the engine is importable and is a standalone class with the same methods otherwise."""

import re
import hashlib

_NS_BAD = re.compile(r"[^A-Za-z0-9._:/-]")


def make_namespace(*parts):
    """A Strata namespace (1-128 bytes of [A-Za-z0-9._:/-]) from engine identity parts.

    Parts are joined with '/'; characters outside the alphabet become '_' and, when any did, or
    the result is longer than 128, a short hash of the exact input is appended so that two
    different identities never share a namespace."""
    raw = "/".join(str(p) for p in parts if p is not None and str(p) != "")
    ns = _NS_BAD.sub("_", raw)
    if ns != raw or len(ns) > 128 or not ns:
        tag = hashlib.sha256(raw.encode("utf-8")).hexdigest()[:16]
        ns = ns[: 128 - 18].rstrip("/") + "/h" + tag
    return ns
