"""Values read from a user's database, masked where parity writes a request out."""

from __future__ import annotations

import json
from dataclasses import replace

from harness.cases.generation import build_request, rebuild
from harness.cases.masking import (
    echoed,
    mask_echoes,
    mask_request,
    masked_places,
    unquote_placeholders,
)
from harness.models import DataValue
from harness.pair.transport import curl_line
from harness.run.outcome import request_info
from harness.setup.config import ParityConfig

SECRET_WORD = "Zanzibar"
SECRET_TITLE = "Salary review for Ana"


def _request(private: bool = True) -> tuple:
    req = build_request(
        operation="PUT /api/notes/{id}",
        method="PUT",
        path=f"/api/notes/{SECRET_WORD.lower()}7",
        query=(("q", SECRET_WORD), ("limit", "10")),
        headers=(("accept", "application/json"),),
        role="admin",
        mode="positive",
        json_body={"title": SECRET_TITLE, "pinned": True},
    )
    req = replace(
        req,
        path_params=(("id", f"{SECRET_WORD.lower()}7"),),
        data_values=(
            DataValue("query", ("q",), "db:notes.title:words", private),
            DataValue("body", ("title",), "db:notes.title", private),
            DataValue("path", ("id",), "db:notes.id", private),
        ),
    )
    return req


def _rendered(req) -> str:
    info = request_info(req, ParityConfig())
    lines = [
        unquote_placeholders(curl_line("http://127.0.0.1:9", req)),
        unquote_placeholders(curl_line("", req, url_var="LEGACY_URL")),
    ]
    return json.dumps(info.model_dump()) + "\n" + "\n".join(lines)


def test_private_values_are_placeholders_in_the_request_curl_and_replay_lines() -> None:
    req = _request()
    shown = mask_request(req)
    text = _rendered(shown)
    assert SECRET_WORD not in text
    assert SECRET_WORD.lower() not in text
    assert SECRET_TITLE not in text
    assert shown.query == (("q", "<data:notes.title>"), ("limit", "10"))
    assert shown.body == {"title": "<data:notes.title>", "pinned": True}
    assert shown.path == "/api/notes/<data:notes.id>"
    assert json.loads(shown.content or b"") == shown.body  # the curl body is the masked one
    assert "q=<data:notes.title>" in text  # readable, not percent-encoded
    assert "/api/notes/<data:notes.id>" in text
    assert "limit=10" in text  # values of no database kept as they are
    assert masked_places(req) == [
        "query q: <data:notes.title>",
        "body title: <data:notes.title>",
        "path id: <data:notes.id>",
    ]
    # the request sent is untouched: masking is only what a report shows
    assert dict(req.query)["q"] == SECRET_WORD


def test_a_shrunk_value_at_a_tagged_place_is_masked_too() -> None:
    req = _request()
    shorter = rebuild(req, json_body={"title": SECRET_TITLE[:6]})
    assert shorter.data_values == req.data_values
    assert SECRET_TITLE[:6] not in _rendered(mask_request(shorter))
    # a place the shrinker emptied is no longer listed
    bare = replace(req, query=(("limit", "10"),))
    assert masked_places(bare) == ["body title: <data:notes.title>", "path id: <data:notes.id>"]


def test_values_of_a_managed_snapshot_are_shown() -> None:
    req = _request(private=False)
    assert mask_request(req) is req
    assert masked_places(req) == []
    assert SECRET_TITLE in _rendered(req)


def test_an_answer_or_row_that_echoes_a_private_value_whole_is_masked_there() -> None:
    req = _request()
    texts = echoed(req)
    assert texts == {
        SECRET_WORD: "<data:notes.title>",
        SECRET_TITLE: "<data:notes.title>",
        f"{SECRET_WORD.lower()}7": "<data:notes.id>",
    }
    answer = {"id": 7, "title": SECRET_TITLE, "tags": [SECRET_WORD], "body": f"{SECRET_WORD}!"}
    assert mask_echoes(answer, texts) == {
        "id": 7,
        "title": "<data:notes.title>",
        "tags": ["<data:notes.title>"],
        "body": f"{SECRET_WORD}!",  # equality only: a longer text is the service's own
    }
    assert echoed(_request(private=False)) == {}
