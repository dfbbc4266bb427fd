"""The rendered book as a reader sees it: every page of the smoke build, opened in headless
Chromium (Debian's chromium with its chromedriver, driven by Selenium; `make test` installs
them) from a local server, with every other host unreachable, so that what the page needs
must come with the book (MathJax included).

Per page: no JavaScript error and no missing resource, every image loaded, the equations
typeset (no raw LaTeX left in the visible text), no stderr, warning or traceback in the cell
outputs, every table and figure the executed notebook holds shown, the Colab button pointing
at the chapter's notebook in _config.yml's repository, and nothing wider than the page. A
full-page screenshot of each page lands in <build>/screenshots for a person to look at.
"""

from __future__ import annotations

import base64
import contextlib
import http.server
import re
import shutil
import subprocess
import threading
from pathlib import Path
from urllib.parse import urlparse

import nbformat
import pytest
import yaml

from bookkit import toc
from bookkit.toc import ROOT

PAGES = toc.toc_pages()
WIDTH, HEIGHT = 1280, 900  # a laptop's browser window, in CSS pixels
# myst-nb renders the first of these an output holds (its default for HTML)
MIME_ORDER = ("text/html", "image/svg+xml", "image/png", "image/jpeg", "text/markdown")
# LaTeX a reader should never see: \[ \] \( \) $$ and commands such as \min or \|
RAW_LATEX = re.compile(r"\\[\[\]()|{}]|\$\$|\\[A-Za-z]{2,}")
# what Python warnings, absl/TensorFlow logs and tracebacks print
LOG_NOISE = re.compile(
    r"\b[A-Z][A-Za-z]*Warning\b|\bWARNING\b|^[WEF]\d{4} |[Rr]etracing|Traceback \(most recent",
    re.M,
)


class _Site(http.server.ThreadingHTTPServer):
    """The built HTML over http://127.0.0.1 (fonts and fetches are blocked on file://)."""

    def __init__(self, folder: Path):
        self.missing: list[str] = []
        site = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=str(folder), **kwargs)

            def send_error(self, code, message=None, explain=None):
                if code == 404 and not self.path.startswith("/favicon.ico"):
                    site.missing.append(self.path)
                super().send_error(code, message, explain)

            def log_message(self, *args):  # quiet
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server_address[1]}/"


@pytest.fixture(scope="module")
def site(built_book):
    html = built_book / "_build" / "html"
    assert (html / "index.html").exists(), f"no HTML book in {html}"
    server = _Site(html)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _tools() -> tuple[str, str]:
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver):
        pytest.fail(
            "the browser test needs Debian's chromium and chromedriver on PATH: "
            "`make test` installs them as root (apt-get install chromium chromium-driver)"
        )
    return chromium, driver


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium that reaches 127.0.0.1 only, logging the console of each page."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, driver = _tools()
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root
        "--disable-dev-shm-usage",
        f"--window-size={WIDTH},{HEIGHT}",
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",  # no network
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=driver, log_output=subprocess.DEVNULL)
    chrome = webdriver.Chrome(options=options, service=service)
    chrome.set_page_load_timeout(60)
    # errors thrown by the page's scripts, and resources that failed, from the first script on
    chrome.execute_cdp_cmd(
        "Page.addScriptToEvaluateOnNewDocument",
        {
            "source": "window.__errors = [];"
            "addEventListener('error', e => __errors.push(e.message ||"
            " 'failed to load ' + (e.target && (e.target.src || e.target.href))), true);"
            "addEventListener('unhandledrejection', e => __errors.push('rejected: ' + e.reason));"
        },
    )
    yield chrome
    chrome.quit()


@pytest.mark.book
def test_navigation_lists_every_page_of_the_toc(site, browser):
    """The pages tested below are _toc.yml's; the book's own navigation shows no other."""
    from selenium.webdriver.support.ui import WebDriverWait

    _load(browser, site.url + "index.html")  # sends the reader on to the root page
    root = site.url + f"{PAGES[0]}.html"
    WebDriverWait(browser, 10).until(lambda b: b.current_url.split("#")[0] == root)
    hrefs = browser.execute_script(
        "return Array.from(document.querySelectorAll('nav.bd-docs-nav a.reference.internal'))"
        ".map(a => a.href)"
    )
    shown = [urlparse(h).path.lstrip("/").removesuffix(".html") for h in hrefs]
    assert shown == PAGES, f"the navigation shows {shown}, _toc.yml lists {PAGES}"


def _load(browser, url: str) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get_log("browser")  # drop the previous page's console
    browser.get(url)
    WebDriverWait(browser, 30).until(
        lambda b: b.execute_script("return document.readyState") == "complete"
    )


