"""Answering: the KG-fused QA model, conversation, training, evaluation and the user-facing surfaces.

Sub-packages by role, each importing only those before it in this list (``tests/test_layers.py``
checks it):

- :mod:`qa.data`     questions, the model's precomputed examples, dialogues
- :mod:`qa.types`    the typed values that leave the stage: Prediction, Answer, Evidence, Step
- :mod:`qa.eval`     the metrics (one definition each) and the evaluation harness
- :mod:`qa.answer`   answerers: topic finding, ranking, evidence and its Cypher, the template baseline
- :mod:`qa.chat`     conversation state, replies, the reply grammar, the dialogue head, chat sessions
- :mod:`qa.train`    training the QA model and the dialogue head
- :mod:`qa.api`      the HTTP API (and :mod:`qa.web`, the page it serves)
- :mod:`qa.cli`      the ``kgqa`` command line, one module per command group
"""

from qa import _moved

_moved.install()
