"""What the console playground tests and screenshots seed: a rule and the articles it runs on."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


# ../shared beside the repository; a worktree under wt/ sits one level deeper.
SEED = next(
    (
        p / "shared" / "examples" / "seed-article.txt"
        for p in (ROOT.parent, ROOT.parent.parent)
        if (p / "shared" / "examples" / "seed-article.txt").is_file()
    ),
    None,
)


PLAYGROUND_RULE = """\
rules:
  - id: atacms-in-russia
    title: ATACMS used against Russia
    all:
      - [ATACMS, ATACM, Army Tactical Missile System]
      - [Russia, Russian]
  - id: atacms-in-crimea
    title: ATACMS over Crimea
    all: [ATACMS, Crimea]
"""
