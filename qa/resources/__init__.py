"""Files that ship inside the package: the sample graph, its questions and the bundled training configs.

Everything ``kgqa demo`` and ``kgqa train sample`` need at run time lives here, so a wheel installed
outside the repository (or the Docker image) has it too::

    from qa.resources import SAMPLE_GRAPH, config_path
    config_path("sample")    # .../qa/resources/configs/sample.json
"""

from __future__ import annotations

from pathlib import Path

from kg.errors import ConfigError

HERE = Path(__file__).resolve().parent
SAMPLE_GRAPH = HERE / "sample" / "metaqa_sample.txt"
SAMPLE_QUESTIONS = [HERE / "sample" / "questions" / f"{h}-hop" / "qa_dev.txt" for h in (1, 2, 3)]
CONFIGS = HERE / "configs"


def bundled_configs() -> list[str]:
    """Names of the training configs that ship with the package (``sample``)."""
    return sorted(p.stem for p in CONFIGS.glob("*.json"))


def config_path(name: str) -> Path:
    """The bundled config called ``name`` (``sample`` or ``sample.json``); a clear error names the others."""
    path = CONFIGS / f"{Path(name).stem}.json"
    if Path(name).name != name or not path.is_file():
        raise ConfigError(f"{name}: no such config file, and no bundled config of that name (the bundled ones: "
                          f"{', '.join(bundled_configs())}); give the path of a JSON config file or a bundled name")
    return path
