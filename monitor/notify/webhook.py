"""HTTP POST of an alert: newsmon JSON (signed, idempotent), Slack or Discord.

The receiver acknowledges with 2xx. 408/425/429/5xx, timeouts and connection errors may pass, so they
are retryable (with the receiver's Retry-After); any other answer means this request will never be
accepted as it is, so it is permanent. Redirects are not followed: re-POSTing an alert somewhere the
operator did not configure is worse than failing loudly.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote, urlsplit

import aiohttp

from monitor.dates import parse_retry_after
from monitor.errors import DeliveryError
from monitor.model import Alert
from monitor.notify.base import (
    DeliveryPolicy,
    Notifier,
    digest_id,
    iso,
    link,
    marked,
    one_line,
    redact_url,
    snippets,
)
from monitor.secret import Secret

Format = Literal["json", "slack", "discord"]
_RETRYABLE = frozenset({408, 425, 429})
_DETAIL_BYTES = 300
_SLACK_TEXT_MAX = 3000  # Slack's limit for one section text
_SLACK_BUTTON_MAX = 75  # plain_text of a button
_DISCORD_MAX = 2000  # Discord's limit for message content
# Discord embed limits: title 256, description 4096, 25 fields of name 256 / value 1024, 10 embeds a message,
# and 6000 characters across all the embeds of one message (title, description, fields, footer together).
_EMBED_TITLE, _EMBED_DESCRIPTION, _FIELD_NAME, _FIELD_VALUE = 256, 4096, 256, 1024
_EMBEDS_TOTAL = 6000
_EMBED_COLOR = 0xC0392B
# Slack allows 50 blocks a message (a digest uses one per alert, plus a header); Discord 10 embeds.
_DIGEST_LIMITS: dict[str, int] = {"json": 50, "slack": 40, "discord": 10}
# Reserved URL characters stay; "|", "<", ">", quotes and spaces, which end a chat link early, get encoded.
_URL_SAFE = ":/?#[]@!$&'()*+,;=%~"
_DISCORD_SPECIAL = re.compile(r"([\\*_~`|>#\-\[\]()<@:!.])")


@dataclass(frozen=True, slots=True)
class WebhookOptions(DeliveryPolicy):
    url: str
    format: Format = "json"
    secret: Secret | None = None
    timeout: float = 10.0

    def problems(self) -> list[tuple[str, str]]:
        try:
            parts = urlsplit(self.url)
        except ValueError:
            parts = None
        if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
            # Not the URL itself: a Slack or Discord hook URL is the credential.
            got = f"scheme {parts.scheme!r}" if parts is not None and parts.scheme else "no scheme"
            return [("url", f"expected an http:// or https:// URL, got {got}")]
        return []

    def __repr__(self) -> str:
        # The URL of a Slack or Discord hook is itself the credential.
        return (
            f"WebhookOptions(url={redact_url(self.url)!r}, format={self.format!r}, "
            f"secret={self.secret!r}, timeout={self.timeout!r}, digest={self.digest!r}, "
            f"max_per_hour={self.max_per_hour!r})"
        )


class WebhookNotifier(Notifier):
    kind = "webhook"
    Options = WebhookOptions
    options: WebhookOptions

    _owned: aiohttp.ClientSession | None = None

    @property
    def digest_limit(self) -> int:  # type: ignore[override]
        return _DIGEST_LIMITS[self.options.format]

    def digest_sizes(self, alerts: list[Alert]) -> list[int]:
        if self.options.format != "discord":
            return super().digest_sizes(alerts)
        # Packed by Discord's characters-per-message limit as well as its embed count.
        sizes: list[int] = []
        count = chars = 0
        for alert in alerts:
            size = embed_chars(discord_embed(alert))
            if count and (count == self.digest_limit or chars + size > _EMBEDS_TOTAL):
                sizes.append(count)
                count = chars = 0
            count += 1
            chars += size
        return [*sizes, count] if count else sizes

    async def send(self, alert: Alert) -> str:
        return await self._post(alert.id, render(alert, self.options.format))

    async def send_digest(self, alerts: list[Alert]) -> str:
        key = digest_id(alerts)
        return await self._post(key, render_digest(key, alerts, self.options.format))

    async def _post(self, key: str, body: bytes) -> str:
        opts = self.options
        where = redact_url(opts.url)
        headers = {"Content-Type": "application/json", "Idempotency-Key": key}
        if opts.secret:
            headers.update(sign(opts.secret, body, int(self._clock.time())))
        try:
            async with self._client().post(
                opts.url,
                data=body,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=opts.timeout),
                allow_redirects=False,
            ) as resp:
                if 200 <= resp.status < 300:
                    return f"HTTP {resp.status}"
                raw = await resp.content.read(_DETAIL_BYTES)
                detail = self._scrub(one_line(raw.decode("utf-8", "replace")))
                retry_after = parse_retry_after(
                    resp.headers.get("Retry-After"), self._clock.time(), resp.headers.get("Date")
                )
                status = resp.status
        except TimeoutError as exc:
            raise DeliveryError(f"{where}: no answer within {opts.timeout:g}s") from exc
        except aiohttp.InvalidURL as exc:
            raise DeliveryError(f"{where}: invalid webhook URL", permanent=True) from exc
        except aiohttp.ClientError as exc:
            raise DeliveryError(f"{where}: {_describe(exc)}") from exc
        reason = f"{where}: HTTP {status}" + (f": {detail}" if detail else "")
        if status in _RETRYABLE or status >= 500:
            raise DeliveryError(reason, retry_after=retry_after)
        raise DeliveryError(reason, permanent=True)

    async def close(self) -> None:
        if self._owned is not None:
            await self._owned.close()
            self._owned = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is not None:
            return self._session
        if self._owned is None:
            # Created lazily: a ClientSession must be born inside the running loop.
            self._owned = aiohttp.ClientSession()
        return self._owned

    def _scrub(self, text: str) -> str:
        """Receivers sometimes echo the request back; keep the URL's secret parts and the HMAC key out."""
        parts = urlsplit(self.options.url)
        tokens = [seg for seg in parts.path.split("/") if len(seg) >= 6]
        tokens += [v for pair in parts.query.split("&") for v in pair.split("=")[1:] if len(v) >= 4]
        tokens += [t for t in (parts.password, parts.username) if t]
        if self.options.secret:
            tokens.append(self.options.secret.reveal())
        for token in sorted(tokens, key=len, reverse=True):
            text = text.replace(token, "…")
        return text


