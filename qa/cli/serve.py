"""``kgqa serve``: the HTTP API and the web page (see :mod:`qa.api.app`)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from qa.cli.base import MODEL_HELP, Context, _fail_cleanly, _model_dir


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind; any other than loopback requires a token.")
@click.option("--port", type=click.IntRange(min=0, max=65535), default=8000, show_default=True)
@click.option("--model", "model_dir", type=click.Path(file_okay=False, path_type=Path), default=None, help=MODEL_HELP)
@click.option("--token", default=None,
              help="Bearer token clients must send (default: $KGQA_API_TOKEN; generated and printed when the host "
                   "is not loopback; none on loopback).")
@click.option("--allowed-host", "allowed_hosts", multiple=True, envvar="KGQA_ALLOWED_HOSTS", metavar="NAME",
              help="Another host name the server answers to (the Host header; repeat for more, or set "
                   "$KGQA_ALLOWED_HOSTS, space-separated): localhost, 127.0.0.1, [::1] and --host always are. Pages "
                   "under these names may also post to it (a reverse proxy's name). *.example.com: subdomains; "
                   "*: any name (turns the check off).")
@click.option("--dialogue-head", "head_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder of a trained dialogue head (kgqa train-dialogue) that writes the chat replies "
                   "(default: MODEL/dialogue when there is one; else the QA head's answers as text).")
@click.option("--no-dialogue-head", "no_head", is_flag=True, help="Chat replies list the answers; no generation.")
@click.option("--read-only", is_flag=True, help="Open the graph read-only (another process writes it); no /ingest.")
@click.option("--max-upload-mb", type=click.FloatRange(min=0.001), default=200.0, show_default=True)
@click.option("--ask-timeout", type=click.FloatRange(min=0.1), default=30.0, show_default=True, help="Seconds.")
@click.option("--cypher-timeout", type=click.FloatRange(min=0.1), default=10.0, show_default=True, help="Seconds.")
@click.option("--cypher-limit", type=click.IntRange(min=1), default=1000, show_default=True, help="Rows at most.")
@click.option("--max-batch", type=click.IntRange(min=1), default=32, show_default=True,
              help="Concurrent questions answered in one model call at most.")
@click.option("--batch-wait-ms", type=click.FloatRange(min=0), default=5.0, show_default=True,
              help="How long the first waiting question waits for others to batch with.")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="Torch threads of the model (default: torch's, one per core).")
@click.option("--log-level", type=click.Choice(["critical", "error", "warning", "info", "debug"]), default="info")
@click.pass_context
@_fail_cleanly
def serve_command(ctx: click.Context, host: str, port: int, model_dir: Path | None, token: str | None,
                  allowed_hosts: tuple[str, ...], head_dir: Path | None, no_head: bool, read_only: bool,
                  max_upload_mb: float, ask_timeout: float, cypher_timeout: float, cypher_limit: int, max_batch: int,
                  batch_wait_ms: float, threads: int | None, log_level: str) -> None:
    """Serve the HTTP API and the web page (ask, chat, evidence graphs, read-only Cypher, ingestion).

    The graph is the store the model was trained on, unless --store/--path/--uri/--config (or
    $KGQA_STORE) name one. The server owns the store: with the embedded store, ingest through the page
    or POST /ingest while it runs. The OpenAPI schema is at /openapi.json.
    """
    from qa.api.server import serve
    from qa.api.service import Service
    from qa.api.settings import ApiSettings, resolve_token

    obj: Context = ctx.obj
    if threads:
        import torch

        torch.set_num_threads(threads)
    chosen, generated = resolve_token(host, token)
    parent = ctx.parent.params if ctx.parent is not None else {}
    explicit = any(parent.get(k) for k in ("backend", "path", "uri", "config_file")) or "KGQA_STORE" in os.environ
    settings = ApiSettings(store=obj.config if explicit else None, model_dir=model_dir or _model_dir(obj.config, "qa"),
                           host=host, token=chosen, read_only=read_only, allowed_hosts=allowed_hosts,
                           max_upload_bytes=int(max_upload_mb * 1_000_000), ask_timeout_s=ask_timeout,
                           cypher_timeout_s=cypher_timeout, cypher_row_limit=cypher_limit, max_batch=max_batch,
                           batch_wait_s=batch_wait_ms / 1000)
    click.echo(f"loading the model and the graph ({settings.model_dir}) ...", err=True)
    service = Service(settings)
    beside = settings.model_dir / "dialogue" if settings.model_dir is not None else None
    if head_dir is None and not no_head and beside is not None and (beside / "dialogue_head.json").is_file():
        head_dir = beside
    if head_dir is not None and not no_head:
        from qa.chat.dialogue_head import DialogueHead

        if service.answerer is None:
            raise click.ClickException("--dialogue-head needs the QA model (--model DIR)")
        if not (head_dir / "dialogue_head.json").is_file():
            raise click.ClickException(f"no dialogue head in {head_dir}: train one with kgqa train-dialogue")
        settings.generator = DialogueHead.load(head_dir, service.answerer.graph.snapshot)
    where = service.store_config.path if service.store_config.backend == "embedded" else service.store_config.uri
    shown = "localhost" if host in ("127.0.0.1", "::1") else host
    click.echo(f"kgqa serve: http://{shown}:{port}/  (graph: {service.store_config.backend} {where}; "
               f"model: {'loaded' if service.answerer is not None else service.model_note})", err=True)
    click.echo(f"answers to Host: {', '.join(settings.trusted_hosts)} (add names with --allowed-host)", err=True)
    if generated:
        click.echo(f"bearer token (generated; pass --token or set KGQA_API_TOKEN to choose one): {chosen}", err=True)
    elif chosen:
        click.echo("bearer token required (the one given)", err=True)
    serve(settings, port, log_level, service)