def _typeset(browser) -> str | None:
    """Wait for MathJax on a page with equations; None when done, else what went wrong."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    if not browser.execute_script("return document.querySelector('.math') !== null"):
        return None
    try:
        WebDriverWait(browser, 30).until(
            lambda b: b.execute_script("return !!(window.MathJax && MathJax.startup)")
        )
    except TimeoutException:
        scripts = browser.execute_script(
            "return Array.from(document.scripts).map(s => s.src).filter(s => /mathjax/i.test(s))"
        )
        return f"MathJax did not load within 30 s (scripts: {scripts})"
    return browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "MathJax.startup.promise.then(() => done(null), e => done('MathJax failed: ' + e));"
    )


def _images_loaded(browser) -> list[str]:
    """The images that did not load, after asking lazy ones to load now."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    broken = (
        "return Array.from(document.images)"
        ".filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.currentSrc || i.src)"
    )
    browser.execute_script("document.querySelectorAll('img').forEach(i => i.loading = 'eager')")
    with contextlib.suppress(TimeoutException):
        WebDriverWait(browser, 20).until(lambda b: not b.execute_script(broken))
    return browser.execute_script(broken)


def _screenshot(browser, path: Path) -> None:
    """The whole page, laid out in a window as tall as the page (fixed parts stay in place)."""
    height = browser.execute_script("return document.documentElement.scrollHeight")
    metrics = {"width": WIDTH, "height": height, "deviceScaleFactor": 1, "mobile": False}
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    try:
        shot = browser.execute_cdp_cmd("Page.captureScreenshot", {"format": "png"})
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    path.write_bytes(base64.b64decode(shot["data"]))


def _expected_outputs(notebook: Path) -> tuple[int, int]:
    """The tables and figures an executed notebook shows: (tables, images)."""
    nb = nbformat.read(notebook, as_version=4)
    tables = images = 0
    for cell in nb.cells:
        tags = set(cell.metadata.get("tags", []))
        if cell.cell_type != "code" or tags & {"remove-cell", "remove-output"}:
            continue
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            mime = next((m for m in MIME_ORDER if m in data), None)
            if mime == "text/html":
                tables += "".join(data[mime]).count("<table")
            elif mime and mime.startswith("image/"):
                images += 1
    return tables, images


def _colab_url(page: str) -> str:
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    repo = config["repository"]
    owner_repo = urlparse(repo["url"]).path.strip("/")
    colab = config["launch_buttons"]["colab_url"].rstrip("/")
    path = "/".join(p for p in (repo.get("path_to_book", "").strip("/"), page) if p)
    return f"{colab}/github/{owner_repo}/blob/{repo['branch']}/{path}.ipynb"


# The page's visible text outside code, math and scripts.
PROSE = """
const clone = (document.querySelector('main') || document.body).cloneNode(true);
clone.querySelectorAll('pre, code, script, style, mjx-container, .math')
     .forEach(e => e.remove());
return clone.textContent;
"""
# Unrendered math: a .math element MathJax left as text, or an error it typeset.
UNRENDERED = """
const bad = Array.from(document.querySelectorAll('.math'))
  .filter(e => !e.querySelector('mjx-container')).map(e => e.textContent.slice(0, 80));
document.querySelectorAll('mjx-merror').forEach(e => bad.push('error: ' + e.textContent));
return bad;
"""
# Cell outputs a reader should not see: stderr streams, tracebacks, and their text.
OUTPUTS = """
const outs = Array.from(document.querySelectorAll('.cell_output'));
return {
  stderr: outs.flatMap(o => Array.from(o.querySelectorAll('.stderr, .traceback, .error')))
              .map(e => e.textContent.slice(0, 200)),
  text: outs.map(o => o.innerText).join('\\n'),
  tables: outs.flatMap(o => Array.from(o.querySelectorAll('table')))
              .map(t => t.querySelectorAll('tr').length),
  images: outs.reduce((n, o) => n + o.querySelectorAll('img').length, 0),
};
"""
# Elements wider than their box: the page itself, code in and out of cells, and every
# table and figure against the content column.
OVERFLOW = """
const bad = [];
const doc = document.documentElement;
if (doc.scrollWidth > doc.clientWidth + 1)
  bad.push(`page: ${doc.scrollWidth} > ${doc.clientWidth}`);
document.querySelectorAll('main pre, .cell_output').forEach(e => {
  if (e.scrollWidth > e.clientWidth + 1)
    bad.push(`${e.tagName.toLowerCase()}.${e.className}: ${e.scrollWidth} > ${e.clientWidth}` +
             ` (${e.textContent.trim().split('\\n')[0].slice(0, 60)})`);
});
// a table or figure wider than the content column, even inside a box that scrolls
// (measured against the output box it sits in, which is the text column's width: the
// article itself can be wider than the column a reader sees)
const column = document.querySelector('main article') || document.querySelector('main');
document.querySelectorAll('main table, main .cell_output img').forEach(e => {
  const box = e.closest('.cell_output') || column;
  const room = Math.min(box.clientWidth || Infinity, column.getBoundingClientRect().width);
  const wide = Math.max(e.scrollWidth, e.getBoundingClientRect().width);
  if (wide > room + 1)
    bad.push(`${e.tagName.toLowerCase()} wider than the column: ${Math.round(wide)} > ` +
             `${Math.round(room)} (${(e.innerText || e.alt || '').trim().slice(0, 60)})`);
});
return bad;
"""


