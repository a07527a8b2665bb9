"""What every admin form shares (api/web/admin/forms.py): a refusal's messages by form field, the JSON fields, the
summary above a form and the one line of a page without one, the redirect that names what was done."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, Field, ValidationError, model_validator

from api.errors import Conflict
from api.web.admin.forms import Refusal, attempt, back_to, checked, field_errors


class Channel(BaseModel):
    channel: str
    url: str | None = None


class Conditions(BaseModel):
    priorities: list[int] = Field(default_factory=list, max_length=5)
    keywords: list[str] = Field(default_factory=list)


class Rule(BaseModel):
    name: str = Field(min_length=1)
    conditions: Conditions = Field(default_factory=Conditions)
    channels: list[Channel] = Field(default_factory=list)

    @model_validator(mode="after")
    def _named_once(self) -> Rule:
        if self.name == "twice":
            raise ValueError("say it once")
        return self


def _refusal_of(data: dict[str, Any], **keys: tuple[str, ...]) -> dict[str, str]:
    with pytest.raises(ValidationError) as caught:
        Rule.model_validate(data)
    return field_errors(caught.value, **keys)


def test_field_errors_are_keyed_by_the_form_field_and_a_model_wide_one_by_nothing() -> None:
    assert _refusal_of({"name": "", "conditions": {"priorities": ["x"]}}, nested=("conditions",)) == {
        "name": "String should have at least 1 character",
        "priorities": "Input should be a valid integer, unable to parse string as an integer"}
    assert _refusal_of({"name": "twice"}) == {"": "Value error, say it once"}


def test_two_messages_of_one_field_are_joined() -> None:
    errors = _refusal_of({"name": "x", "conditions": {"priorities": ["a", "b"]}}, nested=("conditions",))
    assert errors["priorities"].count("Input should be a valid integer") == 2 and "; " in errors["priorities"]


def test_a_json_field_says_where_in_it_the_model_refused() -> None:
    with pytest.raises(Refusal) as caught:
        checked(Rule, {"name": "x", "channels": []}, json_fields={"channels": '[{"channel": "EMAIL"}, {"url": 1}]'})
    assert caught.value.errors == {"channels": "1.channel: Field required; 1.url: Input should be a valid string"}
    assert caught.value.status == 422


def test_a_json_field_that_does_not_parse_says_where_with_the_model_s_other_messages() -> None:
    with pytest.raises(Refusal) as caught:
        checked(Rule, {"name": "", "conditions": {}}, json_fields={"conditions": '{"priorities": [1,'})
    assert caught.value.errors == {
        "conditions": "not valid JSON: Expecting value (line 1, column 19)",
        "name": "String should have at least 1 character"}


def test_an_unreadable_json_field_is_refused_even_when_its_default_would_do() -> None:
    with pytest.raises(Refusal) as caught:
        checked(Rule, {"name": "x", "channels": []}, json_fields={"channels": "[{channel: 1}"})
    assert caught.value.errors == {
        "channels": "not valid JSON: Expecting property name enclosed in double quotes (line 1, column 3)"}


def test_an_empty_json_field_stands_for_the_default_and_a_readable_one_is_read() -> None:
    rule = checked(Rule, {"name": "x", "channels": [], "conditions": {}},
                   json_fields={"channels": " ", "conditions": '{"keywords": ["vpn"]}'})
    assert rule.channels == [] and rule.conditions.keywords == ["vpn"]


def test_the_summary_names_the_fields_below_or_says_the_refusal_of_the_whole_form() -> None:
    fields = Refusal({"name": "too short", "channels": "0: no url"})
    assert fields.summary == "Not saved: correct name, channels (below)."
    assert fields.text == "name: too short; channels: 0: no url"
    whole = Refusal({"": "There is already such a rule."}, 409)
    assert whole.summary == whole.text == "There is already such a rule."


async def test_attempt_returns_the_result_or_the_refusal_with_its_status() -> None:
    async def fine() -> int:
        return 7

    async def invalid() -> None:
        Rule.model_validate({"name": "", "conditions": {"keywords": [1]}})

    async def clash() -> None:
        raise Conflict("The rule exists.")

    async def unreadable() -> None:
        checked(Rule, {"name": "x"}, json_fields={"channels": "["})

    assert await attempt(fine) == 7
    refused = await attempt(invalid, nested=("conditions",))
    assert isinstance(refused, Refusal) and refused.status == 422 and set(refused.errors) == {"name", "keywords"}
    conflict = await attempt(clash)
    assert isinstance(conflict, Refusal) and conflict.status == 409 and conflict.errors == {"": "The rule exists."}
    json_refused = await attempt(unreadable)
    assert isinstance(json_refused, Refusal) and json_refused.errors["channels"].startswith("not valid JSON")


def test_back_to_names_what_was_done_after_the_query_if_any() -> None:
    assert back_to("/console/admin/kb", "created").headers["location"] == "/console/admin/kb?done=created"
    moved = back_to("/console/admin/kb/trends?days=7", "refreshed")
    assert moved.status_code == 303 and moved.headers["location"] == "/console/admin/kb/trends?days=7&done=refreshed"