def _describe(exc: aiohttp.ClientError) -> str:
    """Exception class and OS reason only: aiohttp messages may carry the full URL."""
    os_error = getattr(exc, "os_error", None)
    reason = os_error.strerror if isinstance(os_error, OSError) else None
    if reason is None and isinstance(exc, OSError):
        reason = exc.strerror
    return f"{type(exc).__name__}: {reason}" if reason else type(exc).__name__


def sign(secret: Secret, body: bytes, timestamp: int) -> dict[str, str]:
    """Headers proving the body came from us at ``timestamp``; the timestamp is signed to stop replays."""
    mac = hmac.new(secret.reveal().encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return {"X-Newsmon-Timestamp": str(timestamp), "X-Newsmon-Signature": f"sha256={mac.hexdigest()}"}


# -- payloads -----------------------------------------------------------------------------------------


def _dumps(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def render(alert: Alert, fmt: Format) -> bytes:
    if fmt == "slack":
        return _dumps(slack_payload(alert))
    if fmt == "discord":
        return _dumps(discord_payload(alert))
    return _dumps(json_payload(alert))


def render_digest(key: str, alerts: list[Alert], fmt: Format) -> bytes:
    if fmt == "slack":
        return _dumps(slack_digest(alerts))
    if fmt == "discord":
        return _dumps(discord_digest(alerts))
    return _dumps({"id": key, "digest": True, "alerts": [json_payload(a) for a in alerts]})


def json_payload(alert: Alert) -> dict[str, Any]:
    return {
        "id": alert.id,
        "rule": {"id": alert.rule_id, "title": alert.rule_title},
        "article": {
            "url": alert.url,
            "title": alert.title,
            "source": alert.source,
            "published": iso(alert.published),
            "detected_at": iso(alert.detected_at),
        },
        "hits": [
            {"term": h.term, "entity": h.entity, "field": h.field, "snippet": h.snippet} for h in alert.hits
        ],
        "also_seen_at": list(alert.also_seen_at),
    }


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _slack_link(url: str, label: str) -> str:
    target = link(url)
    if target is None:
        return _slack_escape(label)
    # "|" ends the URL part of <url|label> and ">" the whole link, so neither may stay raw in the URL.
    return f"<{_slack_escape(quote(target, safe=_URL_SAFE))}|{_slack_escape(label)}>"


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _slack_bold(text: str) -> str:
    # Slack has no escape for "*": a marker inside the term would end the bold early, so drop it there.
    return f"*{text.replace('*', '')}*"


def _slack_snippets(alert: Alert) -> str:
    return "\n".join(
        f"• _{_slack_escape(one_line(field))}_: "
        f"{marked(one_line(snippet, 300), terms, _slack_escape, _slack_bold)}"
        for field, snippet, terms in snippets(alert)
    )


def slack_payload(alert: Alert) -> dict[str, Any]:
    """Block Kit: a section with rule, linked title and source; a section with each snippet, the
    matched terms in bold; a button to the article; a context line with the other copies."""
    rule, title = one_line(alert.rule_title, 200), one_line(alert.title, 300)
    head = (
        f"*{_slack_escape(rule)}*\n{_slack_link(alert.url, title)}\n{_slack_escape(one_line(alert.source))}"
    )
    if alert.published:
        head += f" · published {iso(alert.published)}"
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": _cut(head, _SLACK_TEXT_MAX)}}
    ]
    if alert.hits:
        hits = _slack_snippets(alert)
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _cut(hits, _SLACK_TEXT_MAX)}})
    target = link(alert.url)
    if target is not None and len(target) <= _SLACK_TEXT_MAX:
        button = {"type": "plain_text", "text": "Open article", "emoji": False}
        blocks.append({"type": "actions", "elements": [{"type": "button", "text": button, "url": target}]})
    if alert.also_seen_at:
        seen = "Also seen at: " + ", ".join(_slack_link(u, one_line(u, 100)) for u in alert.also_seen_at[:10])
        blocks.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": _cut(seen, _SLACK_TEXT_MAX)}]}
        )
    return {"text": _slack_escape(f"[newsmon] {rule}: {title}"), "blocks": blocks}


