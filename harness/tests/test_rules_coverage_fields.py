"""Every rule says where its effect is seen (Rule.shows) in names the checker compares, and
whether it is documented behaviour."""
from harness.check import OBSERVABLE_RULES
from harness.model.rules import REGISTRY
import harness.model  # noqa: F401  (registers the rules)

STATE = set(OBSERVABLE_RULES) | {"sockname", "peername", "IPV6_V6ONLY"}


def test_shows_names_what_the_checker_compares():
    bad = {name: r.shows for name, r in REGISTRY.items()
           if not r.shows or any(not (s == "answer" or s.startswith("out.") or s in STATE) for s in r.shows)}
    assert bad == {}


def test_documented_or_detail():
    assert REGISTRY["socket.type_flags_invalid"].is_documented           # socket(2) ERRORS
    assert not REGISTRY["bind.tcp_ephemeral_odd"].is_documented          # a Linux detail
    assert REGISTRY["getsockname.inet"].is_documented                    # explicit
    assert REGISTRY["getsockopt.so_type"].to_json()["documented"] is True
