"""Segmentation: blocks of structured text become clauses with heading paths, lead-ins and spans."""

from policycorpus.structure import Block, join_blocks
from taxonomy.segment import (
    BOILERPLATE,
    CLAUSE,
    FRAGMENT,
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
    # not headings; too short to be sentences, so they are fragments (never tagged)
    assert [c.kind for c in clauses] == [HEADING, FRAGMENT, FRAGMENT]


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


# ---------------------------------------------------------------- fragments (never tagged)

def _kinds(blocks):
    return {c.text: c.kind for c in _segment(blocks)[1]}


def test_short_pieces_that_are_not_sentences_are_fragments():
    kinds = _kinds([
        Block("heading", "Where we post", 1),
        Block("paragraph", "Our team runs these channels:"),
        Block("list_item", "Mastodon", 1),
        Block("list_item", "Bluesky", 1),
        Block("paragraph", "Priya Raman"),
        Block("paragraph", "Marketing Office 2024"),
        Block("paragraph", "N/A"),
        Block("paragraph", "Yes"),
        Block("paragraph", "Ask the editor before you publish anything about a partner organisation."),
    ])
    for piece in ("Mastodon", "Bluesky", "Priya Raman", "Marketing Office 2024", "N/A"):
        assert kinds[piece] == FRAGMENT, piece
    assert kinds["Yes"] != CLAUSE  # already boilerplate
    assert kinds["Our team runs these channels:"] == CLAUSE
    assert kinds["Ask the editor before you publish anything about a partner organisation."] == CLAUSE


def test_short_whole_sentences_and_completed_list_items_stay_clauses():
    kinds = _kinds([
        Block("heading", "Etiquette", 1),
        Block("paragraph", "Stay polite."),
        Block("paragraph", "Never argue online"),
        Block("paragraph", "When you reply you must not:"),
        Block("list_item", "swear at people", 1),
        Block("list_item", "guess", 1),
    ])
    assert kinds["Stay polite."] == CLAUSE
    assert kinds["Never argue online"] == CLAUSE  # an instruction, even without its full stop
    assert kinds["swear at people"] == CLAUSE  # completes its lead-in
    assert kinds["guess"] == FRAGMENT  # one word is not a sentence


def test_link_only_lines_are_fragments_whatever_their_length():
    kinds = _kinds([
        Block("paragraph", "Follow the newsroom for updates about our research and events."),
        Block("paragraph", "https://news.example.org/research/updates/2024/all-the-things"),
        Block("paragraph", "Mastodon: @newsroom@social.example.org"),
        Block("paragraph", "Press: press-office@example.org, media@example.org"),
    ])
    assert kinds["Follow the newsroom for updates about our research and events."] == CLAUSE
    for line in ("https://news.example.org/research/updates/2024/all-the-things",
                 "Mastodon: @newsroom@social.example.org", "Press: press-office@example.org, media@example.org"):
        assert kinds[line] == FRAGMENT, line


def test_running_headers_repeated_on_every_page_are_fragments():
    text = ("Staff Handbook Section Four\n\nEmployees may use social media at lunch time, as long as they "
            "follow this policy.\n\nStaff Handbook Section Four\n\nManagers may ask for a post to be removed "
            "when it breaches this policy.\n")
    clauses = segment_blocks(blocks_from_text(text), text)
    kinds = [(c.text[:20], c.kind) for c in clauses]
    assert [k for t, k in kinds if t.startswith("Staff Handbook")] != [CLAUSE, CLAUSE]
    assert all(k != CLAUSE for t, k in kinds if t.startswith("Staff Handbook"))
    assert sum(k == CLAUSE for _, k in kinds) == 2


def test_fragments_among_units_are_not_tagged():
    from taxonomy.pipeline import classify_units

    rows = [{"doc": "d", "idx": 0, "heading": "Channels", "text": "We are on these platforms:"},
            {"doc": "d", "idx": 1, "heading": "Channels", "text": "Threads"},
            {"doc": "d", "idx": 2, "heading": "Channels", "text": "Never share your account password with anyone."},
            {"doc": "d", "idx": 3, "heading": "Channels", "text": "Dana Okafor"}]
    assert [c.kind for c in clauses_from_units(rows)] == [CLAUSE, FRAGMENT, CLAUSE, FRAGMENT]
    out = classify_units(rows)
    assert out[1]["labels"] == [] and out[3]["labels"] == [] and out[1]["kind"] == FRAGMENT
    assert out[2]["labels"]
