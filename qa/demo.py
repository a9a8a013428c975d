"""The main job's QA part: train the fusion model on the sample graph in a few minutes on the CPU, then ask.

The sample graph (``data/sample/metaqa_sample.txt``, 5k MetaQA triples) comes with the MetaQA dev
questions whose topic and answers all lie in it (``data/sample/questions/N-hop/qa_dev.txt``, 1,082
questions, CC BY 3.0 like the graph; :func:`sample_questions` rebuilt them). Training reads the graph
from the store the demo ingested it into and uses ``configs/sample.json`` (a small model)::

    report, asked, predictions, answerer = run_demo(StoreConfig(path=".kgqa/demo"), "runs/qa/demo")
    for q, p in zip(asked, predictions): print(q.text, [a.name for a in p.answers], q.answers)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kg.config import StoreConfig
from kg.errors import ConfigError
from qa.data import Question, load_questions, question_from_text, split_validation
from qa.train import TrainConfig, TrainReport, train
from qa.types import Prediction

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample" / "metaqa_sample.txt"
SAMPLE_QUESTIONS = [ROOT / "data" / "sample" / "questions" / f"{h}-hop" / "qa_dev.txt" for h in (1, 2, 3)]
CONFIG = ROOT / "configs" / "sample.json"


def sample_questions(graph_file: str | Path, metaqa_dir: str | Path, out_dir: str | Path) -> list[str]:
    """Question files (one per hop) of the dev questions whose topic and answers are in ``graph_file``."""
    ents: set[str] = set()
    with Path(graph_file).open(encoding="utf-8") as f:
        for line in f:
            parts = line.rstrip("\n").split("|")
            if len(parts) == 3:
                ents.update((parts[0], parts[2]))
    paths = []
    for hop in (1, 2, 3):
        src = Path(metaqa_dir) / f"{hop}-hop" / "qa_dev.txt"
        if not src.is_file():
            raise ConfigError(f"{src} not found: point metaqa_dir at the MetaQA folder with N-hop/qa_dev.txt files")
        keep = [q for q in load_questions(src) if q.topic in ents and all(a in ents for a in q.answers)]
        dst = Path(out_dir) / f"{hop}-hop" / "qa_dev.txt"
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_text("".join(f"{q.text}\t{'|'.join(q.answers)}\n" for q in keep), encoding="utf-8")
        paths.append(str(dst))
    return paths


def demo_questions(per_hop: int = 1) -> list[Question]:
    """Validation questions of the sample (never trained on), ``per_hop`` of each hop count, as a user
    would type them: brackets removed and no hop count (the model links the topic and predicts it)."""
    asked: list[Question] = []
    for path in SAMPLE_QUESTIONS:
        for q in split_validation(load_questions(path))[1][:per_hop]:
            asked.append(Question(question_from_text(q.plain).text, q.answers))
    return asked


def run_demo(store: StoreConfig, output_dir: str | Path, per_hop: int = 1, budget_minutes: float | None = None,
             progress: bool = True) -> tuple[TrainReport, list[Question], list[Prediction], Any]:
    """Train on the sample graph already ingested into ``store``, then answer validation questions
    (``per_hop`` of each hop count) from their plain text, with evidence; returns the report, the
    questions asked (with MetaQA's answers), the predictions and the answerer."""
    from qa.answerer import load_answerer
    cfg = TrainConfig.load(CONFIG)
    cfg.kb, cfg.output_dir, cfg.progress = None, str(output_dir), progress
    cfg.store = store.public_dict()
    cfg.questions = [str(p) for p in SAMPLE_QUESTIONS]
    if budget_minutes is not None:
        cfg.budget_minutes = budget_minutes
    report = train(cfg)
    answerer = load_answerer(output_dir)
    asked = demo_questions(per_hop)
    return report, asked, answerer.predict(asked), answerer
