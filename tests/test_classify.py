"""Policy classifier: real policies above the threshold, real and own negatives below."""

from __future__ import annotations

import csv
import statistics
from pathlib import Path

import pytest

from crawler.classify import EXAMPLES_PATH, PolicyClassifier, default_classifier, example_blocks, load_examples
from policycorpus.extract import extract, extract_file

REALCORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "realcorpus"
needs_corpus = pytest.mark.skipif(not REALCORPUS.is_dir(), reason=f"real corpus not found at {REALCORPUS}")


@pytest.fixture(scope="module")
def clf():
    return PolicyClassifier().fit()


def _extract(path: Path):
    return extract(path.read_bytes(), path.as_uri()) if path.suffix == ".html" else extract_file(path)


def _score(clf, path: Path):
    doc = _extract(path)
    return clf.score(doc, doc.title, path.as_uri())


def _index():
    with open(REALCORPUS / "INDEX.tsv", encoding="utf-8") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def _positives():
    pages = sorted((REALCORPUS / "pages").glob("*")) if REALCORPUS.is_dir() else []
    texts = [REALCORPUS / r["file"] for r in _index() if r["is_employee_sm_policy"] == "yes" and r["file"].startswith("texts/")] if REALCORPUS.is_dir() else []
    return pages + texts


def _negatives():
    return sorted((REALCORPUS / "negatives").glob("*")) if REALCORPUS.is_dir() else []


@needs_corpus
@pytest.mark.parametrize("path", _positives(), ids=lambda p: p.name)
def test_real_policies_score_above_threshold(clf, path):
    score, reasons = _score(clf, path)
    assert score >= clf.threshold_, f"{path.name}: {score} {reasons}"


@needs_corpus
@pytest.mark.parametrize("path", _negatives(), ids=lambda p: p.name)
def test_real_negatives_score_below_threshold(clf, path):
    score, reasons = _score(clf, path)
    assert score < clf.threshold_, f"{path.name}: {score} {reasons}"


@needs_corpus
def test_score_distribution_report(clf, capsys):
    """Print the score distribution (run with -s to see it); the classes must not overlap."""
    pos = sorted(_score(clf, p)[0] for p in _positives())
    neg = sorted(_score(clf, p)[0] for p in _negatives())
    with capsys.disabled():
        print(f"\npolicy scores: positives n={len(pos)} min={pos[0]:.3f} median={statistics.median(pos):.3f}"
              f" | negatives n={len(neg)} max={neg[-1]:.3f} median={statistics.median(neg):.3f}"
              f" | threshold {clf.threshold_}")
    assert pos[0] > neg[-1]


# Own short documents, written for this test and NOT in classifier_examples.yaml.
OWN_NEGATIVES = {
    "privacy": ("Privacy statement | Tern Analytics", "https://tern.example/privacy-statement", """
# Privacy statement
Tern Analytics Ltd is the controller of the personal data processed through this site. We collect contact details
you give us in the enquiry form and technical data such as your IP address. We use this data to answer enquiries
and to improve the site, based on our legitimate interests. We keep enquiry data for two years. You have the right
to request access to, correction of or erasure of your personal data, and to complain to the supervisory authority.
If you contact us through a social network, that network's privacy policy also applies."""),
    "cookies": ("Cookies on this site", "https://www.harrow-council.example/cookies", """
# Cookies on this site
We put small files called cookies on your device to make the site work and to understand how it is used.
Essential cookies remember your cookie choices. Analytics cookies count visits anonymously. Video players and
social sharing buttons may set third-party cookies from YouTube, Facebook and X. You can turn non-essential
cookies off on this page or in your browser settings at any time."""),
    "terms": ("Terms and conditions | Drift Bikes", "https://driftbikes.example/terms-and-conditions", """
# Terms and conditions
These terms apply to orders placed on driftbikes.example. By placing an order you agree to them. Prices include
VAT. We may change these terms at any time. Our total liability for any order is limited to the price paid.
Photos you post with our hashtag may be reposted on our Instagram account; by tagging us you grant us a licence
to do so. These terms are governed by the laws of Scotland."""),
    "customer community guidelines": ("Community rules | Fernway Gaming forums", "https://forums.fernway.example/rules", """
# Community rules
Welcome to the Fernway forums. Players who post here agree to keep it friendly.
- No hate speech, threats or harassment of other players.
- No cheating tools, account selling or spam.
- Keep threads on topic and use the search first.
- Don't post personal information about anyone.
Moderators will remove posts that break these rules and may ban repeat offenders. Posts reflect the opinions of
their authors, not of Fernway."""),
    "public comment policy": ("Comment and moderation policy | Port Ellis Police", "https://porteliis-police.example/comment-policy", """
# Comment and moderation policy
We welcome comments on our Facebook and X pages from members of the public. Our pages are not monitored 24 hours
a day, so please do not report crimes here. We will hide or remove comments that are abusive, discriminatory,
name suspects, contain personal information or advertise products. Users who repeatedly break these rules may be
blocked. Comments are the views of the people who post them and not of the force."""),
    "marketing tips blog": ("7 LinkedIn tips for accountants | Ledgerly blog", "https://ledgerly.example/blog/linkedin-tips-accountants", """
# 7 LinkedIn tips for accountants
Your next client is scrolling LinkedIn right now. Here's how to get their attention.
1. Post three times a week: consistency beats the algorithm.
2. Share short client success stories (with permission!).
3. Use carousels, they get more reach than plain text.
4. Comment on posts from local business owners.
5. Grow your network by 20 connections a week.
Want more tips like these? Subscribe to our newsletter and grow your practice. Related posts: the best time to post."""),
    "satire": ("Our social media policy (a parody)", "https://grumpyintern.example/parody-policy", """
# Our social media policy
Post constantly but never during working hours, which are all hours. Be authentic, but only in the approved way.
Share your opinions freely, as long as they are the CEO's. Anyone breaking these rules gets a free mug. LOL.
Disclaimer: this is satire, for humorous purposes only."""),
    "online safety advice": ("Staying safe online in later life | Age Friendly Rushmoor", "https://agefriendly.example/online-safety", """
# Staying safe online in later life
Social media helps many older people keep in touch with family. A few habits keep you safe.
- Only accept friend requests from people you know.
- Never send money to someone you have only met online; romance scams are common.
- Check your privacy settings on Facebook so strangers cannot see your posts.
- Use a different strong password for each account.
Our volunteers run free drop-in sessions at the library every Tuesday."""),
    "landing page": ("Policies and documents | Tern Analytics", "https://tern.example/policies", """
# Policies and documents
- Privacy statement
- Cookie notice
- Accessibility statement
- Social media guidelines (PDF)
- Modern slavery statement"""),
}

