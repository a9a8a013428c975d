"""The ``kgqa`` command line: the group and its global options; one module per command group.

Global options pick the store (``--store embedded|neo4j``, ``--path``, ``--config``);
every command prints one clear line on a user error (exit 2) and a traceback
only for bugs.
"""

from __future__ import annotations

import click

from kg.config import StoreConfig
from qa.cli.base import Context, _fail_cleanly


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--store", "backend", type=click.Choice(["embedded", "neo4j"]), default=None,
              help="Graph backend (default: $KGQA_STORE or embedded).")
@click.option("--path", type=click.Path(file_okay=False), default=None,
              help="Folder of the embedded store (default: $KGQA_STORE_PATH or .kgqa/graph).")
@click.option("--uri", default=None, help="Neo4j Bolt URI (default: $NEO4J_URI or bolt://127.0.0.1:7687).")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), default=None,
              help="TOML file with a [store] table.")
@click.pass_context
@_fail_cleanly
def cli(ctx: click.Context, backend: str | None, path: str | None, uri: str | None, config_file: str | None) -> None:
    """Knowledge-graph question answering: load a graph, explore it, ask it."""
    ctx.obj = Context(StoreConfig.load(config_file, backend=backend, path=path, uri=uri))




from qa.cli.chat import chat_command, train_dialogue_command  # noqa: E402  (after the group: they are added to it)
from qa.cli.demo import demo  # noqa: E402
from qa.cli.encoders import pretrain, similar  # noqa: E402
from qa.cli.link import link, train_linker  # noqa: E402
from qa.cli.qa import ask_command, eval_command, train_command  # noqa: E402
from qa.cli.serve import serve_command  # noqa: E402
from qa.cli.store import cypher, entity, export, forget, ingest, repair, stats  # noqa: E402

for _command in (ingest, cypher, stats, export, entity, forget, repair,    # the store (qa.cli.store)
                 link, train_linker,                                         # entity linking (qa.cli.link)
                 pretrain, similar,                                          # GNN encoders (qa.cli.encoders)
                 train_command, eval_command, ask_command,                   # the QA model (qa.cli.qa)
                 chat_command, train_dialogue_command,                       # conversation (qa.cli.chat)
                 serve_command, demo):                                       # HTTP API, the demo
    cli.add_command(_command)


def main() -> None:
    cli(prog_name="kgqa")


if __name__ == "__main__":
    main()