@pytest.mark.book
@pytest.mark.parametrize("page", PAGES)
def test_page_reads_in_a_browser(page, built_book, site, browser, screenshots):
    html = built_book / "_build" / "html"
    assert (html / f"{page}.html").exists(), f"{page} is in _toc.yml but was not built"
    site.missing.clear()
    _load(browser, site.url + f"{page}.html")
    problems = []
    failed_math = _typeset(browser)
    if failed_math:
        problems.append(failed_math)
    mathjax = browser.execute_script(
        "return Array.from(document.scripts).map(s => s.src).filter(s => /mathjax/i.test(s))"
    )
    problems += [f"MathJax fetched from elsewhere: {s}" for s in mathjax if site.url not in s]
    problems += [f"image did not load: {src}" for src in _images_loaded(browser)]
    _screenshot(browser, screenshots / f"{page.replace('/', '__')}.png")

    errors = browser.execute_script("return window.__errors")
    errors += [
        e["message"]
        for e in browser.get_log("browser")
        if e["level"] == "SEVERE" and "/favicon.ico " not in e["message"]  # the book has none
    ]
    problems += [f"JavaScript or loading error: {e}" for e in errors]
    problems += [f"not found on the server: {p}" for p in site.missing]
    problems += [f"unrendered math: {m}" for m in browser.execute_script(UNRENDERED)]
    raw = RAW_LATEX.findall(browser.execute_script(PROSE))
    if raw:
        problems.append(f"raw LaTeX in the visible text: {sorted(set(raw))}")
    problems += [f"wider than the page: {o}" for o in browser.execute_script(OVERFLOW)]

    outputs = browser.execute_script(OUTPUTS)
    problems += [f"stderr or error in a cell output: {t!r}" for t in outputs["stderr"]]
    noise = sorted(set(LOG_NOISE.findall(outputs["text"])))
    if noise:
        problems.append(f"warnings or logs in the cell outputs: {noise}")

    notebook = built_book / "source" / f"{page}.ipynb"
    if notebook.exists():
        tables, images = _expected_outputs(notebook)
        if not tables + images:
            problems.append("a chapter with neither a table nor a figure in its outputs")
        if len(outputs["tables"]) < tables:
            problems.append(f"{len(outputs['tables'])} tables shown, the notebook has {tables}")
        problems += ["an empty table" for rows in outputs["tables"] if rows < 2]
        if outputs["images"] < images:
            problems.append(f"{outputs['images']} figures shown, the notebook has {images}")
        links = browser.execute_script(
            "return Array.from(document.querySelectorAll('a')).map(a => a.href)"
            ".filter(h => h.includes('colab.research.google.com'))"
        )
        if _colab_url(page) not in links:
            problems.append(f"no Colab button to {_colab_url(page)} (found {links})")
    assert not problems, f"{page}:\n  " + "\n  ".join(problems)


@pytest.mark.parametrize(
    "text",
    [r"\[\min_r \ \|r\|_2\]", r"where \(x\) is", "$$x$$", r"the \frac{1}{2} rule", r"a \| b"],
)
def test_raw_latex_is_caught(text):
    assert RAW_LATEX.search(text)


@pytest.mark.parametrize("text", ["pixels in [0, 1] (shown clipped)", "C = 0.5, σ = 1", "a|b"])
def test_prose_is_not_taken_for_latex(text):
    assert not RAW_LATEX.search(text)


@pytest.mark.parametrize(
    "text",
    [
        "/x.py:3: UserWarning: something",
        "WARNING:tensorflow:5 out of the last 5 calls to <function f> triggered tf.function "
        "retracing.",
        "W0000 00:00:1700000000.1 123 cuda_executor.cc:1] failed",
        "Traceback (most recent call last):",
    ],
)
def test_logs_in_outputs_are_caught(text):
    assert LOG_NOISE.search(text)


def test_the_expected_tables_and_figures_come_from_the_executed_notebook(tmp_path):
    nb = nbformat.v4.new_notebook()
    shown = nbformat.v4.new_code_cell("")
    shown.outputs = [
        nbformat.v4.new_output(
            "display_data", {"text/html": "<table></table><table></table>", "text/plain": "t"}
        ),
        nbformat.v4.new_output("display_data", {"image/png": "iVBOR", "text/plain": "<Figure>"}),
        nbformat.v4.new_output("stream", name="stdout", text="<table>"),
    ]
    removed = nbformat.v4.new_code_cell("", metadata={"tags": ["remove-output"]})
    removed.outputs = [nbformat.v4.new_output("display_data", {"image/png": "iVBOR"})]
    nb.cells = [shown, removed]
    nbformat.write(nb, tmp_path / "c.ipynb")
    assert _expected_outputs(tmp_path / "c.ipynb") == (2, 1)


def test_the_colab_button_is_expected_at_the_configured_repository():
    url = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
    owner_repo = urlparse(url).path.strip("/")
    assert _colab_url("book/01_framework") == (
        f"https://colab.research.google.com/github/{owner_repo}/blob/main/book/01_framework.ipynb"
    )
