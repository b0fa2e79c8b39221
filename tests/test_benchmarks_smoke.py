"""The benchmark instruments work: the simulator serves valid pages, feeds and sitemaps with validators,
and every script runs end to end in ``--quick`` mode and prints its JSON contract line. No figures are
asserted: benchmarks measure, tests only check the instruments are not broken."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import aiohttp
import pytest

from monitor.crawl.sources import parse_feed, parse_listing, parse_sitemap
from monitor.extract import extract
from monitor.model import Fetched, Source

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCH))

from newssim import NewsSim  # noqa: E402

CONTRACT = {
    "throughput.py": ("articles_per_s", "baseline_articles_per_s", "fetch_only_pages_per_s"),
    "polling.py": ("sources", "startup_s", "rss_mb", "cpu_ms_per_poll"),
    "scheduling.py": (
        "fixed_mean_delay_s",
        "fixed_p95_delay_s",
        "fixed_requests",
        "adaptive_mean_delay_s",
        "adaptive_p95_delay_s",
        "adaptive_requests",
        "bound_violations",
    ),
    "scaleout.py": ("polled_twice", "skipped", "redis_commands_per_poll", "redis_memory_bytes_per_source"),
    "startup.py": ("once_cpu_s", "once_pages_per_s", "inprocess_pages_per_s"),
    "latency.py": ("p95_over_interval",),
    "memory.py": ("rss_mb", "growth_mb"),
    "console.py": ("worst_p95_ms", "worst_cpu_ms"),
    "backtest.py": ("articles", "rules", "seconds", "bytes_per_article", "command_seconds"),
}


async def test_simulator_serves_pages_feeds_sitemaps_with_validators() -> None:
    async with NewsSim(sites=3, addresses=2, initial=4) as sim, aiohttp.ClientSession() as http:

        async def get(url: str, **headers: str) -> tuple[int, bytes, aiohttp.ClientResponse]:
            async with http.get(url, headers=headers) as resp:
                return resp.status, await resp.read(), resp

        status, body, resp = await get(sim.site_url(1, "feed"))
        assert status == 200 and resp.headers["Content-Encoding"] == "gzip"
        feed = parse_feed(Fetched(url=sim.site_url(1, "feed"), status=200, body=body))
        assert len(feed) == 4 and all(c.url.startswith(sim.sites[1].base + "/s1/news/") for c in feed)

        status, _, _ = await get(sim.site_url(1, "feed"), **{"If-None-Match": resp.headers["ETag"]})
        assert status == 304
        status, _, _ = await get(
            sim.site_url(1, "feed"), **{"If-Modified-Since": resp.headers["Last-Modified"]}
        )
        assert status == 304

        _, atom, _ = await get(sim.site_url(2, "atom"))
        assert len(parse_feed(Fetched(url=sim.site_url(2, "atom"), status=200, body=atom))) == 4
        _, smap, _ = await get(sim.site_url(0, "sitemap"))
        urls, children = parse_sitemap(Fetched(url=sim.site_url(0, "sitemap"), status=200, body=smap))
        assert len(urls) == 4 and children == [] and all(c.title and c.published for c in urls)
        front_url = sim.site_url(0, "html")
        _, front, _ = await get(front_url)
        source = Source(name="s0", kind="html", url=front_url, interval=60)
        listed = parse_listing(
            Fetched(url=front_url, status=200, body=front, content_type="text/html"), source
        )
        assert {c.url for c in listed} == {c.url for c in urls}

        new = sim.publish(1, site=0)[0]
        url = sim.sites[0].base + new.path()
        async with http.get(url, headers={"Accept-Encoding": "identity"}) as resp:
            page = await resp.read()
            assert resp.status == 200 and "Content-Encoding" not in resp.headers
        assert 30_000 <= len(page) <= 90_000
        article = extract(Fetched(url=url, status=200, body=page, content_type="text/html"), source="s0")
        assert article.title == new.title
        for keyword in new.keywords:
            if not keyword.startswith("re:"):
                assert keyword in article.body or keyword in article.title
        _, after, _ = await get(front_url)
        assert after != front  # the front page changed, so its validators changed

        async with http.get(f"{sim.control}/_sim/truth") as resp:
            truth = await resp.json()
        assert truth[-1]["url"] == url and truth[-1]["keywords"] == list(new.keywords)


@pytest.mark.timeout(90)  # eleven scripts at once on a small machine, two of them starting daemons
async def test_every_script_runs_quick_and_prints_its_contract_line() -> None:
    async def run(script: str) -> tuple[str, int, str, str]:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(BENCH / script),
            "--quick",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,  # its simulators and daemons die with it on a timeout
        )
        try:
            out, err = await asyncio.wait_for(proc.communicate(), timeout=85)
        except TimeoutError:
            # Killed and reaped here, so the failure names the script and leaves no pipe open to
            # fail whichever test the garbage collector happens to run in.
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = await proc.communicate()
            return script, -9, out.decode(), err.decode() + "\n(timed out after 85 s)"
        return script, proc.returncode or 0, out.decode(), err.decode()

    for script, code, out, err in await asyncio.gather(*(run(s) for s in CONTRACT)):
        assert code == 0, f"{script} failed:\n{err[-3000:]}"
        records = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        assert len(records) == 1, f"{script}: {out}"
        for key in CONTRACT[script]:
            assert key in records[0], f"{script}: no {key!r} in {records[0]}"
