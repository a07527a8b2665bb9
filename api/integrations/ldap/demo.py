"""The demo directory: the demo organisation (data/demo/org.yml) with what data/demo/directory.yml adds —
managers, mobile numbers, a locked account, requestable groups — as slapd seed LDIF. Every team is a group.

    layout, text = demo.ldif(services={"deskmate": service_password})

The demo's people sign in to it with directory.yml's ``password``; uids are the local part of the e-mail.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from api.integrations.ldap.slapd import Group, Layout, Person
from api.integrations.ldap.slapd import ldif as tree_ldif
from api.settings import REPO_ROOT

DEMO_DIR = REPO_ROOT / "data" / "demo"


def uid(email: str) -> str:
    return email.partition("@")[0]


def people(org: dict[str, Any], extra: dict[str, Any]) -> list[Person]:
    managers, mobiles, locked = extra.get("managers", {}), extra.get("mobiles", {}), set(extra.get("locked", []))
    return [Person(uid=uid(p["email"]), name=p["name"], email=p["email"], mobile=mobiles.get(p["email"]),
                   manager_uid=uid(managers[p["email"]]) if p["email"] in managers else None,
                   password=extra["password"], locked=p["email"] in locked)
            for p in org["people"]]


def groups(org: dict[str, Any], extra: dict[str, Any]) -> list[Group]:
    teams = [Group(name=t["slug"], description=t["name"], requestable=False,
                   members=tuple(uid(p["email"]) for p in org["people"] if t["slug"] in p.get("teams", [])))
             for t in org["teams"]]
    catalogue = [Group(name=g["name"], description=g.get("description"), requestable=True,
                       owner_uid=uid(g["owner"]) if g.get("owner") else None,
                       members=tuple(uid(m) for m in g["members"])) for g in extra.get("requestable", [])]
    return [g for g in teams if g.members] + catalogue


def ldif(*, services: dict[str, str], org_path: Path = DEMO_DIR / "org.yml",
         directory_path: Path = DEMO_DIR / "directory.yml") -> tuple[Layout, str]:
    """The demo tree's layout and its LDIF for slapadd; ``services`` maps service account cn → password."""
    org, extra = yaml.safe_load(org_path.read_text()), yaml.safe_load(directory_path.read_text())
    layout = Layout(extra["suffix"])
    return layout, tree_ldif(layout, people=people(org, extra), groups=groups(org, extra), services=services)
