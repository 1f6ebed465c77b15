"""The trending formula (as the legacy's lib/trending.ts): integer arithmetic, stable order.

Topics are lower-cased case categories; each case created in the ``days`` days up to
``as_of`` adds weight(priority) x (days - age) where weight is low 1, medium 2, high 3,
urgent 5 and age is its whole days before ``as_of``. Topics rank by score desc, then topic
(JavaScript string order: UTF-16 code units); samples are each topic's three highest-scoring
cases, then newest, then highest id.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from backend.clock import DAY_MS, ms_iso, parse_ms
from backend.models import Case, TrendingTopic

PRIORITY_WEIGHT = {"low": 1, "medium": 2, "high": 3, "urgent": 5}
MAX_TOPICS = 20
SAMPLES = 3


@dataclass
class _Topic:
    score: int = 0
    cases: list[tuple[int, int, str]] = field(default_factory=list)  # (id, points, createdAt)


@dataclass(frozen=True)
class ComputedTopic:
    topic: str
    score: int
    case_count: int
    sample_case_ids: list[int]


def _js_order(text: str) -> bytes:
    return text.encode("utf-16-be", "surrogatepass")


def compute_topics(session: Session, as_of: str, days: int) -> list[ComputedTopic]:
    end = parse_ms(as_of)
    bounds = [ms_iso(end - k * DAY_MS) for k in range(days + 1)]
    rows = session.execute(
        select(Case.id, func.lower(Case.category), Case.priority, Case.created_at)
        .where(Case.created_at > bounds[days], Case.created_at <= bounds[0])
        .order_by(Case.id)
    ).all()
    topics: dict[str, _Topic] = {}
    for case_id, topic, priority, created_at in rows:
        age = 0
        while age < days - 1 and created_at <= bounds[age + 1]:
            age += 1
        points = PRIORITY_WEIGHT.get(priority, 1) * (days - age)
        entry = topics.setdefault(topic, _Topic())
        entry.score += points
        entry.cases.append((case_id, points, created_at))
    out: list[ComputedTopic] = []
    for topic, entry in topics.items():
        ranked = sorted(entry.cases, key=lambda c: c[0], reverse=True)  # id desc
        ranked.sort(key=lambda c: c[2], reverse=True)  # then newest (stable)
        ranked.sort(key=lambda c: c[1], reverse=True)  # points first
        samples = [c[0] for c in ranked[:SAMPLES]]
        out.append(ComputedTopic(topic, entry.score, len(entry.cases), samples))
    out.sort(key=lambda t: _js_order(t.topic))
    out.sort(key=lambda t: -t.score)
    return out[:MAX_TOPICS]


def store_topics(session: Session, topics: list[ComputedTopic], as_of: str) -> None:
    session.execute(delete(TrendingTopic))
    for t in topics:
        session.add(
            TrendingTopic(
                topic=t.topic,
                score=float(t.score),
                case_count=t.case_count,
                sample_case_ids=json.dumps(t.sample_case_ids, separators=(",", ":")),
                computed_at=as_of,
            )
        )
        session.flush()
