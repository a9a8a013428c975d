"""Conversation: state and follow-up resolution (:mod:`.conversation`), replies in words (:mod:`.replies`),
the language of true replies (:mod:`.grammar`), the generative dialogue head (:mod:`.dialogue_head`), and
a chat from Python (:mod:`.session`). Imports :mod:`qa.types`, :mod:`qa.data`, :mod:`qa.eval` and
:mod:`qa.answer` within qa."""
