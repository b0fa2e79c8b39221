"""`newsmon once` from cron pays its start-up on every run: what an unchanged run does not need is not
imported by the service (the benchmark is benchmarks/startup.py; this keeps the laziness from eroding).
The matcher is compiled by the daemon before READY and by `once` with the first new article
(tests/test_once_start.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Loaded with the first changed listing, the first new article or the first backfill, or for a notifier
# kind the config names.
DEFERRED = [
    "aiosmtplib",
    "bs4",
    "feedparser",
    "lxml.etree",
    "selectolax",
    "monitor.backtest",
    "monitor.extract",
    "monitor.matching.engine",
    "monitor.notify.email",
    "monitor.notify.apprise",
]

PROBE = f"""
import sys
from pathlib import Path
from monitor.config import parse_config
from monitor.service import Service
text = '''
[rules]
paths = []
[[sources]]
name = "feed"
kind = "feed"
url = "https://example.org/feed.xml"
[[notifiers]]
name = "hook"
kind = "webhook"
url = "https://hooks.example.org/x"
'''
Service(parse_config(text, Path("probe.toml")))
print(" ".join(m for m in {DEFERRED!r} if m in sys.modules))
print("monitor.notify.webhook" in sys.modules)
"""


def test_the_service_with_a_webhook_imports_no_parser_extractor_or_other_notifier() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, cwd=ROOT, check=False, timeout=60
    )
    assert done.returncode == 0, done.stderr
    loaded, webhook = done.stdout.split("\n")[:2]
    assert loaded.split() == []
    assert webhook == "True"  # the kind the config names is loaded (the config check needs its options)


DETECTOR_PROBE = """
import sys
from monitor.matching.engine import Engine
from monitor.matching.rules import rules_from_text
engine = Engine(rules_from_text("rules: [{id: r, any: [Сырский]}]").rules)
print(engine.inflecting, "py3langid" in sys.modules)
"""


def test_a_matcher_with_inflected_terms_leaves_the_language_detector_to_its_first_use() -> None:
    """The detector costs ~0.8 s of CPU to load: it loads for the first article that declares no
    language, so `newsmon once` with every source answering 304 never pays for it."""
    done = subprocess.run(
        [sys.executable, "-c", DETECTOR_PROBE],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "False"]
