"""A small tagged corpus of three organizations (policies written for these tests), built with the real commands."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

POLICIES = {
    "Harbour Co": """# Harbour Co social media policy

## Who may speak for us

Only the communications team may speak on behalf of Harbour Co on social media.

## Confidential information

- Never share customer information or account details online.
- Do not post about unannounced products or results.

## Your own accounts

If you mention your work, say that the views you express are your own and not those of Harbour Co.

Report any harassment you receive online to your manager or to HR straight away.

Breaches of this policy may lead to disciplinary action, up to dismissal.
""",
    "Lantern Trust": """# Lantern Trust guidance for staff online

Be kind to colleagues online and treat everyone with respect.

Never share customer data or passwords on social media.

You may mention that you work for Lantern Trust on your personal profiles.
""",
    "Quarry Labs": """# Quarry Labs employee social media guidelines

## Speaking about Quarry Labs

Employees should add a disclaimer that their opinions are their own when they discuss our products.

Keep trade secrets and financial results confidential until they are announced.

## Getting help

Ask the communications team if you are unsure whether a post is appropriate.

Violations can result in disciplinary measures.
""",
}


def run(*args, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "policycorpus", *map(str, args)], capture_output=True, text=True,
                            timeout=600)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def write_policies(root: Path) -> dict[str, Path]:
    files = {}
    for name, text in POLICIES.items():
        path = root / (name.split()[0].lower() + ".md")
        path.write_text(text, encoding="utf-8")
        files[name] = path
    return files


def build(root: Path, order: list[str] | None = None) -> Path:
    """import-docs, segment and tag the three policies into root/corpus.db."""
    files = write_policies(root)
    db = root / "corpus.db"
    for name in order or list(POLICIES):
        run("import-docs", files[name], "--company", name, "--db", db, "-q")
    run("segment", "--db", db)
    run("tag", "--db", db)
    return db


def file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