OWN_POSITIVES = {
    "short staff rules": ("Staff social media rules | Harrow Council", "https://intranet.harrow-council.example/hr/social-media", """
# Staff social media rules
Council employees must stay politically neutral online during election periods. Do not comment on planning
applications you are involved with. If you mention that you work for the council, make clear that your views are
your own. Only the communications team may reply on behalf of the council to press questions on social media.
Breaches may be handled under the disciplinary procedure."""),
    "volunteer guide": ("Posting guidance for volunteers | Marsh Wildlife Trust", "https://marshwildlife.example/volunteers/posting", """
# Posting guidance for volunteers
Our volunteers are our best ambassadors online. When you post about volunteering with us:
- never reveal the location of nesting sites;
- ask before photographing other volunteers or visitors;
- say you are a volunteer, not a member of staff;
- pass any questions from journalists to the communications officer.
Thank you for helping us share the work safely."""),
}


@pytest.mark.parametrize("name", sorted(OWN_NEGATIVES))
def test_own_negatives_score_below_threshold(clf, name):
    title, url, text = OWN_NEGATIVES[name]
    score, reasons = clf.score(text, title, url)
    assert score < clf.threshold_, f"{name}: {score} {reasons}"


@pytest.mark.parametrize("name", sorted(OWN_POSITIVES))
def test_own_positives_score_above_threshold(clf, name):
    title, url, text = OWN_POSITIVES[name]
    score, reasons = clf.score(text, title, url)
    assert score >= clf.threshold_, f"{name}: {score} {reasons}"


def test_reasons_name_the_signals(clf):
    title, url, text = OWN_NEGATIVES["satire"]
    score, reasons = clf.score(text, title, url)
    assert any(r.startswith("-") and "satire" in r for r in reasons), reasons
    title, url, text = OWN_POSITIVES["short staff rules"]
    _, reasons = clf.score(text, title, url)
    assert any(r.startswith("+") and "audience" in r for r in reasons), reasons


def test_tiny_or_empty_input_scores_low(clf):
    for doc in ("", "Social media policy", "Download the social media policy (PDF)"):
        score, _ = clf.score(doc, None, None)
        assert score < 0.1, (doc, score)


def test_estimator_conventions(tmp_path):
    clf = PolicyClassifier(threshold=0.7, random_state=3)
    assert clf.threshold == 0.7 and not hasattr(clf, "model_")
    assert clf.fit() is clf and hasattr(clf, "model_") and clf.threshold_ == 0.7
    assert set(clf.weights()) == set(clf.feature_names_)
    # the model is data: other examples give other weights
    examples = load_examples(EXAMPLES_PATH)
    assert len(examples) >= 40 and {e["label"] for e in examples} == {0, 1}
    docs = [(example_blocks(e["text"]), e["title"], e["url"]) for e in examples]
    flipped = PolicyClassifier().fit(docs, [1 - e["label"] for e in examples])
    title, url, text = OWN_POSITIVES["short staff rules"]
    assert flipped.score(text, title, url)[0] < 0.5 < clf.score(text, title, url)[0]
    proba = clf.predict_proba(docs[:3])
    assert proba.shape == (3, 2)


def test_default_classifier_is_cached():
    assert default_classifier() is default_classifier()


def test_training_examples_are_fitted(clf):
    """Sanity check of the model on its own training set (not a measure of accuracy)."""
    examples = load_examples(EXAMPLES_PATH)
    proba = clf.predict_proba([(example_blocks(e["text"]), e["title"], e["url"]) for e in examples])[:, 1]
    correct = sum((p >= 0.5) == bool(e["label"]) for p, e in zip(proba, examples))
    assert correct / len(examples) >= 0.9


DEMO_WEB = Path(__file__).resolve().parents[1] / "demo" / "web"


@pytest.mark.skipif(not (DEMO_WEB / "sites.yaml").is_file(), reason="demo web not built")
def test_demo_web_policies_and_negatives(clf):
    """The fictional demo sites: every listed policy is accepted, every listed negative page rejected."""
    import yaml

    sites = yaml.safe_load((DEMO_WEB / "sites.yaml").read_text(encoding="utf-8"))["sites"]
    checked = 0
    for site in sites:
        for path, want in [(p["path"], True) for p in site.get("policies", [])] + [(n, False) for n in site.get("negatives", [])]:
            file = DEMO_WEB / site["slug"] / path.lstrip("/")
            if file.is_dir() or path.endswith("/"):
                file = file / "index.html"
            if not file.is_file():
                continue
            url = f"http://{site.get('host', 'demo')}{path}"
            doc = extract(file.read_bytes(), url)
            score, reasons = clf.score(doc, doc.title, url)
            assert (score >= clf.threshold_) == want, f"{site['slug']}{path}: {score} {reasons}"
            checked += 1
    assert checked >= 40
