"""Hostile titles and snippets, rendered by every notifier format.

A crawled headline is attacker-controlled. Whatever it holds — markup, CR/LF, chat-markup injection,
bidi overrides, terminal escapes — must come out inert in console text, Slack, Discord, email text,
email HTML and email headers. (The JSON webhook carries it as data: JSON escaping is the encoder's job,
checked by round-tripping.) Secrets in logs are covered by tests/test_logs.py.
"""

from __future__ import annotations

import email
import email.policy
import io
import json
import logging
import re
from dataclasses import replace
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest
from aiohttp import web

from monitor.cli import main
from monitor.config import load_config
from monitor.logs import MASK, Scrubber, mask_url, setup_logging
from monitor.model import Alert, Hit
from monitor.notify import console, webhook
from monitor.notify import email as mail
from tests.cli_config import cli_config
from tests.helpers.smtp import Mailbox
from tests.threaded import serve_in_thread

RLO = "\u202e"
HOSTILE = [
    "<script>alert(1)</script><img src=x onerror=alert(2)>",
    "Breaking\r\nBcc: victim@example.org\r\nX-Injected: 1",
    "<!channel> <!here> <!everyone> <@U123> <#C123>",
    "@everyone @here <@&123456>",
    "[click me](javascript:alert(1)) <https://evil.example|Reuters>",
    f"Invoice {RLO}fdp.exe",
    "\x1b[2J\x1b]0;pwned\x07 clears the screen",
    "**bold** __u__ ~~s~~ `code` ||spoiler|| > quote # heading",
    "a\u2028b\u2029c\x85d\x00e",
    "\u2066isolate\u2069 \u200fmark\u200e \u061carabic",
    # RFC 2047 encoded words: decoded by the header parser, so CR/LF, ESC and RLO come back to life.
    "=?UTF-8?Q?x=0D=0AReply-To:_evil@attacker.example?=",
    "=?UTF-8?Q?=0D=0A=0D=0A<h1>owned</h1>?=",
    "=?UTF-8?B?G1sySuKArmV4ZQ==?=",
    # Invisible: zero-width space/joiners, word joiner, BOM, and a hidden message in tag characters.
    "zero\u200bwidth\u200c\u200d\u2060\ufeff \U000e0068\U000e0069 tags",
]
BIDI = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
INVISIBLE = re.compile("[\u200b-\u200d\u2060\ufeff\U000e0000-\U000e007f]")
CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")


def hostile_alert(text: str) -> Alert:
    return Alert(
        id="a1",
        rule_id="r1",
        rule_title=f"Rule {text}",
        story_key="s",
        url="https://news.example/a?x=<b>|y>",
        title=text,
        source=f"src {text}",
        published=datetime(2024, 1, 2, tzinfo=UTC),
        detected_at=datetime(2024, 1, 2, 0, 1, tzinfo=UTC),
        hits=(Hit(term="ATACMS", entity=None, field="body", start=0, end=6, snippet=f"ATACMS {text}"),),
        also_seen_at=("javascript:alert(1)", "https://copy.example/x|<!channel>"),
    )


def _no_bidi_or_controls(text: str, *, newlines_ok: bool) -> None:
    assert not BIDI.search(text), repr(text)
    assert not INVISIBLE.search(text), repr(text)
    stripped = text.replace("\n", "") if newlines_ok else text
    assert not CONTROLS.search(stripped), repr(text)


@pytest.mark.parametrize("text", HOSTILE)
def test_console(text: str) -> None:
    out = console.render(hostile_alert(text))
    _no_bidi_or_controls(out, newlines_ok=True)
    # Every value stays on its own labelled line: an injected "\r\nBcc:" cannot start a line.
    for line in out.splitlines():
        assert not line or line.startswith(("[newsmon]", "  ")), repr(line)


@pytest.mark.parametrize("text", HOSTILE)
def test_json_webhook_round_trips_as_data(text: str) -> None:
    payload = json.loads(webhook.render(hostile_alert(text), "json"))
    assert payload["article"]["title"] == text


