"""Plain data across the harness's process boundary: JSON with tags that keep exact types.

None, bool, int, float (inf and nan too) and str travel as themselves; list, tuple, set,
frozenset, dict and bytes as {"t": type, "v": items}. Only these exact types are accepted, not
subclasses: an object with its own __eq__ cannot cross. Standard library only.
"""

MAX_DEPTH = 100
CONTAINERS = {"list": list, "tuple": tuple, "set": set, "frozenset": frozenset}


def encode(v, depth=0):
    if depth > MAX_DEPTH:
        raise ValueError("the value is nested too deeply")
    t = type(v)
    if v is None or t in (bool, int, float, str):
        return v
    if t in (list, tuple, set, frozenset):
        return {"t": t.__name__, "v": [encode(x, depth + 1) for x in v]}
    if t is dict:
        return {"t": "dict", "v": [[encode(k, depth + 1), encode(x, depth + 1)] for k, x in v.items()]}
    if t is bytes:
        return {"t": "bytes", "v": v.hex()}
    raise TypeError("a %s is not plain data" % t.__name__)


def decode(v, depth=0):
    if depth > MAX_DEPTH:
        raise ValueError("the value is nested too deeply")
    if not isinstance(v, dict):
        return v
    tag, items = v["t"], v["v"]
    if tag == "dict":
        return {decode(k, depth + 1): decode(x, depth + 1) for k, x in items}
    if tag == "bytes":
        return bytes.fromhex(items)
    return CONTAINERS[tag](decode(x, depth + 1) for x in items)
