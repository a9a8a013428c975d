"""Entity linking: find the entities of the graph that a question or a sentence mentions.

::

    from kg.linking import Linker

    linker = Linker.from_store(store, cache_dir="graph/linker")   # index cached beside the store
    linker.fit("qa_train.txt")                                    # optional: learn from marked questions
    result = linker.link("who directed Up")
    result.topic.entity_id                                        # 'Up'
    [(m.text, m.entity_id, m.candidates[:3]) for m in result.mentions]

Modules, one concept each: :mod:`~kg.linking.tokens` (tokens and folded keys),
:mod:`~kg.linking.gazetteer` (exact names → entities), :mod:`~kg.linking.encoders`
and :mod:`~kg.linking.candidates` (name embeddings, FAISS fuzzy search),
:mod:`~kg.linking.entities` (the graph snapshot: roles, degree, neighbours),
:mod:`~kg.linking.prior` (what training questions teach), :mod:`~kg.linking.features`
and :mod:`~kg.linking.disambiguate` (features, probability), :mod:`~kg.linking.cache`
(the on-disk index), :mod:`~kg.linking.linker` (the pipeline), :mod:`~kg.linking.models`
(what it returns), :mod:`~kg.linking.questions` (marked question files).
"""

from kg.linking.cache import cache_dir_for
from kg.linking.encoders import ENCODERS, CharNgramEncoder, NameEncoder
from kg.linking.linker import FitReport, Linker, LinkerConfig
from kg.linking.models import Candidate, LinkResult, Mention
from kg.linking.prior import Prior
from kg.linking.questions import LabeledQuestion, read_questions, strip_markup

__all__ = [
    "ENCODERS", "Candidate", "CharNgramEncoder", "FitReport", "LabeledQuestion", "LinkResult", "Linker",
    "LinkerConfig", "Mention", "NameEncoder", "Prior", "cache_dir_for", "read_questions", "strip_markup",
]
