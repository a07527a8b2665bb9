"""The fake GLPI's users, e-mails, groups and ticket actors (legacy API item types, GLPI's own field names).

- ``User`` {id, name}, ``UserEmail`` {id, users_id, email, is_default, is_dynamic}, ``Group`` {id, name};
  a ticket's actors ``Ticket_User`` {id, tickets_id, users_id, type, use_notification, alternative_email} and
  ``Group_Ticket`` {id, tickets_id, groups_id, type}; type 1 requester, 2 assigned, 3 observer.
- Read: ``GET UserEmail/`` (paged, ``searchText[email]``), ``GET User/:id/UserEmail``, ``GET Ticket/:id/Ticket_User``,
  ``GET Ticket/:id/Group_Ticket``. ``POST Ticket/`` takes ``_users_id_requester``, ``_users_id_assign`` and
  ``_groups_id_assign`` (an id or a list; 0 is nobody) as actors.
- Write: ``POST Ticket_User/`` / ``Group_Ticket/`` ``{"input": {tickets_id, users_id|groups_id, type}}`` → 201,
  ``DELETE Ticket_User/:id`` / ``Group_Ticket/:id`` → 200.
- In GLPI: ``add_user(name, email)``, ``add_group(name)``, ``assign(ticket_id, user_id=…, group_id=…)`` (the
  ticket's ``date_mod`` moves, like an actor change made in the ticket form).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ACTOR_INPUTS = {"_users_id_requester": ("user", 1), "_users_id_assign": ("user", 2), "_groups_id_assign": ("group", 2)}


@dataclass
class FakePeople:
    users: dict[int, dict[str, Any]] = field(default_factory=dict)
    emails: dict[int, dict[str, Any]] = field(default_factory=dict)
    groups: dict[int, dict[str, Any]] = field(default_factory=dict)
    ticket_users: dict[int, dict[str, Any]] = field(default_factory=dict)
    group_tickets: dict[int, dict[str, Any]] = field(default_factory=dict)
    _next_id: int = 1000

    def _id(self) -> int:
        self._next_id += 1
        return self._next_id

    def add_user(self, name: str, email: str | None = None) -> int:
        user_id = self._id()
        self.users[user_id] = {"id": user_id, "name": name}
        if email:
            row_id = self._id()
            self.emails[row_id] = {"id": row_id, "users_id": user_id, "email": email, "is_default": 1,
                                   "is_dynamic": 0}
        return user_id

    def add_group(self, name: str) -> int:
        group_id = self._id()
        self.groups[group_id] = {"id": group_id, "name": name}
        return group_id

    def add_actor(self, ticket_id: int, *, kind: str, ref: int, type_: int) -> None:
        row_id = self._id()
        if kind == "user":
            self.ticket_users[row_id] = {"id": row_id, "tickets_id": ticket_id, "users_id": ref, "type": type_,
                                         "use_notification": 1, "alternative_email": ""}
        else:
            self.group_tickets[row_id] = {"id": row_id, "tickets_id": ticket_id, "groups_id": ref, "type": type_}

    def actors_from_input(self, ticket_id: int, data: dict[str, Any]) -> None:
        for name, (kind, type_) in ACTOR_INPUTS.items():
            given = data.get(name)
            for ref in given if isinstance(given, list) else [given]:
                if isinstance(ref, int) and ref > 0:
                    self.add_actor(ticket_id, kind=kind, ref=ref, type_=type_)

    def actors(self, ticket_id: int, kind: str, type_: int) -> list[int]:
        rows, key = (self.ticket_users, "users_id") if kind == "user" else (self.group_tickets, "groups_id")
        return [r[key] for r in rows.values() if r["tickets_id"] == ticket_id and r["type"] == type_]

    def write(self, method: str, parts: list[str], data: dict[str, Any] | None,
              tickets: dict[int, Any]) -> tuple[int, Any, dict[str, str]] | None:
        """``POST Ticket_User/`` or ``Group_Ticket/`` (an actor added), ``DELETE Ticket_User/:id`` (removed);
        None when the call is not one of these."""
        if not parts or parts[0] not in ("Ticket_User", "Group_Ticket"):
            return None
        store, key = (self.ticket_users, "users_id") if parts[0] == "Ticket_User" else (self.group_tickets, "groups_id")
        if method == "POST" and len(parts) == 1 and data is not None:
            if int(data.get("tickets_id") or 0) not in tickets or not int(data.get(key) or 0):
                return 400, ["ERROR_GLPI_ADD", f"tickets_id and {key} are mandatory"], {}
            self.add_actor(int(data["tickets_id"]), kind="user" if key == "users_id" else "group",
                           ref=int(data[key]), type_=int(data.get("type") or 1))
            return 201, {"id": self._next_id, "message": ""}, {}
        if method == "DELETE" and len(parts) == 2 and parts[1].isdigit():
            if store.pop(int(parts[1]), None) is None:
                return 404, ["ERROR_ITEM_NOT_FOUND", "Item not found"], {}
            return 200, [{parts[1]: True, "message": ""}], {}
        return None

    def rows(self, parts: list[str], query: dict[str, list[str]]) -> list[dict[str, Any]] | None:
        """The rows a people GET names, or None when it names none of them."""
        if parts == ["UserEmail"]:
            return list(self.emails.values())
        if len(parts) == 3 and parts[0] == "User" and parts[2] == "UserEmail" and parts[1].isdigit():
            return [r for r in self.emails.values() if r["users_id"] == int(parts[1])]
        if len(parts) == 3 and parts[0] == "Ticket" and parts[2] in ("Ticket_User", "Group_Ticket") and parts[1].isdigit():
            store = self.ticket_users if parts[2] == "Ticket_User" else self.group_tickets
            return [r for r in store.values() if r["tickets_id"] == int(parts[1])]
        return None