def _slack_texts(payload: dict[str, object]) -> list[str]:
    texts = [str(payload["text"])]
    for block in payload["blocks"]:  # type: ignore[attr-defined]
        if "text" in block and isinstance(block["text"], dict):
            texts.append(block["text"]["text"])
        texts += [e["text"] for e in block.get("elements", []) if isinstance(e.get("text"), str)]
    return texts


@pytest.mark.parametrize("text", HOSTILE)
def test_slack_mrkdwn(text: str) -> None:
    payload = json.loads(webhook.render(hostile_alert(text), "slack"))
    for mrkdwn in _slack_texts(payload):
        _no_bidi_or_controls(mrkdwn, newlines_ok=True)
        # Slack control sequences are <...>; the only ones we emit are our own links to http(s) URLs.
        for seq in re.findall(r"<([^>]*)>", mrkdwn):
            # Slack splits at the first "|": the URL part must be ours, with its own "|" and "<" encoded.
            target = seq.split("|", 1)[0]
            assert target.startswith(("https://news.example/", "https://copy.example/")), seq
            assert target in (
                "https://news.example/a?x=%3Cb%3E%7Cy%3E",
                "https://copy.example/x%7C%3C!channel%3E",
            )
        assert "<!" not in mrkdwn and "<@" not in mrkdwn and "<#" not in mrkdwn
        assert "javascript:" not in mrkdwn or "<javascript" not in mrkdwn
    buttons = [e for b in payload["blocks"] for e in b.get("elements", []) if e.get("type") == "button"]
    assert all(str(b["url"]).startswith("https://") for b in buttons)


@pytest.mark.parametrize("text", HOSTILE)
def test_discord(text: str) -> None:
    payload = json.loads(webhook.render(hostile_alert(text), "discord"))
    assert payload["allowed_mentions"] == {"parse": []}  # no @everyone ping, whatever the text says
    (embed,) = payload["embeds"]
    values = [payload["content"], embed["title"], embed["description"]]
    values += [f["value"] for f in embed["fields"]]
    for value in values:
        _no_bidi_or_controls(value, newlines_ok=True)
        # Markdown links and mentions need unescaped "[", "](", "@": every one is backslash-escaped.
        assert not re.search(r"(?<!\\)\[[^\]]*(?<!\\)\]\((?!https?://)", value), value
        assert not re.search(r"(?<!\\)@(everyone|here)", value), value
        assert not re.search(r"(?<!\\)<@", value), value
    assert embed.get("url", "https://").startswith("https://")
    assert "javascript" not in json.dumps(
        [f["value"] for f in embed["fields"] if f["name"] == "Also seen at"]
    )


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.hrefs: list[str] = []
        self.handlers: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for name, value in attrs:
            if name == "href":
                self.hrefs.append(value or "")
            if name.startswith("on"):
                self.handlers.append(name)


@pytest.mark.parametrize("text", HOSTILE)
def test_email_text_html_and_headers(text: str) -> None:
    message = mail.build_message(hostile_alert(text), "newsmon@example.org", ["desk@example.org"])
    raw = message.as_bytes()
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    # Headers: exactly the ones we set; the CR/LF in the title never starts a new one.
    assert [k.lower() for k in parsed] == HEADERS
    subject = str(parsed["Subject"]).strip()
    _no_bidi_or_controls(subject, newlines_ok=False)
    assert subject.startswith("[newsmon] Rule ")

    text_part = parsed.get_body(("plain",))
    html_part = parsed.get_body(("html",))
    assert text_part is not None and html_part is not None
    _no_bidi_or_controls(text_part.get_content(), newlines_ok=True)
    html = html_part.get_content()
    _no_bidi_or_controls(html, newlines_ok=True)
    collected = _Collect()
    collected.feed(html)
    # Only the tags the template writes, no handler attributes, only http(s) links.
    assert set(collected.tags) <= {
        "html",
        "head",
        "meta",
        "body",
        "p",
        "strong",
        "h2",
        "a",
        "ul",
        "li",
        "em",
        "mark",
        "small",
    }, collected.tags
    assert collected.handlers == []
    assert all(h.startswith("https://") for h in collected.hrefs), collected.hrefs


