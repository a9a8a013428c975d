"""The entity linker on a toy film graph: what a user typing a question would notice."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from kg.ingest import ingest
from kg.linking import LabeledQuestion, Linker, LinkerConfig, Prior, read_questions, strip_markup
from kg.linking.gazetteer import Gazetteer
from kg.linking.prior import context_keys
from kg.linking.tokens import tokenize
from kg.models import Batch, Entity, Relation
from kg.names import lookup_key
from kg.store.embedded import EmbeddedStore
from tests.conftest import SAMPLE, SHARED, write_lines

FILMS = {
    "Up": {"directed_by": ["Pete Docter"], "starred_actors": ["Ed Asner"], "has_genre": ["Animation"],
           "release_year": ["2009"]},
    "Forrest Gump": {"directed_by": ["Robert Zemeckis"], "starred_actors": ["Tom Hanks", "Robin Wright"],
                     "release_year": ["1994"], "has_genre": ["Drama"]},
    "Cast Away": {"directed_by": ["Robert Zemeckis"], "starred_actors": ["Tom Hanks"], "release_year": ["2000"]},
    "Big": {"directed_by": ["Penny Marshall"], "starred_actors": ["Tom Hanks"], "has_genre": ["Comedy"]},
    "Heat": {"directed_by": ["Michael Mann"], "starred_actors": ["Al Pacino", "Robert De Niro"],
             "has_genre": ["Crime"], "has_tags": ["heist"]},
    "Amélie": {"directed_by": ["Jean-Pierre Jeunet"], "starred_actors": ["Audrey Tautou"],
               "in_language": ["French"]},
    "The Fog": {"directed_by": ["John Carpenter"], "starred_actors": ["Jamie Lee Curtis"], "has_genre": ["Horror"]},
    "Fog": {"directed_by": ["Rupert Wainwright"], "has_genre": ["Horror"]},
    "Halloween": {"directed_by": ["John Carpenter"], "starred_actors": ["Jamie Lee Curtis"], "has_tags": ["slasher"]},
    "Bruno": {"directed_by": ["Bruno Barreto"]},
    "Brüno": {"directed_by": ["Larry Charles"], "starred_actors": ["Sacha Baron Cohen"]},
    "Backdraft": {"directed_by": ["Ron Howard"], "has_tags": ["heat", "firefighters"]},
    "Dallas": {"directed_by": ["Stuart Heisler"], "starred_actors": ["Gary Cooper", "Ruth Roman"],
               "has_genre": ["Western"], "release_year": ["1950"]},
    "The Resurrection of the Christ": {"directed_by": ["Dallas Jenkins"]},
}
# Questions with the topic entity marked, for training the prior (as MetaQA writes them).
TRAINING = [
    "who directed [Up]", "who directed [Heat]", "who directed [Big]", "who directed [Halloween]",
    "what genre is [Up]", "what genre is [Forrest Gump]", "what genre is [Heat]",
    "who starred in [Cast Away]", "who starred in [Heat]", "who starred in [The Fog]",
    "which films did [Tom Hanks] star in", "which films did [Al Pacino] star in",
    "which films did [Jamie Lee Curtis] show up in", "which films did [Robin Wright] show up in",
    "which films did [Ed Asner] show up in", "which films did [Audrey Tautou] show up in",
    "what did [John Carpenter] direct", "what did [Robert Zemeckis] direct",
    "is [Heat] any good", "is [Big] any good", "is [Halloween] any good", "is [Amélie] any good",
    "which films are about [heist]", "which films are about [slasher]", "which films are about [firefighters]",
]


def film_batch() -> Batch:
    relations = [Relation(film, rel, tail, sources=["toy"])
                 for film, rels in FILMS.items() for rel, tails in rels.items() for tail in tails]
    entities = [Entity("Robert De Niro", aliases=["Bobby De Niro"])]
    return Batch(entities=entities, relations=relations)


@pytest.fixture(scope="module")
def graph(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedStore]:
    store = EmbeddedStore(tmp_path_factory.mktemp("films") / "graph")
    store.upsert(film_batch())
    yield store
    store.close()


@pytest.fixture(scope="module")
def linker(graph: EmbeddedStore) -> Linker:
    return Linker.from_store(graph)


@pytest.fixture(scope="module")
def trained(graph: EmbeddedStore) -> Linker:
    linker = Linker.from_store(graph)
    linker.fit([_question(q) for q in TRAINING])
    return linker


def _question(marked: str) -> LabeledQuestion:
    text, spans = strip_markup(marked)
    (start, end), = spans
    return LabeledQuestion(text, text[start:end], start, end)


def topic(linker: Linker, text: str) -> str | None:
    found = linker.link(text).topic
    return found.entity_id if found else None


# -- matching ---------------------------------------------------------------------------------
def test_tokens_fold_like_lookup_key() -> None:
    text = "Who directed  AMÉLIE, or Gert Fröbe's film?"
    tokens = tokenize(text)
    for i in range(len(tokens)):
        for j in range(i + 1, len(tokens) + 1):
            start, end = tokens.char_span(i, j)
            assert tokens.key(i, j) == lookup_key(text[start:end])


def test_matches_start_and_end_on_token_boundaries() -> None:
    gazetteer = Gazetteer([(0, "Up"), (1, "9"), (2, "The Fog")])
    keys = [m.key for m in gazetteer.match(tokenize("Upside down in 1999 and 9 fog in the fog, up"))]
    assert keys == ["9", "the fog", "up"]


def test_longest_match_wins(linker: Linker) -> None:
    result = linker.link("who directed The Fog")
    assert [(m.text, m.entity_id) for m in result.mentions] == [("The Fog", "The Fog")]
    assert topic(linker, "who directed Fog") == "Fog"
    # The film "Dallas" is better connected and spaCy calls "Dallas" a place: the longer name still wins.
    result = linker.link("which films did Dallas Jenkins direct")
    assert [(m.text, m.entity_id) for m in result.mentions] == [("Dallas Jenkins", "Dallas Jenkins")]


def test_case_and_accent_insensitive(linker: Linker) -> None:
    assert topic(linker, "who directed amelie") == "Amélie"
    assert topic(linker, "WHO DIRECTED FORREST GUMP") == "Forrest Gump"
    mention = linker.link("which films did bobby de niro star in").topic
    assert mention is not None and mention.entity_id == "Robert De Niro" and mention.text == "bobby de niro"


def test_same_name_in_another_case_is_told_apart_by_context(linker: Linker, trained: Linker) -> None:
    # "Heat" the film and "heat" the tag fold to one key; "directed" names a relation only the film has.
    result = linker.link("who directed heat")
    assert result.topic is not None and result.topic.entity_id == "Heat"
    assert {c.entity_id for c in result.topic.candidates} == {"Heat", "heat"}
    # No relation word: what the template's marked entities were (tags) decides.
    assert topic(trained, "which films are about heat") == "heat"
    assert topic(trained, "is heat any good") == "Heat"


def test_exact_case_and_accents_break_ties(linker: Linker) -> None:
    assert topic(linker, "who directed Brüno") == "Brüno"
    assert topic(linker, "who directed Bruno") == "Bruno"


# -- questions without markup -----------------------------------------------------------------
def test_brackets_are_removed_and_the_entity_found(tmp_path: Path, trained: Linker) -> None:
    path = write_lines(tmp_path / "qa.txt", ["who directed [The Fog]\tJohn Carpenter",
                                             "which films did [Tom Hanks] star in\tBig|Cast Away|Forrest Gump"])
    questions = read_questions(path)
    assert [(q.text, q.gold, q.text[q.start:q.end]) for q in questions] == [
        ("who directed The Fog", "The Fog", "The Fog"),
        ("which films did Tom Hanks star in", "Tom Hanks", "Tom Hanks")]
    assert questions[1].answers == ("Big", "Cast Away", "Forrest Gump")
    assert [topic(trained, q.text) for q in questions] == ["The Fog", "Tom Hanks"]


# -- fuzzy candidates -------------------------------------------------------------------------
def test_misspelled_mention_found_through_faiss(linker: Linker) -> None:
    result = linker.link("who directed Forest Gumpp")
    assert result.fuzzy
    assert result.topic is not None and result.topic.entity_id == "Forrest Gump"
    assert result.topic.text == "Forest Gumpp"
    assert result.topic.candidates[0].source == "fuzzy" and result.topic.candidates[0].similarity < 1
    assert topic(linker.with_config(fuzzy="never"), "who directed Forest Gumpp") is None


# -- disambiguation ---------------------------------------------------------------------------
def test_common_word_title_linked_only_when_the_context_supports_it(trained: Linker, linker: Linker) -> None:
    assert topic(trained, "who directed Up") == "Up"
    # Lower case and a stop word: only the context learned from training questions supports it.
    assert topic(linker, "what genre is up") is None
    assert topic(trained, "what genre is up") == "Up"
    result = trained.link("which films did Tom Hanks show up in")
    assert result.topic is not None and result.topic.entity_id == "Tom Hanks"
    up = [m for m in result.mentions if m.text == "up"]
    assert up and up[0].entity_id is None and up[0].candidates[0].entity_id == "Up"


def test_template_prior_counts_where_the_marked_entity_stands(trained: Linker) -> None:
    tokens = tokenize("is up any good")
    entity_slot = trained.prior.evidence("up", context_keys(tokens.keys, 1, 2))
    tokens = tokenize("which films did Tom Hanks show up in")
    word = trained.prior.evidence("up", context_keys(tokens.keys, 6, 7))
    assert entity_slot.context > 1.0 and word.context < -0.5
    assert context_keys(tokens.keys, 6, 7)[0] == "T ^ which films did tom hanks show _ in $"
    # No relation word here: only the template says that "up" stands where a film does.
    assert topic(trained, "is up any good") == "Up"


def test_nil_when_nothing_fits(trained: Linker) -> None:
    result = trained.link("what is the capital of France")
    assert result.topic is None and result.entity_ids == []
    assert trained.link("").mentions == []


def test_prior_round_trips_through_json(tmp_path: Path, trained: Linker, graph: EmbeddedStore) -> None:
    path = trained.save_prior(tmp_path / "prior.json")
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["format"].startswith("kgqa-linker-prior") and data["questions"] == len(TRAINING)
    reloaded = Linker.from_store(graph, prior=path)
    assert reloaded.prior.weights == trained.prior.weights
    for text in ("which films did Tom Hanks show up in", "who directed Up", "who starred in heat"):
        assert reloaded.link(text).as_dict() == trained.link(text).as_dict()


def test_fit_reads_a_question_file(tmp_path: Path, graph: EmbeddedStore) -> None:
    path = write_lines(tmp_path / "train.txt", [f"{q}\tx" for q in TRAINING] + ["a question with no mark\tx"])
    report = Linker.from_store(graph).fit(path)
    assert (report.questions, report.gold_found, report.unmarked) == (len(TRAINING) + 1, len(TRAINING), 1)


def test_link_text_returns_new_named_entities_as_nil(linker: Linker) -> None:
    mentions = linker.link_text("Tom Hanks met Barack Obama in Washington.")
    linked = {m.text: m.entity_id for m in mentions}
    assert linked["Tom Hanks"] == "Tom Hanks"
    assert "Barack Obama" in linked and linked["Barack Obama"] is None
    assert next(m for m in mentions if m.text == "Barack Obama").label == "PERSON"


# -- the cache beside the store ---------------------------------------------------------------
def test_index_cache_is_reused_until_the_graph_changes(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "graph")
    store.upsert(film_batch())
    cache = tmp_path / "graph" / "linker"
    first = Linker.from_store(store, cache_dir=cache)
    assert not first.index.from_cache and (cache / "graph" / "fuzzy.faiss").exists()
    assert Linker.from_store(store, cache_dir=cache).index.from_cache
    assert topic(first, "who directed Paddington") is None

    store.upsert_relations([Relation("Paddington", "directed_by", "Paul King")])
    changed = Linker.from_store(store, cache_dir=cache)
    assert not changed.index.from_cache
    assert topic(changed, "who directed Paddington") == "Paddington"
    assert Linker.from_store(store, cache_dir=cache).index.from_cache

    store.upsert_entities([Entity("Paddington", aliases=["Paddington Bear"])])  # same counts, new alias
    renamed = Linker.from_store(store, cache_dir=cache)
    assert not renamed.index.from_cache and topic(renamed, "who directed Paddington Bear") == "Paddington"
    store.close()


def test_prior_beside_the_cache_is_picked_up(tmp_path: Path, graph: EmbeddedStore, trained: Linker) -> None:
    trained.save_prior(tmp_path / "prior.json")
    assert Linker.from_store(graph, cache_dir=tmp_path).prior.questions == len(TRAINING)
    assert not Linker.from_store(graph, cache_dir=tmp_path / "elsewhere").prior.trained
    assert isinstance(Prior.load(tmp_path / "prior.json"), Prior)


def test_config_is_checked() -> None:
    from kg.errors import ConfigError

    with pytest.raises(ConfigError, match="fuzzy"):
        LinkerConfig(fuzzy="sometimes")


# -- integration: the bundled MetaQA sample ---------------------------------------------------
def test_links_questions_over_the_metaqa_sample(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "graph")
    ingest(store, SAMPLE, progress=False)
    linker = Linker.from_store(store, cache_dir=tmp_path / "graph" / "linker")
    films = sorted({line.split("|")[0] for line in SAMPLE.read_text(encoding="utf-8").splitlines()
                    if "|directed_by|" in line})
    people = ["Tom Hanks", "Steven Spielberg", "Meryl Streep"]
    questions = ([f"who directed {f}" for f in films[::7]] + [f"what movies did {p} act in" for p in people])
    gold = films[::7] + people
    results = linker.link_batch(questions)
    right = sum(r.topic is not None and r.topic.entity_id == g for r, g in zip(results, gold, strict=True))
    assert right / len(gold) >= 0.9, [(q, r.topic) for q, r in zip(questions, results, strict=True)][:5]
    store.close()


def test_link_text_links_names_not_common_words(linker: Linker) -> None:
    """In prose, "heat", "Big" opening a sentence and the tag "slasher" are words, not the films or
    tags of those names; "Heat" mid-sentence and "Big" inside a title still link."""
    text = "Big studios feared the heat of the slasher craze, but Heat and Tom Hanks in Big did well."
    linked = {(m.text, m.start): m.entity_id for m in linker.link_text(text) if m.entity_id}
    assert linked.get(("Heat", text.index("Heat"))) == "Heat"
    assert linked.get(("Tom Hanks", text.index("Tom Hanks"))) == "Tom Hanks"
    assert linked.get(("Big", text.rindex("Big"))) == "Big"
    assert ("Big", 0) not in linked and ("heat", text.index("heat")) not in linked
    assert ("slasher", text.index("slasher")) not in linked
    # a question keeps linking lower-case names: "which films are about heist" asks about the tag
    assert topic(linker, "which films are about heist") == "heist"


def test_reads_as_name() -> None:
    from kg.linking.linker import reads_as_name

    text = "Will it rain? The film Up was shot in 2009 by M and Pete Docter."
    assert not reads_as_name(text, 0, 4, {})                               # sentence-initial capital only
    assert reads_as_name(text, 0, 4, {(0, 4): "PERSON"})                   # ... unless NER says it is a name
    assert reads_as_name(text, text.index("Up"), text.index("Up") + 2, {})
    assert reads_as_name(text, text.index("2009"), text.index("2009") + 4, {})
    assert not reads_as_name(text, text.index(" M ") + 1, text.index(" M ") + 2, {})   # too short to tell
    assert not reads_as_name(text, text.index("film"), text.index("film") + 4, {})


def test_link_text_refuses_named_entities_across_paragraphs(linker: Linker) -> None:
    text = "Khmer is spoken in Thailand\n\nNuclear Mon languages"
    ner = {(text.index("Thailand"), text.index("Mon") + 3): "GPE"}
    assert all("\n" not in m.text for m in linker.link_text(text, ner))


@pytest.mark.neo4j
def test_the_linker_reads_a_neo4j_store(neo4j, tmp_path: Path) -> None:
    """The same linker over Neo4j: index built from the store, cached beside it, same decisions."""
    neo4j.upsert(film_batch())
    linker = Linker.from_store(neo4j, cache_dir=tmp_path / "linker")
    assert not linker.index.from_cache
    assert topic(linker, "who directed Forrest Gump") == "Forrest Gump"
    assert topic(linker, "which films did bobby de niro star in") == "Robert De Niro"      # alias
    assert topic(linker, "who directed Amelie") == "Amélie"                                 # accents folded
    linked = {m.text: m.entity_id for m in linker.link_text("Tom Hanks met Barack Obama in Washington.")}
    assert linked["Tom Hanks"] == "Tom Hanks" and linked["Barack Obama"] is None
    assert Linker.from_store(neo4j, cache_dir=tmp_path / "linker").index.from_cache


def test_an_untrained_linker_links_an_id_typed_as_it_is_stored(tmp_path: Path) -> None:
    """A user's own graph with ids such as ``alice_betty_stern`` (PathQuestion's style): before any
    question trained the linker, a question that names the id verbatim still finds its topic."""
    kb = write_lines(tmp_path / "kb.txt", ["alice_betty_stern|children|albert_stern", "albert_stern|gender|male",
                                           "alice_betty_stern|gender|female", "mary_hannon|spouse|edward_fitz",
                                           "richard_i_of_england|parents|henry_ii_of_england",
                                           "henry_ii_of_england|place_of_birth|le_mans", "england|contains|le_mans"])
    with EmbeddedStore(tmp_path / "g") as store:
        ingest(store, kb, progress=False)
        linker = Linker.from_store(store)
    assert not linker.prior.trained
    result = linker.link("is alice_betty_stern 's daughter a man or a woman ?")
    assert result.topic is not None and result.topic.entity_id == "alice_betty_stern"
    assert topic(linker, "who is the spouse of mary_hannon") == "mary_hannon"
    assert topic(linker, "what is the richard_i_of_england 's father 's place of birth ?") == "richard_i_of_england"
    assert topic(linker, "what genre is up") is None            # nothing typed as a whole name: still NIL


@pytest.mark.slow
def test_an_id_typed_whole_links_even_inside_a_longer_fuzzy_span(tmp_path: Path) -> None:
    """On PathQuestion's 3-hop graph the untrained linker's best span for "mom of
    princess_viktoria_of_prussia 's" is a longer, fuzzy one that links nothing; the id typed whole
    inside it must still be the topic (it was not: 18 of PQ-3H's 520 dev questions lost their topic)."""
    kb = SHARED / "data" / "pathquestion" / "PQ-3H" / "kb.txt"
    if not kb.exists():
        pytest.skip(f"{kb} is not here (development data beside the repository)")
    with EmbeddedStore(tmp_path / "g") as store:
        ingest(store, kb, progress=False)
        linker = Linker.from_store(store)
    for question, want in [("the place of birth of mom of princess_viktoria_of_prussia 's father ?",
                            "princess_viktoria_of_prussia"),
                           ("what is the richard_i_of_england 's father 's father 's place of birth ?",
                            "richard_i_of_england"),
                           ("who is the nationality of offspring of henry_iii_of_england 's father ?",
                            "henry_iii_of_england")]:
        assert topic(linker, question) == want, question
