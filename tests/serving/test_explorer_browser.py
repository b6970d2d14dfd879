"""The forecast explorer page in a real headless Chromium (Debian's `chromium` + `chromium-driver`,
which .ci/run installs), against real server + gateway processes serving the trained models: the
page loads plotly.js from the gateway, draws the history, the forecast and its interval with the
numbers `/forecast` returns, shows the store and the model, and explains refusals. A screenshot
is kept as a test artefact (in the test's tmp dir, path printed)."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import httpx
import pytest

from tests.serving import processes as procs

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
if CHROMIUM is None or CHROMEDRIVER is None:  # pragma: no cover - .ci/run installs both
    pytest.skip("needs Debian's chromium and chromium-driver (apt-get install -y chromium "
                "chromium-driver; .ci/run does)", allow_module_level=True)
webdriver = pytest.importorskip("selenium.webdriver")
ARTEFACTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results"


@pytest.fixture(scope="module")
def page_stack(served_model, tmp_path_factory):
    with procs.server_and_gateway(served_model.workspace, tmp_path_factory.mktemp("page_logs"),
                                  "--metrics-port", "0") as stack:
        yield stack


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    opts = Options()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", "--window-size=1400,1000",
                f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        opts.add_argument(arg)
    log = tmp_path_factory.mktemp("chromedriver") / "chromedriver.log"
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER, log_output=str(log)), options=opts)
    driver.set_page_load_timeout(120)
    try:
        yield driver
    finally:
        driver.quit()


def wait_for(driver, script: str, timeout: float = 90.0):
    """Poll a JS expression until it is truthy (generous deadline; no fixed sleeps)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = driver.execute_script(f"return {script}")
        if result:
            return result
        time.sleep(0.2)
    raise TimeoutError(f"page never satisfied {script!r}; page text:\n"
                       f"{driver.find_element('tag name', 'body').text}")


TRACES = """(() => {
  const gd = document.getElementById('chart');
  return gd.data.map(t => ({name: t.name, x: Array.from(t.x), y: Array.from(t.y),
                            fill: t.fill || null}));
})()"""


def test_explorer_draws_history_forecast_and_band(page_stack, served_model, browser,
                                                  tmp_path) -> None:
    base = page_stack["http"]
    store = int(sorted(served_model.stores)[2])
    browser.get(f"{base}/?store={store}&model=tree&history=182&days=42")
    assert wait_for(browser, "document.getElementById('chart').dataset.ready !== '0' && "
                             "document.getElementById('chart').dataset.ready") == "1"
    expected = httpx.get(f"{base}/forecast", timeout=30,
                         params={"store": store, "days": 42, "model": "tree"}).json()
    traces = {t["name"]: t for t in browser.execute_script(f"return {TRACES}")}
    history = traces["history"]
    assert history["x"] == [d["Date"] for d in expected["history"]]
    assert history["y"] == pytest.approx([d["Sales"] for d in expected["history"]])
    (forecast_name,) = [n for n in traces if n.startswith("forecast")]
    assert expected["version"] in forecast_name
    forecast = traces[forecast_name]
    assert forecast["x"] == [d["Date"] for d in expected["forecast"]]
    assert forecast["y"] == pytest.approx([d["Sales"] for d in expected["forecast"]])
    band = traces["80% interval"]  # lower edge filled up to the upper edge
    assert band["fill"] == "tonexty"
    assert band["y"] == pytest.approx([d["lower"] for d in expected["forecast"]])
    assert traces["interval upper"]["y"] == pytest.approx([d["upper"] for d in
                                                           expected["forecast"]])
    n_closed = sum(1 for d in expected["history"] + expected["forecast"] if not d["Open"])
    assert len(traces["closed"]["x"]) == n_closed > 0
    assert len(traces["promo"]["x"]) == sum(
        d["Promo"] for d in expected["history"] + expected["forecast"]) > 0
    # drawn, not only handed to plotly: one SVG path per line trace, the band filled
    n_paths = browser.execute_script(
        "return document.querySelectorAll('#chart .scatterlayer .trace .js-line').length")
    assert n_paths >= 3
    assert browser.execute_script(
        "return document.querySelectorAll('#chart .scatterlayer .js-fill').length") >= 1
    body = browser.find_element("tag name", "body").text
    assert f"store\n{store}" in body.replace("\t", "\n") or f"store {store}" in body
    assert expected["version"] in body
    assert "RMSPE" in body and ("test.csv" in body or "calendar rules" in body)
    assert browser.find_element("id", "metrics-link").is_displayed()  # no token: /metrics works
    shot = tmp_path / "explorer.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(shot, ARTEFACTS / "explorer.png")
    print(f"screenshot: {ARTEFACTS / 'explorer.png'}")  # noqa: T201


def test_explorer_explains_an_unknown_store(page_stack, browser) -> None:
    browser.get(f"{page_stack['http']}/explorer?store=99999&model=tree")
    assert wait_for(browser, "document.getElementById('chart').dataset.ready === 'error'")
    error = browser.find_element("id", "error").text
    assert "404" in error and "unknown store 99999" in error


def test_explorer_asks_for_the_gateway_token(served_model, browser, tmp_path_factory) -> None:
    """With a REST token the page itself loads, its data calls get 401, the page asks for the
    token and, once given, draws the same forecast an authorised client gets."""
    from grpc_server.security import AUTH_TOKEN_ENV

    logs = tmp_path_factory.mktemp("token_page_logs")
    server, gport = procs.start_server(served_model.workspace, logs / "server.log")
    gateway = None
    try:
        procs.wait_serving(server, gport, logs / "server.log")
        gateway, hport = procs.start_gateway(gport, logs / "gateway.log",
                                             env={AUTH_TOKEN_ENV: "page-token"})
        procs.wait_http(gateway, hport, logs / "gateway.log")
        base = f"http://127.0.0.1:{hport}"
        store = int(sorted(served_model.stores)[1])
        query = {"store": store, "days": 14, "model": "tree"}
        assert httpx.get(f"{base}/", timeout=30).status_code == 200  # the HTML shell only
        assert httpx.get(f"{base}/forecast", params=query, timeout=30).status_code == 401
        assert httpx.get(f"{base}/stores", timeout=30).status_code == 401

        browser.get(f"{base}/?store={store}&model=tree&history=91&days=14")
        wait_for(browser, "document.getElementById('chart').dataset.ready === 'error' && "
                          "!document.getElementById('auth').hidden")
        assert "401" in browser.find_element("id", "error").text
        browser.find_element("id", "token").send_keys("page-token")
        browser.find_element("css selector", "#auth button").click()
        assert wait_for(browser, "document.getElementById('chart').dataset.ready === '1'")
        assert browser.execute_script("return document.getElementById('auth').hidden")
        assert not browser.find_element("id", "metrics-link").is_displayed()  # would be 401
        assert "page-token" not in browser.current_url
        expected = httpx.get(f"{base}/forecast", params=query, timeout=30,
                             headers={"Authorization": "Bearer page-token"}).json()
        traces = {t["name"]: t for t in browser.execute_script(f"return {TRACES}")}
        (forecast_name,) = [n for n in traces if n.startswith("forecast")]
        assert traces[forecast_name]["y"] == pytest.approx([d["Sales"] for d in
                                                            expected["forecast"]])
        assert expected["version"] in browser.find_element("tag name", "body").text
    finally:
        if gateway is not None:
            assert procs.stop(gateway) == 0, (logs / "gateway.log").read_text()
        assert procs.stop(server) == 0, (logs / "server.log").read_text()