HEADERS = [
    "subject",
    "from",
    "to",
    "date",
    "message-id",
    "x-newsmon-alert-id",
    "x-newsmon-rule",
    "mime-version",
    "content-type",
]


def _mailer(port: int) -> mail.EmailNotifier:
    options = mail.EmailOptions(
        host="127.0.0.1", port=port, tls="none", sender="n@example.org", to=["d@example.org"]
    )
    return mail.EmailNotifier("mail", options)


@pytest.mark.parametrize("text", HOSTILE)
async def test_email_through_a_real_smtp_server_keeps_its_headers(
    text: str, smtp: tuple[Mailbox, int]
) -> None:
    mailbox, port = smtp
    notifier = _mailer(port)
    await notifier.send(hostile_alert(text))
    await notifier.send_digest([hostile_alert(text), hostile_alert(text)])
    alert_mail, digest = mailbox.messages
    assert [k.lower() for k in alert_mail] == HEADERS
    assert [k.lower() for k in digest] == [h for h in HEADERS if h != "x-newsmon-rule"]
    for parsed in (alert_mail, digest):
        subject = str(parsed["Subject"])
        _no_bidi_or_controls(subject, newlines_ok=False)
        assert subject.strip().startswith("[newsmon] ")
        html_part = parsed.get_body(("html",))
        assert html_part is not None and "<h1>owned" not in html_part.get_content()


def test_rlo_is_removed_not_just_escaped() -> None:
    alert = hostile_alert(f"Invoice {RLO}fdp.exe")
    assert RLO not in console.render(alert)
    assert RLO not in str(mail.build_message(alert, "a@example.org", ["b@example.org"])["Subject"])
    for fmt in ("slack", "discord"):
        assert RLO not in webhook.render(alert, fmt).decode()  # type: ignore[arg-type]


async def test_email_lines_stay_within_rfc_5322_whatever_the_alert(
    smtp: tuple[Mailbox, int],
) -> None:
    mailbox, port = smtp
    notifier = _mailer(port)
    alert = replace(hostile_alert("x" * 5000), url="https://e.org/" + "p" * 3000)
    await notifier.send_digest([alert] * 30)
    [(envelope, _)] = mailbox.received
    assert isinstance(envelope.content, bytes)
    assert max(len(line) for line in envelope.content.splitlines()) <= 998


# -- the terminal: CLI commands and text logs --------------------------------------------------------------
TERMINAL_HOSTILE = "ATACMS \x1b]0;owned\x07\x1b[2J\u202egnp.exe\u200b\U000e0041 \x9b31m"
TERMINAL_UNSAFE = re.compile(
    "[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2066-\u2069\U000e0000-\U000e007f]"
)


def _hostile_site() -> web.Application:
    async def feed(request: web.Request) -> web.Response:
        xml = (
            '<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><item>'
            f"<title>{TERMINAL_HOSTILE}</title><link>{request.url.origin()}/a</link></item></channel></rss>"
        )
        return web.Response(text=xml, content_type="application/rss+xml")

    async def page(request: web.Request) -> web.Response:
        body = f"<p>{TERMINAL_HOSTILE} strikes, a sentence long enough to count as text.</p>" * 5
        return web.Response(
            text=f"<html><head><title>{TERMINAL_HOSTILE}</title></head><body><article>{body}</article></body></html>",
            content_type="text/html",
        )

    app = web.Application()
    app.router.add_get("/feed.xml", feed)
    app.router.add_get("/a", page)
    return app


