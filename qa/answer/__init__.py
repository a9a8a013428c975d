"""Answering one question: topic finding (:mod:`.topic`), relation paths (:mod:`.paths`), the QA head's
ranking and cut-off (:mod:`.ranking`), evidence and its Cypher (:mod:`.evidence`), the learned answerer and
its checkpoint (:mod:`.answerer`, :mod:`.checkpoint`), the template baseline (:mod:`.baseline`).
Imports :mod:`qa.types`, :mod:`qa.data` and :mod:`qa.eval` within qa."""
