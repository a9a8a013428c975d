"""The HTTP API and the web page: :func:`create_app` builds them from :class:`~qa.api.settings.ApiSettings`.

Endpoints (the OpenAPI schema is at ``/openapi.json``):

* ``POST /ask`` — answers with their evidence paths, Cypher and an evidence graph;
* ``POST /chat/sessions``, ``GET|DELETE /chat/sessions/{id}``, ``POST /chat/sessions/{id}/reset``,
  ``POST /chat/sessions/{id}/messages`` (JSON, or Server-Sent Events with ``"stream": true``);
* ``POST /cypher`` — read-only, row limit and timeout; rows plus a graph form;
* ``POST /ingest`` (multipart upload, a background job), ``GET /ingest``, ``GET /ingest/{job}``;
* ``GET /entities?q=``, ``GET /entities/{id}``, ``GET /entities/{id}/neighbours``;
* ``GET /stats``, ``GET /health``; ``/`` is the page, ``/static/*`` its files.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, File, Form, Query, Request, UploadFile
from fastapi.responses import FileResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from kg.cypher_guard import check_read_only
from kg.readers.formats import EXTENSIONS, FORMATS
from qa.api import errors
from qa.api.errors import ApiError
from qa.api.graphs import cypher_graph, neighbour_graph
from qa.api.guard import BodyLimit, HostCheck, SameOrigin, TokenAuth
from qa.api.jobs import safe_filename
from qa.api.service import Service
from qa.api.settings import ApiSettings
from qa.data.questions import question_from_text

WEB = Path(__file__).resolve().parents[1] / "web"
VERSION = "0.1.0"


class AskRequest(BaseModel):
    question: str = Field(min_length=1, max_length=1000, examples=["who directed the films Tom Hanks starred in"])
    strip_brackets: bool = Field(False, description="ignore [brackets]: the linker must find the topic")
    answers: int = Field(10, ge=1, le=100, description="answers returned with their evidence")


class MessageRequest(BaseModel):
    text: str = Field(min_length=1, max_length=1000, examples=["when was it released"])
    stream: bool = Field(False, description="reply as Server-Sent Events: resolution, answers, token..., done")
    answers: int = Field(10, ge=1, le=100)


class CypherRequest(BaseModel):
    query: str = Field(min_length=1, max_length=20_000, examples=["MATCH (m)-[:DIRECTED_BY]->(d) RETURN m, d LIMIT 5"])
    params: dict[str, Any] = Field(default_factory=dict)
    limit: int | None = Field(None, ge=1, description="row limit (capped by the server's)")
    timeout_s: float | None = Field(None, gt=0, description="seconds (capped by the server's)")


def create_app(settings: ApiSettings, service: Service | None = None) -> FastAPI:
    """The FastAPI application. The :class:`Service` (store handle, model, sessions, jobs) is built when
    the app starts (``lifespan``) unless given, and closed when it stops."""
    holder: dict[str, Service] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        svc = service or await run_in_threadpool(Service, settings)
        holder["svc"] = svc
        app.state.service = svc
        try:
            yield
        finally:
            if service is None:            # built here, closed here (a given one is closed by its owner)
                await run_in_threadpool(svc.close)

    app = FastAPI(title="kgqa", version=VERSION, lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Knowledge-graph question answering: ask, chat, explore the evidence, run read-only "
                              "Cypher, ingest files. Send 'Authorization: Bearer TOKEN' when the server has a token.")
    errors.install(app)
    app.add_middleware(TokenAuth, token=settings.token)
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes, upload_limit=settings.max_upload_bytes)
    app.add_middleware(SameOrigin, trusted_hosts=settings.allowed_hosts)
    app.add_middleware(HostCheck, allowed_hosts=settings.trusted_hosts)      # outermost: checked first
    app.mount("/static", StaticFiles(directory=WEB), name="static")

    def svc() -> Service:
        return holder["svc"]

    # -- page and health ---------------------------------------------------------------------------
    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(WEB / "index.html", headers={"Cache-Control": "no-cache"})

    @app.get("/health", tags=["server"])
    async def health() -> dict[str, Any]:
        s = svc()
        return {"status": "ok", "version": VERSION, "store": s.store_config.backend,
                "model": s.answerer is not None, "chat": s.resolver is not None, "auth": settings.auth_required}

    @app.get("/stats", tags=["graph"])
    async def stats() -> dict[str, Any]:
        s = svc()
        graph = (await run_in_threadpool(s.store.stats)).as_dict()
        model: dict[str, Any] | None = None
        if s.answerer is not None:
            snap = s.answerer.graph.snapshot
            model = {"entities": snap.num_nodes, "relations": len(snap.src), "relation_types": len(snap.relations),
                     "questions_answered": s.worker.questions, "batches": s.worker.batches,
                     "queued": s.worker.queued}
        return {"graph": graph, "model": model, "model_note": s.model_note, "sessions": len(s.sessions),
                "ingest_jobs": len(s.jobs), "store": s.store_config.backend}

    # -- asking ----------------------------------------------------------------------------------
    @app.post("/ask", tags=["qa"])
    async def ask(req: AskRequest) -> dict[str, Any]:
        """Answer a question: answers, the evidence paths of each (with the Cypher that shows them in the
        store) and the evidence as a graph. Concurrent questions are answered in batches."""
        s = svc()
        s.require_model()
        question = question_from_text(req.question.strip())
        pred = await s.wait(s.submit(lambda: s.worker.ask(question, req.strip_brackets)))
        return s.prediction_json(pred, req.answers)

    # -- chat ------------------------------------------------------------------------------------
    @app.post("/chat/sessions", status_code=201, tags=["chat"])
    async def new_session() -> dict[str, Any]:
        s = svc()
        s.require_chat()
        return s.sessions.create().to_dict()

    @app.get("/chat/sessions/{session_id}", tags=["chat"])
    async def get_session(session_id: str) -> dict[str, Any]:
        return svc().sessions.get(session_id).to_dict()

    @app.delete("/chat/sessions/{session_id}", status_code=204, tags=["chat"])
    async def delete_session(session_id: str) -> Response:
        svc().sessions.delete(session_id)
        return Response(status_code=204)

    @app.post("/chat/sessions/{session_id}/reset", tags=["chat"])
    async def reset_session(session_id: str) -> dict[str, Any]:
        session = svc().sessions.get(session_id)
        async with session.lock:
            session.state = {"focus": [], "history": []}
        return session.to_dict()

    @app.post("/chat/sessions/{session_id}/messages", tags=["chat"], response_model=None)
    async def message(session_id: str, req: MessageRequest, request: Request) -> Any:
        """One turn: the question is resolved against the conversation (follow-ups such as "who directed it"),
        answered, and remembered. With ``stream`` (or ``Accept: text/event-stream``) the reply comes as
        Server-Sent Events: ``resolution``, ``answers``, ``token`` (text pieces), ``done``."""
        s = svc()
        resolver = s.require_chat()
        session = s.sessions.get(session_id)
        from qa.chat.conversation import Conversation

        async with session.lock:
            answerer = s.require_model()

            def turn() -> tuple[Any, dict[str, Any]]:
                conv = Conversation.from_dict(session.state, answerer, resolver)
                reply = conv.ask(req.text.strip())
                return reply, conv.to_dict()

            reply, state = await s.wait(s.submit(lambda: s.worker.run(turn)))
            session.state = state
        resolution = _resolution_json(reply.resolution, s)
        answers = s.prediction_json(reply.prediction, req.answers)
        turn_no = len(session.state.get("history", []))
        if req.stream or "text/event-stream" in request.headers.get("accept", ""):
            return StreamingResponse(_events(s, reply, resolution, answers, session_id),
                                     media_type="text/event-stream",
                                     headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        text = "".join([piece async for piece in _pieces(s, reply)])
        return {"session": session_id, "turn": turn_no, "resolution": resolution, "answers": answers,
                "reply": text.strip()}

    # -- Cypher ----------------------------------------------------------------------------------
    @app.post("/cypher", tags=["graph"])
    async def cypher(req: CypherRequest) -> dict[str, Any]:
        """Run a read-only Cypher query (writes are refused with 403 and the reason): at most the server's row
        limit, within its timeout. Rows hold nodes and relationships as objects; ``graph`` draws them."""
        s = svc()
        check_read_only(req.query)
        limit = min(req.limit or settings.cypher_row_limit, settings.cypher_row_limit)
        timeout = min(req.timeout_s or settings.cypher_timeout_s, settings.cypher_timeout_s)
        try:
            result = await asyncio.wait_for(
                run_in_threadpool(s.store.cypher, req.query, req.params, limit=limit, timeout_s=timeout), timeout + 5)
        except TimeoutError:
            raise ApiError(504, "timeout", f"the query ran past {timeout:g} s", "narrow it or add LIMIT") from None
        except (ValueError, TypeError, OverflowError) as exc:
            if not req.params:      # not the parameters: a bug, answered with a 500 and logged
                raise
            # the driver could not convert a parameter (the embedded store: a list mixing value types)
            raise ApiError(400, "invalid_params", f"the database could not take these parameters "
                           f"({type(exc).__name__}: {str(exc)[:200]})", "give the elements of each list one type "
                           "(maps in a list: the same keys with values of the same types)") from None
        rows = json.loads(json.dumps(result.rows, default=str, ensure_ascii=False))
        return {"columns": result.columns, "rows": rows, "truncated": result.truncated, "limit": limit,
                "graph": cypher_graph(rows)}

    # -- ingestion -------------------------------------------------------------------------------
    @app.post("/ingest", status_code=202, tags=["graph"])
    async def ingest(file: Annotated[UploadFile, File(description="triples, CSV/TSV, RDF or text/Markdown")],
                     format: Annotated[str | None, Form(description=f"one of {', '.join(FORMATS)}")] = None,
                     strict: Annotated[bool, Form(description="stop at the first malformed record")] = False,
                     ) -> dict[str, Any]:
        """Upload a file and ingest it in the background; poll ``GET /ingest/{id}`` for progress and the report."""
        s = svc()
        if settings.read_only:
            raise ApiError(403, "read_only_server", "this server opened the graph read-only",
                           "restart kgqa serve without --read-only to ingest through it")
        name = safe_filename(file.filename)
        fmt = format or EXTENSIONS.get(Path(name).suffix.lower())
        if fmt not in FORMATS:
            raise ApiError(400, "unknown_format", f"cannot tell the format of {name!r}" if not format
                           else f"unknown format {format!r}", f"name the format: one of {', '.join(FORMATS)}")
        job_id, path = s.jobs.new_upload(name)

        def save() -> int:
            with path.open("wb") as out:
                shutil.copyfileobj(file.file, out, 1 << 20)
            return path.stat().st_size

        size = await run_in_threadpool(save)
        if size == 0:
            shutil.rmtree(path.parent, ignore_errors=True)
            raise ApiError(400, "empty_file", f"{name!r} is empty", "upload a file with records")
        job = await run_in_threadpool(s.jobs.submit, job_id, path, fmt, strict)
        return job.to_dict()

    @app.get("/ingest", tags=["graph"])
    async def jobs() -> dict[str, Any]:
        return {"jobs": [j.to_dict() for j in svc().jobs.list()]}

    @app.get("/ingest/{job_id}", tags=["graph"])
    async def job(job_id: str) -> dict[str, Any]:
        return svc().jobs.get(job_id).to_dict()

    # -- entities --------------------------------------------------------------------------------
    @app.get("/entities", tags=["graph"])
    async def entities(q: Annotated[str, Query(min_length=1, max_length=300)],
                       limit: Annotated[int, Query(ge=1, le=100)] = 20) -> dict[str, Any]:
        """Entities by id, name or alias (case- and accent-insensitive); else the entity linker's candidates
        (spelling mistakes, a name inside a sentence)."""
        s = svc()
        text = q.strip()
        exact = await run_in_threadpool(s.store.get_entity, text)
        found = [exact] if exact else await run_in_threadpool(s.store.find_by_name, text, limit)
        how = "id" if exact else "name"
        out = [_entity_json(e) for e in found]
        if not out and s.answerer is not None:
            how = "linked"
            linker = s.answerer.linker
            result = await s.wait(s.submit(lambda: s.worker.run(lambda: linker.link(text))))
            seen: set[str] = set()
            for m in sorted(result.mentions, key=lambda m: -m.score):
                for c in m.candidates[:limit]:
                    if c.entity_id not in seen and len(seen) < limit:
                        seen.add(c.entity_id)
                        out.append({"id": c.entity_id, "name": s.name(c.entity_id), "score": round(c.score, 4),
                                    "mention": m.text})
        return {"query": text, "how": how if out else "none", "entities": out}

    @app.get("/entities/{entity_id:path}/neighbours", tags=["graph"])
    async def neighbours(entity_id: str, limit: Annotated[int, Query(ge=1)] = 50,
                         direction: Annotated[str, Query(pattern="^(out|in|both)$")] = "both") -> dict[str, Any]:
        """The relations around an entity (at most ``limit``, capped by the server), as a list and a graph."""
        s = svc()
        entity = await run_in_threadpool(s.store.get_entity, entity_id)
        if entity is None:
            raise ApiError(404, "not_found", f"no entity has the id {entity_id!r}", "find ids with /entities?q=NAME")
        cap = min(limit, settings.neighbour_limit)
        rels = await run_in_threadpool(lambda: s.store.neighbours(entity_id, direction=direction, limit=cap + 1))
        truncated = len(rels) > cap
        rels = rels[:cap]
        return {"entity": _entity_json(entity), "truncated": truncated, "limit": cap,
                "relations": [{"head": r.head, "type": r.type, "tail": r.tail} for r in rels],
                "graph": neighbour_graph(entity.id, entity.display_name, rels, s.name)}

    @app.get("/entities/{entity_id:path}", tags=["graph"])
    async def entity(entity_id: str) -> dict[str, Any]:
        found = await run_in_threadpool(svc().store.get_entity, entity_id)
        if found is None:
            raise ApiError(404, "not_found", f"no entity has the id {entity_id!r}", "find ids with /entities?q=NAME")
        return _entity_json(found)

    return app


def _entity_json(e: Any) -> dict[str, Any]:
    return {"id": e.id, "name": e.display_name, "aliases": e.aliases, "labels": e.labels,
            "properties": json.loads(json.dumps(e.properties, default=str))}


def _resolution_json(res: Any, s: Service) -> dict[str, Any]:
    return {"text": res.text, "question": res.question, "how": res.how, "expression": res.expression,
            "topic": {"id": res.topic, "name": s.name(res.topic)} if res.topic else None,
            "scores": [{"id": e, "name": s.name(e), "p": p} for e, p in res.scores]}


def _tokens(s: Service, reply: Any) -> Iterator[str]:
    """The reply's text in pieces: the generator's (the dialogue head) when the server has one, else the
    words of the QA head's reply (:func:`qa.chat.replies.reply_text`)."""
    gen = s.settings.generator
    if gen is not None:
        yield from gen.stream(reply)
        return
    from qa.chat.replies import reply_text

    words = reply_text(reply).split(" ")
    for i, w in enumerate(words):
        yield w if i == len(words) - 1 else w + " "