def test_cli_output_never_carries_terminal_controls(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with serve_in_thread(_hostile_site()) as base:
        sources = [
            ("hostile", "feed", f"{base}/feed.xml"),
            ("broken", "feed", f"{base}/missing-\\u001b[2J\\u202e.xml"),
        ]
        hook = 'kind = "webhook"\nurl = "http://127.0.0.1:9/nowhere"'
        config = str(
            cli_config(tmp_path, sources, "rules:\n  - id: atacms\n    any: [ATACMS]\n", notifier=hook)
        )
        page = tmp_path / "page.html"
        page.write_text(
            f"<html><head><title>{TERMINAL_HOSTILE}</title></head><body><p>{TERMINAL_HOSTILE}</p></body></html>"
        )
        runs = [
            ["once", "-c", config, "--dry-run"],
            ["once", "-c", config],
            ["alerts", "list", "-c", config],
            ["status", "-c", config],
            ["rules", "test", "--rules", str(tmp_path / "rules"), "--file", str(page)],
        ]
        outputs = []
        for argv in runs:
            main(argv)
            captured = capsys.readouterr()
            outputs.append(captured.out + captured.err)
    dry_run, _, alerts_list, status, rules_test = outputs
    assert "would alert [atacms]" in dry_run
    assert "atacms" in alerts_list and "broken" in status and "article:" in rules_test
    for argv, text in zip(runs, outputs, strict=True):
        assert not TERMINAL_UNSAFE.search(text), (argv, text)


def test_text_log_lines_are_inert() -> None:
    stream = io.StringIO()
    setup_logging("text", "info", stream)
    logging.getLogger("newsmon.test").warning(
        f"event {TERMINAL_HOSTILE}", extra={"url": f"http://x.example/{TERMINAL_HOSTILE}", "error": "a\r\nb"}
    )
    (line,) = stream.getvalue().splitlines()
    assert not TERMINAL_UNSAFE.search(line), line
    assert "url=http://x.example/ATACMS" in line


def test_json_log_lines_are_inert_and_keep_their_values() -> None:
    """JSON lines are read by people too (``journalctl``, a ``once`` from cron mailing its stderr): what a
    terminal acts on is written as a JSON escape, so a JSON reader gets the same text back."""
    stream = io.StringIO()
    setup_logging("json", "info", stream)
    title = f"{TERMINAL_HOSTILE} \u00ad\u2028"
    logging.getLogger("newsmon.test").warning(
        "article_failed", extra={"title": title, "url": "http://x.example/é"}
    )
    (line,) = stream.getvalue().splitlines()
    assert not TERMINAL_UNSAFE.search(line), line
    record = json.loads(line)
    assert record["title"] == title and record["url"] == "http://x.example/é"  # readable, not \u-escaped
    assert "x.example/é" in line


# -- secrets (item 10) ---------------------------------------------------------------------------------
@pytest.mark.parametrize("secret", ['pa"ss\\word', "tab\there", "q'uote\u2028line"])
def test_json_log_lines_are_scrubbed_before_escaping(secret: str) -> None:
    stream = io.StringIO()
    setup_logging("json", "info", stream, scrub=Scrubber([secret]))
    logging.getLogger("newsmon.test").warning(
        "login failed", extra={"error": f"bad password {secret}", "count": 3}
    )
    line = stream.getvalue().strip()
    record = json.loads(line)
    assert secret not in record["error"] and MASK in record["error"]
    assert json.dumps(secret, ensure_ascii=False)[1:-1] not in line
    assert record["count"] == 3  # numbers stay numbers


PASSWORDS = ["hun/ter2x", "hun?ter2x", "hun#ter2x", "p@ss:w0rd"]


@pytest.mark.parametrize("password", PASSWORDS)
def test_store_passwords_never_reach_check_output_or_repr(
    password: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"redis://newsmon:{password}@127.0.0.1:6379/0"
    config = tmp_path / "config.toml"
    config.write_text(f'[store]\nurl = "{url}"\n[rules]\npaths = ["rules"]\n')
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "r.yaml").write_text("rules:\n  - id: r\n    any: [x]\n")
    main(["check", "-c", str(config)])
    out = capsys.readouterr()
    assert password not in out.out + out.err and "127.0.0.1:6379" in out.out
    assert password not in repr(load_config(config)) and password not in mask_url(url)


def test_a_secret_mistyped_as_a_number_is_not_echoed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        '[rules]\npaths = ["rules"]\n[[notifiers]]\nname = "hook"\nkind = "webhook"\n'
        'url = "https://hooks.example/x"\nsecret = 73519246810\n'
    )
    (tmp_path / "rules").mkdir()
    assert main(["check", "-c", str(config)]) != 0
    out = capsys.readouterr()
    assert "73519246810" not in out.out + out.err
    assert "secret" in out.out + out.err
