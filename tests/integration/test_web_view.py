"""The web view in headless Chromium (Debian's chromium and chromium-driver, driven by
selenium) against the deck's cluster: 6 brokers in 2 racks, Invoice with 10 partitions and RF 3.
Its table matches `skein topic describe --layout` cell for cell; a follower's kill -9 turns its
cells out of sync and puts an ISR shrink in the timeline; its restart turns them back.
Screenshots go to tests/integration/.out/web-view/."""

import json
import shutil
import time
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service

from cluster_helpers import cluster_fixtures, describe, skein, wait_until
from test_cluster_replication import SETTINGS, create_invoice, fully_in_sync, kill9

LAG_MS = 4000  # replica.lag.time.max.ms in SETTINGS
OUT = Path(__file__).parent / ".out" / "web-view"

cluster, logs_on_failure = cluster_fixtures("web", 6, 2, SETTINGS, log_lines=40)


def browser():
    chromium = shutil.which("chromium")
    driver = shutil.which("chromedriver")
    assert chromium and driver, "chromium and chromium-driver (Debian) are not installed"
    options = Options()
    for arg in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1400,1000"]:
        options.add_argument(arg)
    options.binary_location = chromium
    return webdriver.Chrome(service=Service(driver), options=options)


def page_table(d):
    """[(row label, [[(cell label, state)] per position])] as the page draws it."""
    return d.execute_script("""
        return [...document.querySelectorAll('#layout tr')].slice(1).map(tr => [
          tr.cells[0].textContent,
          [...tr.cells].slice(1).map(td => [...td.querySelectorAll('.chip')].map(
            c => [c.textContent, c.dataset.state]))]);""")


def cli_table(cluster, topic):
    layout = json.loads(skein("topic", "describe", topic, "--layout", "--format", "json",
                              "--bootstrap", cluster.bootstrap).stdout)

    def state(cell, position):
        if cell["offline"]:
            return "offline"
        if not cell["in_sync"]:
            return "out-of-sync"
        return "leader" if position == 0 or cell["moved_leader"] else "in-sync"

    return [[row["label"], [[[c["label"], state(c, i)] for c in cells]
                            for i, cells in enumerate([row["leaders"], *row["followers"]])]]
            for row in layout["rows"]]


def test_the_page_draws_the_decks_table_and_follows_a_follower_crash(cluster):
    OUT.mkdir(parents=True, exist_ok=True)
    topic = create_invoice(cluster)
    follower = next(r for p in describe(cluster, topic) for r in p["replicas"][1:] if r != 0)
    d = browser()
    try:
        d.get(f"http://{cluster.node(0)['http']}/#{topic}")
        wait_until(lambda: page_table(d) == cli_table(cluster, topic), timeout=15,
                   what="the page's table equal to topic describe --layout")
        d.save_screenshot(str(OUT / "1-in-sync.png"))

        kill9(cluster, follower)
        killed = time.monotonic()

        def follower_out():
            rows = {label: cells for label, cells in page_table(d)}
            mine = [c for label, cells in rows.items() if label.endswith(f"B{follower} (absent)")
                    or label.endswith(f"-B{follower}") for pos in cells for c in pos]
            return mine and all(state == "out-of-sync" for _, state in mine)

        # Fenced after broker.session.timeout.ms (4 s here, like replica.lag.time.max.ms).
        wait_until(follower_out, timeout=LAG_MS / 1000 + 2 + 1,
                   what=f"broker {follower}'s cells out of sync")
        assert time.monotonic() - killed <= LAG_MS / 1000 + 3
        events = d.execute_script(
            "return [...document.querySelectorAll('#events div')].map(e => e.dataset.kind)")
        assert "isr_shrink" in events and "broker_fenced" in events
        assert page_table(d) == cli_table(cluster, topic)
        d.save_screenshot(str(OUT / "2-follower-killed.png"))

        cluster.restart(follower)
        wait_until(lambda: fully_in_sync(cluster, topic), timeout=60, what="back in sync")
        wait_until(lambda: not any(s == "out-of-sync" for _, cells in page_table(d)
                                   for pos in cells for _, s in pos),
                   timeout=10, what="every cell in sync again")
        wait_until(lambda: page_table(d) == cli_table(cluster, topic), timeout=10,
                   what="the table equal to the CLI's again")
        d.save_screenshot(str(OUT / "3-rejoined.png"))
    finally:
        d.quit()