def slack_digest(alerts: list[Alert]) -> dict[str, Any]:
    """One section per alert (rule, linked title, snippets), after a header section."""
    header = f"*newsmon digest: {len(alerts)} alert{'s' if len(alerts) != 1 else ''}*"
    blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": header}}]
    for alert in alerts:
        rule, title = one_line(alert.rule_title, 200), one_line(alert.title, 300)
        text = f"*{_slack_escape(rule)}*: {_slack_link(alert.url, title)}\n{_slack_snippets(alert)}"
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _cut(text, _SLACK_TEXT_MAX)}})
    return {"text": f"[newsmon] digest: {len(alerts)} alerts", "blocks": blocks}


def _discord_escape(text: str) -> str:
    return _DISCORD_SPECIAL.sub(r"\\\1", text)


def _discord_bold(text: str) -> str:
    return f"**{text}**"


def discord_embed(alert: Alert) -> dict[str, Any]:
    """An embed: linked title, the snippets (terms in bold) as description, rule/source/dates as fields."""
    description = "\n".join(
        f"{_discord_escape(one_line(field))}: "
        f"{marked(one_line(snippet, 300), terms, _discord_escape, _discord_bold)}"
        for field, snippet, terms in snippets(alert)
    )
    fields = [
        {
            "name": "Rule",
            "value": _cut(_discord_escape(one_line(alert.rule_title)), _FIELD_VALUE),
            "inline": True,
        },
        {
            "name": "Source",
            "value": _cut(_discord_escape(one_line(alert.source)), _FIELD_VALUE),
            "inline": True,
        },
        {"name": "Published", "value": iso(alert.published) or "unknown", "inline": True},
    ]
    seen = [u for u in (_discord_link(u) for u in alert.also_seen_at) if u]
    if seen:
        fields.append({"name": "Also seen at", "value": _cut("\n".join(seen), _FIELD_VALUE), "inline": False})
    embed: dict[str, Any] = {
        "title": _cut(_discord_escape(one_line(alert.title)) or "(untitled)", _EMBED_TITLE),
        "description": _cut(description, _EMBED_DESCRIPTION),
        "color": _EMBED_COLOR,
        "timestamp": iso(alert.detected_at),
        "fields": fields,
        "footer": {"text": "newsmon"},
    }
    target = link(alert.url)
    if target is not None:
        embed["url"] = quote(target, safe=_URL_SAFE)
    over = embed_chars(embed) - _EMBEDS_TOTAL
    if over > 0:  # the description gives way: the link, title and fields say what the alert is
        embed["description"] = _cut(description, max(1, len(embed["description"]) - over))
    return embed


def embed_chars(embed: dict[str, Any]) -> int:
    """The characters Discord counts against its per-message embed limit."""
    fields = embed.get("fields", [])
    return (
        len(embed.get("title", ""))
        + len(embed.get("description", ""))
        + sum(len(f["name"]) + len(f["value"]) for f in fields)
        + len(embed.get("footer", {}).get("text", ""))
    )


def _discord_link(url: str) -> str | None:
    target = link(url)
    # <url> shows the link without an embed; a raw ">" or space would end it early.
    return f"<{quote(target, safe=_URL_SAFE)}>" if target else None


def discord_payload(alert: Alert) -> dict[str, Any]:
    content = f"**{_discord_escape(one_line(alert.rule_title, 200))}**"
    # allowed_mentions with an empty parse list: an "@everyone" in a headline can never ping anyone.
    return {
        "content": _cut(content, _DISCORD_MAX),
        "embeds": [discord_embed(alert)],
        "allowed_mentions": {"parse": []},
    }


def discord_digest(alerts: list[Alert]) -> dict[str, Any]:
    return {
        "content": f"**newsmon digest: {len(alerts)} alert{'s' if len(alerts) != 1 else ''}**",
        "embeds": [discord_embed(a) for a in alerts],
        "allowed_mentions": {"parse": []},
    }
