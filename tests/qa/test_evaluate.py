"""The evaluation harness: exact metrics on hand-made predictions, and the baseline end to end."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from qa.answer.baseline import TemplateBaseline
from qa.data.questions import Question
from qa.eval.evaluate import compare, evaluate, score
from qa.types import Answer, Prediction
from tests.qa.films import TRAIN, make_snapshot, make_store, questions


class Fixed:
    """An answerer that says what it was told to (the harness is what is under test)."""

    def __init__(self, said: dict[str, tuple[list[str], list[str]]]) -> None:
        self.said = said
        self.calls: list[int] = []

    def predict(self, qs: Sequence[Question], *, strip_brackets: bool = False) -> list[Prediction]:
        self.calls.append(len(qs))
        out = []
        for q in qs:
            ranked, answers = self.said.get(q.text, ([], []))
            out.append(Prediction(q.text, [q.topic] if q.topic else [], [(e, 1.0 / (i + 1)) for i, e in
                                                                        enumerate(ranked)],
                                  [Answer(e, e, 1.0) for e in answers]))
        return out


QS = [
    Question("who acted in [M1]", ("A", "B"), "M1", 1, "q:1"),
    Question("who directed [M2]", ("C",), "M2", 1, "q:2"),
    Question("which films share actors with [M3]", ("D",), "M3", 2, "q:3"),
    Question("which films share actors with [M4]", ("E", "Z"), "M4", 2, "q:4"),
]
SAID = {
    "who acted in [M1]": (["X", "A", "B"], ["X", "A"]),          # rank 2; P = R = 1/2
    "who directed [M2]": (["C"], ["C"]),                        # rank 1; P = R = 1
    # [M3]: nothing at all: a miss on every measure
    "which films share actors with [M4]": (["M4", "M4", "E"], ["M4", "E"]),   # the topic ranked first: rank 2
}


def test_metrics_have_the_hand_computed_values() -> None:
    answerer = Fixed(SAID)
    report = evaluate(answerer, QS, entities={"A", "B", "C", "D", "E", "X", "M4"}, ks=(1, 2, 5))
    m = report.overall
    assert m.questions == 4
    assert m.hits == {1: 0.25, 2: 0.75, 5: 0.75}
    assert m.mrr == pytest.approx((1 / 2 + 1 + 0 + 1 / 2) / 4)
    assert m.precision == pytest.approx((0.5 + 1 + 0 + 0.5) / 4)
    assert m.recall == pytest.approx((0.5 + 1 + 0 + 0.5) / 4)       # Z, not in the graph, is still gold
    assert m.f1 == pytest.approx((0.5 + 1 + 0 + 0.5) / 4)
    assert m.empty == 1 and m.gold_outside == 1 and m.topic == 1.0
    assert report.by_hop["1-hop"].hits[1] == 0.5 and report.by_hop["2-hop"].hits[1] == 0.0
    assert report.by_hop["2-hop"].mrr == pytest.approx(0.25)
    assert set(report.by_type) == {"who acted in NE", "who directed NE", "which films share actors with NE"}
    assert report.by_type["which films share actors with NE"].questions == 2
    assert [r.rank for r in report.results] == [2, 1, None, 2]
    assert answerer.calls == [4]                                       # one batch by default


def test_one_prediction_scores_precision_and_recall_apart() -> None:
    q = Question("what did [D] direct", ("F1", "F2", "F3", "F4"), "D", 1)
    r = score(q, Prediction(q.text, ["D"], [("F1", 1.0), ("X", 0.5)], [Answer("F1", "F1", 1.0)]))
    assert (r.rank, r.precision, r.recall) == (1, 1.0, 0.25)
    assert r.f1 == pytest.approx(2 * 1.0 * 0.25 / 1.25)


def test_tables_json_batches_types_and_latency() -> None:
    answerer = Fixed(SAID)
    report = evaluate(answerer, QS, batch_size=3, latency_sample=2, name="fixed",
                      question_type=lambda q: "actors" if "act" in q.text else None)
    assert answerer.calls == [3, 1, 1, 1]                              # two batches, then two timed one at a time
    assert set(report.by_type) == {"actors", "other"}
    assert report.latency_ms is not None and report.latency_ms["n"] == 2
    table = report.table()
    assert table.splitlines()[0].startswith("| hop | questions | Hits@1 | Hits@5 | MRR |")
    assert "| all | 4 | 25.0 | 75.0 | 0.500 |" in table
    assert "| actors |" in report.table(by="type")
    data = json.loads(json.dumps(report.to_json(per_question=True)))
    assert data["overall"]["hits@1"] == 0.25 and data["by_hop"]["2-hop"]["questions"] == 2
    assert [q["rank"] for q in data["questions"]] == [2, 1, None, 2]


def test_compare_puts_answerers_side_by_side() -> None:
    perfect = Fixed({q.text: (list(q.answers), list(q.answers)) for q in QS})
    table = compare({"fixed": Fixed(SAID), "perfect": perfect}, QS).table()
    rows = table.splitlines()
    assert rows[0].startswith("| answerer | questions | Hits@1 | Hits@5 | MRR | F1 | Hits@1 1-hop | Hits@1 2-hop |")
    assert rows[2].startswith("| fixed | 4 | 25.0 | 75.0 | 0.500 | 50.0 | 50.0 | 0.0 |")
    assert rows[3].startswith("| perfect | 4 | 100.0 | 100.0 | 1.000 | 100.0 | 100.0 | 100.0 |")


def test_the_baseline_scores_full_marks_on_seen_templates_and_none_on_unseen(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    try:
        baseline = TemplateBaseline(make_snapshot(store))
    finally:
        store.close()
    baseline.fit(questions(tmp_path, TRAIN))
    seen = questions(tmp_path, {1: ["who directed [Taxi Driver]\tMartin Scorsese"],
                                2: ["which movies share a director with [Thief]\tHeat|Collateral"]}, "seen")
    unseen = questions(tmp_path, {1: ["who is the director of [Taxi Driver]\tMartin Scorsese"]}, "unseen")
    report = evaluate(baseline, seen + unseen, question_type=baseline.question_type,
                      entities=set(baseline.snapshot.node_ids))
    assert report.by_type["DIRECTED_BY>"].hits[1] == 1.0
    assert report.by_type["DIRECTED_BY> / <DIRECTED_BY"].f1 == 1.0
    assert report.by_type["other"].hits[1] == 0.0 and report.by_type["other"].empty == 1
    assert report.overall.hits[1] == pytest.approx(2 / 3)
