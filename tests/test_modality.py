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


# ---------------------------------------------------------------- instructions anywhere in a clause, and what only describes

@pytest.mark.parametrize("text, lead_in, heading, expected", [
    # an instruction in a later sentence, after a question, a short label or an arrow
    ("Most replies we get are thanks. Answer them within a day.", "", "", "obligation"),
    ("Posted a typo? Fix it in a reply.", "", "", "obligation"),
    ("Spam accounts: block them and move on.", "", "", "obligation"),
    ("Press enquiries \u2192 forward them to the newsroom.", "", "", "obligation"),
    # after a condition, also one whose commas separate a list or a second condition
    ("If a reporter calls you, or sends you a message, pass it to the press office.", "", "", "obligation"),
    ("If a post names a patient, a relative or a donor, also tell the data protection officer.", "", "", "obligation"),
    ("8.2 If a parent asks for a photo to come down, remove it the same day.", "", "", "obligation"),
    # the comma scan stops at the main clause: its "should" decides
    ("When writing about research, staff should be precise, cite sources and avoid hype.", "", "", "recommendation"),
    # a tip label softens the instruction after it; a contact line or a sample reply is not a rule
    ("Pro tip: schedule posts for the morning.", "", "", "recommendation"),
    ("Questions? Email the web team.", "", "", "information"),
    ("Thank you for getting in touch. Send us your ticket number and we will look into it.", "", "", "information"),
    # an abbreviation does not end a sentence: "e.g. pin ..." is an example
    ("You should pin the event post, e.g. pin the one about the open day.", "", "", "recommendation"),
    # instructions in sample text or under a descriptive heading of any length describe
    ("Join us at the open day on Saturday!", "", "Launch kit > Sample posts > Open day", "information"),
    ("Grow the number of newsletter readers", "", "Goals of the alumni channel", "information"),
    # one-word and phrasal instructions, two verbs joined by "and"
    ("When in doubt, escalate.", "", "", "obligation"),
    ("Ask for access in the team channel.", "", "", "obligation"),
    ("Know and follow the house style.", "", "", "obligation"),
    # a noun phrase opening with a verb-like word is a subject or a label
    ("Store managers are told about every local post.", "", "", "information"),
    ("Document owner: Head of Digital.", "", "", "information"),
    # after "so" or "then" an instruction turns a description into an obligation, not advice into one
    ("Some partners do not allow us to share their logos, so check the partner list first.", "", "", "obligation"),
    ("Videos with captions reach more people, so add them when you can.", "", "", "recommendation"),
    ("Sharing the launch post is fine, but ask the product team before adding screenshots.", "", "", "obligation"),
    ("Think about who might read your post before you share it.", "", "", "recommendation"),
    # a question under a lead-in asking it is one of the questions to ask
    ("Would you say this to a customer's face?", "Ask yourself before posting:", "", "recommendation"),
])
def test_instructions_in_any_sentence(tagger, text, lead_in, heading, expected):
    assert tagger.classify(text, lead_in, heading)[0] == expected


@pytest.mark.parametrize("text, expected", [
    # epistemic and consequence passives describe
    ("This guide may be updated at any time.", "information"),
    ("Posts on official accounts may be disclosed under freedom of information law.", "information"),
    ("You may be required to remove a post that breaks these rules.", "information"),
    ("Social media can be used to reach new audiences.", "information"),
    ("Repeated misuse may amount to misconduct.", "information"),
    # what others may do, what an organisation recognises, what one may come across
    ("Residents may share what you post with local reporters.", "information"),
    ("The university recognises that staff may hold strong political views.", "information"),
    ("You may come across confidential material in shared folders.", "information"),
    # what a policy sets out, what a text or a third party does not do, what the organisation does not do
    ("This guide explains what volunteers may and may not do online.", "information"),
    ("It describes how we expect members to behave in the forum.", "information"),
    ("These guidelines do not limit your right to discuss pay.", "information"),
    ("Nothing in this guide prevents you from raising concerns with a regulator.", "information"),
    ("We do not monitor the personal accounts of volunteers.", "information"),
    ("Not every team needs its own account.", "information"),
    # restrictions forbid
    ("Only the press officer may speak to reporters about incidents.", "prohibition"),
    ("Only staff named in the communications register for this year may post on the main account.", "prohibition"),
    ("Logins are kept in a vault that only the two editors can open.", "information"),
    ("No volunteer may open an account in the charity's name.", "prohibition"),
    ("The Trust prohibits retaliation against people who report concerns.", "prohibition"),
    ("The foundation may not be named in personal fundraising posts.", "prohibition"),
    ("Keep customer names, prices and launch dates out of your posts.", "prohibition"),
    # approval and conditions on doing something oblige
    ("Every post about the budget needs sign-off from the finance lead.", "obligation"),
    ("Posts about grants require the prior approval of the director.", "obligation"),
    ("Event photos go up only after the organiser has checked them.", "obligation"),
])
def test_descriptions_restrictions_and_conditions(tagger, text, expected):
    assert tagger.classify(text)[0] == expected


def test_heading_label_gives_no_force_to_a_full_sentence(tagger):
    # "Responsibilities" obliges a bare item, not a sentence describing who does what
    assert tagger.classify("Reviewing the monthly analytics", "", "Panel > Responsibilities")[0] == "obligation"
    assert tagger.classify("The panel meets every month to review the accounts.", "",
                           "Panel > Responsibilities")[0] == "information"


def test_list_item_with_a_lead_in_is_read_on_its_own(tagger):
    # a fragment's context joins neighbouring items; their "must" is theirs
    record = {"text": "the duty editor should check replies",
              "context": "all posts must be paused the duty editor should check replies",
              "lead_in": "During an incident:"}
    assert tagger.predict([record])[0] == "recommendation"
    # a line broken inside a sentence is still read with the rest of it
    broken = {"text": "share photos of pupils", "context": "Staff must never share photos of pupils"}
    assert tagger.predict([broken])[0] == "prohibition"


def test_quoted_sample_after_a_label_does_not_set_modality(tagger):
    assert tagger.classify('Sample reply: "Sorry about that! Email us and we will sort it out."')[0] == "information"
    assert tagger.classify("Reply with a line such as 'Thanks for flagging this, we never ignore a report.'")[0] \
        == "obligation"
