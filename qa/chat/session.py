"""A chat with the graph from Python: the conversation state, the QA model and the dialogue head together.

    from qa.chat.session import ChatSession
    chat = ChatSession.load("runs/qa/metaqa")            # the head from runs/qa/metaqa/dialogue when present
    turn = chat.ask("who directed The Black Swan")
    turn.text, turn.reply.prediction.answers[0].evidence[0].cypher
    for piece in chat.stream("when was it released"):  # the reply as it is generated
        print(piece, end="", flush=True)
    state = chat.to_dict()                              # bounded, JSON-serialisable; ChatSession.load(..., state=state)
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qa.chat.conversation import Conversation, Reply, resolver_for


@dataclass
class Turn:
    """One answered turn: what was understood and found (``reply``) and the words said (``text``)."""

    reply: Reply
    text: str


class ChatSession:
    """A conversation (:class:`qa.chat.conversation.Conversation`) whose replies a dialogue head writes.

    Without a head the reply text lists the answers (as ``kgqa chat --no-head`` does).
    """

    def __init__(self, conversation: Conversation, head: Any | None = None) -> None:
        self.conversation, self.head = conversation, head
        self.last: Turn | None = None

    @classmethod
    def load(cls, model_dir: str | Path, head_dir: str | Path | None = None, use_head: bool = True,
             state: dict[str, Any] | None = None) -> ChatSession:
        from qa.answer.answerer import load_answerer

        model_dir = Path(model_dir)
        answerer = load_answerer(model_dir)
        resolver = resolver_for(answerer, model_dir)
        conv = (Conversation.from_dict(state, answerer, resolver) if state is not None
                else Conversation(answerer, resolver))
        head = None
        folder = Path(head_dir) if head_dir else model_dir / "dialogue"
        if use_head and (folder / "dialogue_head.json").is_file():
            from qa.chat.dialogue_head import DialogueHead

            head = DialogueHead.load(folder, answerer.graph.snapshot)
        return cls(conv, head)

    def __repr__(self) -> str:
        return f"ChatSession({self.conversation!r}, head={'yes' if self.head is not None else 'no'})"

    def stream(self, text: str) -> Iterator[str]:
        """Resolve and answer ``text``, then yield the reply piece by piece; :attr:`last` holds the turn."""
        reply = self.conversation.ask(text)
        said: list[str] = []
        if self.head is None or reply.prediction.kind != "path":   # the head writes path answers only
            from qa.chat.replies import reply_text

            said.append(reply_text(reply))
            yield said[0]
        else:
            for piece in self.head.stream(reply):
                said.append(piece)
                yield piece
        self.last = Turn(reply, "".join(said).strip())

    def ask(self, text: str) -> Turn:
        """The whole turn at once."""
        for _ in self.stream(text):
            pass
        assert self.last is not None
        return self.last

    def reset(self) -> None:
        self.conversation.reset()
        self.last = None

    @property
    def history(self) -> list[dict[str, Any]]:
        return self.conversation.history

    def to_dict(self) -> dict[str, Any]:
        return self.conversation.to_dict()
