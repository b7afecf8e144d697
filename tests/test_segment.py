"""Segmentation: blocks of structured text become clauses with heading paths, lead-ins and spans."""

from policycorpus.structure import Block, join_blocks
from taxonomy.segment import (
    BOILERPLATE,
    CLAUSE,
    HEADING,
    blocks_from_text,
    clauses_from_units,
    segment_blocks,
    sentence_spans,
    split_long,
)


def _segment(blocks):
    text, blocks = join_blocks(blocks)
    return text, segment_blocks(blocks, text)


def test_list_items_keep_their_lead_in_and_heading_path():
    text, clauses = _segment([
        Block("heading", "Social media policy", 1),
        Block("heading", "Confidentiality", 2),
        Block("paragraph", "We value openness. You must not:"),
        Block("list_item", "share your password", 1),
        Block("list_item", "post client names", 1),
        Block("paragraph", "Breaches are taken seriously."),
    ])
    kinds = [c.kind for c in clauses]
    assert kinds == [HEADING, HEADING, CLAUSE, CLAUSE, CLAUSE, CLAUSE]
    item = clauses[3]
    assert item.text == "share your password"
    assert item.lead_in == "You must not:"
    assert item.heading_path == ["Social media policy", "Confidentiality"]
    assert clauses[5].lead_in == ""  # a paragraph ends the list
    assert [c.position for c in clauses] == list(range(6))


def test_spans_index_into_the_snapshot_text():
    text, clauses = _segment([
        Block("heading", "Rules", 1),
        Block("paragraph", "Be kind. " * 80 + "The end."),
        Block("list_item", "Use two-factor authentication.", 1),
    ])
    for c in clauses:
        assert text[c.start:c.end] == c.text
    assert sum(c.kind == CLAUSE for c in clauses) > 2  # the long paragraph was split


def test_nested_lead_ins_are_chained():
    _, clauses = _segment([
        Block("paragraph", "Employees must not:"),
        Block("list_item", "breach copyright, for example by:", 1),
        Block("list_item", "using images without a licence", 2),
        Block("list_item", "harass colleagues", 1),
    ])
    assert clauses[2].lead_in == "Employees must not: breach copyright, for example by:"
    assert clauses[3].lead_in == "Employees must not:"


def test_long_paragraph_is_split_at_sentences_not_abbreviations():
    sentences = [f"Sentence number {i} talks about social media use, e.g. posting at work and so on." for i in range(12)]
    paragraph = " ".join(sentences)
    pieces = split_long(paragraph)
    assert len(pieces) > 1
    for s, e in pieces:
        piece = paragraph[s:e]
        assert piece.startswith("Sentence number") and piece.endswith("so on.")
        assert len(piece) <= 400 + 100
    assert len(sentence_spans("Use e.g. hashtags. Then post.")) == 2


def test_pdf_line_fragments_are_joined_into_one_clause():
    text, clauses = _segment([
        Block("paragraph", "Staff must not post content that could damage the reputation of"),
        Block("paragraph", "the organisation or its partners."),
        Block("paragraph", "Posts are public."),
    ])
    body = [c for c in clauses if c.kind == CLAUSE]
    assert body[0].text == "Staff must not post content that could damage the reputation of the organisation or its partners."
    assert text[body[0].start:body[0].end].replace("\n\n", " ") == body[0].text
    assert body[1].text == "Posts are public."


def test_headings_in_plain_text_and_boilerplate_are_marked():
    _, clauses = _segment([
        Block("paragraph", "Use of social media at work"),
        Block("paragraph", "Personal use is allowed during breaks."),
        Block("paragraph", "Back to top"),
        Block("paragraph", "© 2024 Example Ltd. All rights reserved."),
    ])
    assert [c.kind for c in clauses] == [HEADING, CLAUSE, BOILERPLATE, BOILERPLATE]
    assert clauses[1].heading_path == ["Use of social media at work"]


def test_short_paragraphs_are_not_headings_when_the_text_has_real_headings():
    _, clauses = _segment([
        Block("heading", "What we post", 2),
        Block("paragraph", "Release announcements"),
        Block("paragraph", "Event photos"),
    ])
    assert [c.kind for c in clauses] == [HEADING, CLAUSE, CLAUSE]


def test_text_without_structure_becomes_paragraph_blocks():
    text = "First paragraph.\n\nSecond one\nwith a line break.\n\n\nThird."
    blocks = blocks_from_text(text)
    assert [text[b.start:b.end] for b in blocks] == [b.text for b in blocks]
    assert len(blocks) == 3


def test_units_get_fragment_context_and_lead_ins():
    units = [
        {"text": "Communications made in a professional capacity must not:"},
        {"text": "breach confidentiality, for example by"},
        {"text": "revealing client details;"},
        {"text": "Use of social media at work"},
        {"text": "Personal use is allowed at lunch."},
    ]
    clauses = clauses_from_units(units)
    assert len(clauses) == len(units)
    assert clauses[1].context == "breach confidentiality, for example by revealing client details;"
    assert clauses[2].context == clauses[1].context
    assert clauses[1].lead_in.endswith("must not:")
    assert clauses[3].kind == HEADING
    assert clauses[4].lead_in == ""


def test_plain_text_items_after_a_colon_get_the_lead_in():
    _, clauses = _segment([
        Block("paragraph", "All staff are responsible for:"),
        Block("paragraph", "reading this policy;"),
        Block("paragraph", "Completing the training."),
        Block("paragraph", "Managers must also ensure that their teams know where to find help. " * 5),
        Block("paragraph", "Short sentence after the list."),
    ])
    assert [c.lead_in for c in clauses[:3]] == ["", "All staff are responsible for:", "All staff are responsible for:"]
    assert all(c.lead_in == "" for c in clauses[3:])