def _sse(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


async def _pieces(s: Service, reply: Any) -> AsyncIterator[str]:
    """The reply's pieces as they are made. Generation runs on the service's one generator thread (a
    generative head keeps per-reply state, so replies are made one at a time); a client that leaves early
    does not stop it, nor block the next reply."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

    def produce() -> None:
        try:
            for piece in _tokens(s, reply):
                loop.call_soon_threadsafe(queue.put_nowait, ("piece", piece))
            loop.call_soon_threadsafe(queue.put_nowait, ("end", None))
        except Exception as exc:
            loop.call_soon_threadsafe(queue.put_nowait, ("error", exc))

    s.generator_pool.submit(produce)
    while True:
        kind, value = await queue.get()
        if kind == "end":
            return
        if kind == "error":
            raise value
        yield value


async def _events(s: Service, reply: Any, resolution: dict[str, Any], answers: dict[str, Any],
                  session_id: str) -> AsyncIterator[str]:
    yield _sse("resolution", resolution)
    yield _sse("answers", answers)
    text: list[str] = []
    try:
        async for piece in _pieces(s, reply):
            text.append(piece)
            yield _sse("token", {"text": piece})
    except Exception:  # a generator bug: the client gets an error event, the log the traceback
        errors.log.exception("reply generator failed")
        yield _sse("error", errors.body("generator_failed", "the reply generator failed; the answers above stand"))
    yield _sse("done", {"session": session_id, "reply": "".join(text).strip()})
