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

from confluent_kafka import Consumer

from cluster_helpers import cluster_fixtures, create_in_sync, describe, skein, wait_until
from helpers import produce_sync, unique, poll_count
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


def leaders_in(d, table):
    """{partition: leading broker} as a drawn table of the page shows it."""
    return {int(p): int(b) for p, b in d.execute_script(f"""
        return [...document.querySelectorAll('#{table} .chip[data-state=leader]')].map(
          c => [c.dataset.partition, c.closest('tr').dataset.broker]);""")}


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

        # Every replica's log end offset, from each partition's leader, on node 0's page.
        produce_sync(cluster.bootstrap, topic, [(b"k%d" % i, b"v", None, None) for i in range(50)])
        wait_until(lambda: d.execute_script("""
            const rows = [...document.querySelectorAll('#partitions tr[data-partition]')];
            return rows.length === 10 && rows.every(r => (r.cells[6].textContent.match(/B\\d+: /g)
              || []).length === 3) && rows.reduce((n, r) => n + Number(r.cells[5].textContent), 0)
              === 50;"""), timeout=15, what="HW and every replica's LEO on the page")
        # The brokers panel says what `skein cluster status` says.
        status, _ = cluster.status_json()
        cli = {b["id"]: [b["leaders"], b["replicas"]] for b in status["brokers"]}
        page = {int(b): [int(x), int(y)] for b, x, y in d.execute_script("""
            return [...document.querySelectorAll('#brokers tr[data-broker]')].map(
              r => [r.dataset.broker, r.cells[4].textContent, r.cells[5].textContent]);""")}
        assert page == cli

        # What if the follower fails: the page predicts where leadership goes ...
        d.execute_script(f"document.querySelector('#fail-boxes input[value=\"{follower}\"]')"
                         ".click()")
        wait_until(lambda: d.execute_script(
            "return document.querySelectorAll('#whatif tr').length") == 7, timeout=10,
            what="the what-if table")
        predicted = leaders_in(d, "whatif")
        assert len(predicted) == 10 and follower not in predicted.values()
        assert f"B{follower} (absent)" in d.find_element("id", "whatif").text

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
        # ... and that is where it went.
        wait_until(lambda: leaders_in(d, "layout") == predicted, timeout=5,
                   what="leaders where the what-if said")
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


def test_groups_panel_shows_lag(cluster):
    topic = create_in_sync(cluster, "grp", 3, 3)
    produce_sync(cluster.bootstrap, topic, [(b"k%d" % i, b"v", None, None) for i in range(30)])
    group = unique("page")
    consumer = Consumer({"bootstrap.servers": cluster.bootstrap, "group.id": group,
                         "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    got = poll_count(consumer, 30, timeout=60, poll_s=1)
    assert got == 30
    consumer.close()  # commits what it read
    produce_sync(cluster.bootstrap, topic, [(b"n%d" % i, b"v", None, None) for i in range(7)])
    d = browser()
    try:
        d.get(f"http://{cluster.node(3)['http']}/#{topic}")

        def row():
            return d.execute_script(f"""
                const r = document.querySelector('#groups tr[data-group="{group}"]');
                return r && [...r.cells].map(c => c.textContent);""")
        wait_until(lambda: (r := row()) and r[4] == "7", timeout=20, what="the group's lag 7")
        r = row()
        assert r[1] == "Empty" and r[3] == "0"
        assert sum(int(x.rsplit(": ", 1)[1]) for x in r[5].split("  ") if x) == 7
    finally:
        d.quit()


def test_readable_at_60_brokers_and_1000_partitions(cluster):
    """The placement explainer's table for 60 brokers in 3 racks and 1,000 partitions at RF 3
    (the page's own drawing, fed by /v1/placement): every row on one line, no horizontal
    scrolling, every chip at least 8 px and drawn within a second."""
    OUT.mkdir(parents=True, exist_ok=True)
    brokers = ",".join(f"{i}:R{i % 3 + 1}" for i in range(60))
    d = browser()
    try:
        d.get(f"http://{cluster.node(0)['http']}/")
        wait_until(lambda: d.execute_script("return document.body.dataset.updated"), timeout=15,
                   what="the page drawn")
        d.execute_script(f"""
            document.getElementById('plan-brokers').value = '{brokers}';
            document.getElementById('plan-partitions').value = '1000';
            document.getElementById('plan-fail').value = '0,1';
            window.started = performance.now();
            document.getElementById('plan-form').requestSubmit();""")
        wait_until(lambda: d.execute_script("return document.body.dataset.planned"), timeout=15,
                   what="the plan drawn")
        m = d.execute_script("""
            const t = document.getElementById('plan');
            const rows = [...t.querySelectorAll('tr[data-broker]')];
            const chips = [...t.querySelectorAll('.chip')];
            const sizes = chips.map(c => c.getBoundingClientRect());
            return {rows: rows.length, chips: chips.length,
                    tallest: Math.max(...rows.map(r => r.getBoundingClientRect().height)),
                    overflow: t.scrollWidth - t.parentElement.clientWidth,
                    smallest: Math.min(...sizes.map(r => Math.min(r.width, r.height))),
                    ms: performance.now() - window.started,
                    compact: t.classList.contains('compact')};""")
        assert m["rows"] == 60 and m["chips"] == 3000, m
        assert m["compact"] and m["overflow"] <= 0 and m["tallest"] <= 30, m
        assert m["smallest"] >= 8 and m["ms"] < 1000, m
        absent = d.execute_script(
            "return [...document.querySelectorAll('#plan td.broker.absent')].length")
        assert absent == 2
        d.set_window_size(1400, 1800)
        d.execute_script("document.getElementById('plan').scrollIntoView()")
        d.save_screenshot(str(OUT / "4-60-brokers-1000-partitions.png"))
    finally:
        d.quit()
