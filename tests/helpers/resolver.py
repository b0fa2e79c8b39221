"""A DNS resolver for tests: every name resolves to the addresses a test gives it."""

from __future__ import annotations

import socket
from dataclasses import dataclass, field

from aiohttp.abc import AbstractResolver, ResolveResult


@dataclass
class FakeResolver(AbstractResolver):
    """Answers from a table; a list of answers per name is served in turn (to model rebinding)."""

    table: dict[str, list[list[str]]]
    calls: list[str] = field(default_factory=list)

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_INET) -> list[ResolveResult]:
        self.calls.append(host)
        answers = self.table.get(host)
        if not answers:
            raise OSError(f"no such host {host}")
        addresses = answers[0] if len(answers) == 1 else answers.pop(0)
        return [
            ResolveResult(
                hostname=host,
                host=a,
                port=port,
                family=socket.AF_INET6 if ":" in a else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for a in addresses
        ]

    async def close(self) -> None:
        pass
