"""Modality of a clause: rules of taxonomy/modality.yaml checked on the project's own labelled examples."""

import pickle

import numpy as np
import pytest
import yaml

from taxonomy.modality import EXAMPLES_PATH, RULES_PATH, ModalityTagger, load_examples
from taxonomy.taxonomy import MODALITIES


@pytest.fixture(scope="module")
def tagger():
    return ModalityTagger().fit()


def test_examples_cover_every_modality():
    records, labels = load_examples()
    assert len(records) == len(labels) >= 350
    assert set(labels) == set(MODALITIES)
    raw = yaml.safe_load(EXAMPLES_PATH.read_text(encoding="utf-8"))
    assert set(raw) == set(MODALITIES)


def test_rules_agree_with_own_examples(tagger):
    records, labels = load_examples()
    predicted = tagger.predict(records)
    accuracy = float(np.mean(predicted == np.asarray(labels, dtype=object)))
    assert accuracy >= 0.95, f"modality rules agree with {accuracy:.3f} of the project's examples"


@pytest.mark.parametrize("text,lead_in,heading,expected", [
    # typographic apostrophes are read like straight ones
    ("Don\u2019t share the password of an official account.", "", "", "prohibition"),
    # a question asks, it does not allow or oblige
    ("Can I post photos from the staff party?", "", "", "information"),
    ("Am I required to add a disclaimer?", "", "", "information"),
    # a lead-in setting a moment introduces instructions; a descriptive one introduces descriptions
    ("Check the spelling of names", "Before you publish:", "", "obligation"),
    ("Grow the number of contributors", "Our goals for next year:", "", "information"),
    ("Vary the hashtags", "Best practices for hashtags:", "", "recommendation"),
    ("Use a work email address", "Requirements for official accounts:", "", "obligation"),
    # a lead-in naming forbidden things introduces a description of them
    ("Posts that can be read as threats", "Examples of unacceptable content:", "", "information"),
    ("Post without approval", "", "Dos and don'ts > Don'ts", "prohibition"),
    ("Use emojis sparingly", "", "Posting tips", "recommendation"),
    # softened instructions are recommendations
    ("Please consider adding captions to videos.", "", "", "recommendation"),
    ("Try not to post more than twice a day.", "", "", "recommendation"),
    ("You might want to mute notifications at the weekend.", "", "", "recommendation"),
    ("Where appropriate, link to the full report.", "", "", "recommendation"),
    ("You should ensure that every image has alt text.", "", "", "recommendation"),
    ("Please ensure that a second admin approves each post.", "", "", "recommendation"),
    ("Please do not tag customers without asking them.", "", "", "prohibition"),
    ("Ensure that passwords are stored in the password manager.", "", "", "obligation"),
    ("Since pupils may be watching, keep replies formal.", "", "", "obligation"),
    ("Tag the venue, ideally in the first line.", "", "", "obligation"),
    ("Where possible, tag the venue.", "", "", "recommendation"),
    ("Keep in mind that screenshots last forever.", "", "", "recommendation"),
    ("Staff will not use the accounts to harass anyone.", "", "", "prohibition"),
    ("Each editor is personally responsible for what they publish.", "", "", "obligation"),
    ("New accounts require written approval from Communications.", "", "", "obligation"),
    ("Mandatory training modules are listed on the intranet.", "", "", "information"),
    ("The company may remove posts that break these rules.", "", "", "information"),
    ("Members of the public may not know that you work here.", "", "", "information"),
    ("Follow us on LinkedIn for updates.", "", "", "information"),
])
def test_modality_cases(tagger, text, lead_in, heading, expected):
    assert tagger.classify(text, lead_in, heading)[0] == expected


def test_predict_matches_classify_and_reads_records(tagger):
    records = [
        {"text": "You may share our posts."},
        {"context": "Never share passwords.", "text": "Never share"},
        {"text": "share news", "lead_in": "You must not:", "heading": ["Policy", "Security"]},
    ]
    assert list(tagger.predict(records)) == ["permission", "prohibition", "prohibition"]
    scores = [s for _, s in tagger.predict_with_score(records)]
    assert all(0.0 < s <= 1.0 for s in scores)
    assert tagger.score(records, ["permission", "prohibition", "prohibition"]) == 1.0


def test_a_tagger_pickled_by_older_code_is_refitted_on_load(tagger):
    state = {k: v for k, v in tagger.__dict__.items() if k not in ("rules_format_", "question_")}
    old = ModalityTagger.__new__(ModalityTagger)
    old.__dict__.update(state)
    loaded = pickle.loads(pickle.dumps(old))
    assert loaded.classify("Can I post photos from the staff party?")[0] == "information"


def test_rules_are_data_and_their_digest_follows_them(tmp_path, tagger):
    rules = yaml.safe_load(RULES_PATH.read_text(encoding="utf-8"))
    rules["permission"].append(r"\bzorblat\b")
    changed = tmp_path / "modality.yaml"
    changed.write_text(yaml.safe_dump(rules), encoding="utf-8")
    other = ModalityTagger(rules_path=str(changed)).fit()
    assert other.digest_ != tagger.digest_
    assert tagger.classify("Staff zorblat the newsletter.")[0] == "information"
    assert other.classify("Staff zorblat the newsletter.")[0] == "permission"


def test_cue_search_stays_cheap(tagger):
    # modality runs on every clause: thousands of distinct clauses must take well under a second of CPU
    import time
    records = [{"text": f"Item {i}: staff in team {i} should share release {i} notes on the blog, "
                        f"and you must never post customer {i} data without approval.",
                "lead_in": "When you post:" if i % 3 == 0 else "", "heading": "Policy > Conduct"}
               for i in range(3000)]
    start = time.process_time()
    tagger.predict_with_score(records)
    assert time.process_time() - start < 3.0


# ---------------------------------------------------------------- quoted example text

@pytest.mark.parametrize("text, expected", [
    # a suggested disclaimer: its "not" is the disclaimer's, the clause asks you to add it
    ("When you write about the sector, state that \u201cthe opinions here are mine and do not speak for the "
     "charity\u201d.", "obligation"),
    ("Put a line such as 'these posts are personal and don't reflect my employer's view' in your bio.",
     "obligation"),
    # a sample post is an example of tone, not a rule
    ("A reply we like: \"Sorry to hear that! We never ignore a complaint, so DM us your order number.\"",
     "information"),
    ("Example post: 'You must not miss our open day on Saturday!'", "information"),
    # the clause's own force outside the quotation still counts
    ("You must not write \u201cwe guarantee a place on the course\u201d in any post.", "prohibition"),
    ("Never post \"off the record\" remarks about students.", "prohibition"),
    # an apostrophe inside a word is not a quotation
    ("Don't share a colleague's photos without asking them first.", "prohibition"),
])
def test_quoted_text_does_not_set_the_modality(tagger, text, expected):
    assert tagger.classify(text)[0] == expected


def test_short_quoted_terms_are_still_read(tagger):
    # two words in quotes are a term ("Reply all"), not an example to blank
    from taxonomy.modality import blank_quotations

    assert blank_quotations('Avoid "reply all" on staff lists.', 3) == 'Avoid "reply all" on staff lists.'
    assert "xquote" in blank_quotations('Add "views are my own" to your profile.', 3)
