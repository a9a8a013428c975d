"""The small CPU demo: train the fusion model on the bundled sample graph in a few minutes, then ask.

The questions are the MetaQA dev questions whose topic and answers all lie in the sample graph
(``data/sample/metaqa_sample.txt``, 5k triples): about 1,100 over the three hop counts. Training
uses ``configs/sample.json`` (a small model, a few minutes on two cores)::

    report, predictions = run_demo()          # what ``kgqa demo`` calls
    for p in predictions: print(p.question, [a.name for a in p.answers])
"""

from __future__ import annotations

from pathlib import Path

from kg.errors import ConfigError
from qa.data import Question, load_questions
from qa.train import TrainConfig, TrainReport, train
from qa.types import Prediction

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample" / "metaqa_sample.txt"
CONFIG = ROOT / "configs" / "sample.json"
METAQA = Path("/work/shared/data/metaqa")


def sample_questions(graph_file: str | Path = SAMPLE, metaqa_dir: str | Path = METAQA,
                     out_dir: str | Path = ".kgqa/qa/demo") -> list[str]:
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


def run_demo(output_dir: str = "runs/qa/demo", config: str | Path = CONFIG, ask: int = 3,
             budget_minutes: float | None = None) -> tuple[TrainReport, list[Prediction]]:
    """Train on the sample graph (``config``), then answer ``ask`` validation questions with evidence."""
    from qa.answerer import load_answerer

    cfg = TrainConfig.load(config)
    cfg.kb, cfg.output_dir = str(SAMPLE), output_dir
    cfg.questions = sample_questions(out_dir=Path(cfg.cache_dir) / "demo")
    if budget_minutes is not None:
        cfg.budget_minutes = budget_minutes
    report = train(cfg)
    answerer = load_answerer(output_dir)
    from qa.data import split_validation

    asked: list[Question] = []
    for path in cfg.questions:
        asked += split_validation(load_questions(path))[1][:1]
    return report, answerer.predict(asked[:ask])
