"""The built course site, opened page by page in a real browser.

Build the site first with `.venv/bin/python docs/build.py` (.ci/run does). The test serves docs/_build/html on
127.0.0.1, drives Debian's headless Chromium over the DevTools protocol (a websocket speaking JSON), and checks on
every page: no console errors, no request to another host, math typeset, every image loaded, every link within
the site answering 200 (and its #anchor existing). It also tries the search page and saves screenshots of the
home page and the first notebook in docs/_build/screenshots/.
"""
import functools, http.server, json, os, re, shutil, subprocess, threading, time, urllib.request
from base64 import b64decode
from pathlib import Path
from urllib.parse import unquote, urlsplit
import pytest

SITE = Path(__file__).resolve().parent.parent/'docs'/'_build'/'html'
SHOTS = SITE.parent/'screenshots'
CHROMIUM = os.environ.get('LEARNTORCH_CHROMIUM') or shutil.which('chromium') or '/usr/bin/chromium'
FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic',
         '--disable-component-update', '--disable-sync', '--no-first-run', '--remote-debugging-port=0']

pytestmark = pytest.mark.skipif(not (SITE/'index.html').is_file(),
                                reason=f'the site is not built ({SITE} missing): run .venv/bin/python docs/build.py')

def site_pages():
    "Every HTML page of the built site, as paths relative to its root."
    if not SITE.is_dir(): return ['index.html']   # a placeholder: the module is skipped anyway
    return sorted(p.relative_to(SITE).as_posix() for p in SITE.rglob('*.html')
                  if p.relative_to(SITE).parts[0] not in ('_static', '_sources'))

PAGES = site_pages()
NOTEBOOK = next((p for p in PAGES if re.match(r'\d\d_.*\.html$', p)), None)   # the first course notebook
SCREENSHOTS = {'index.html': 'home.png', NOTEBOOK: 'notebook.png'}


class BrowserUnavailable(Exception):
    "Chromium could not be started or driven; the message names the cause and the fix."


def connect(ws_url):
    """A websocket to one DevTools target. No Origin header is sent: Chromium accepts such clients, and rejects
    (403) an origin it was not told to allow with --remote-allow-origins, whatever its version."""
    import websocket   # the websocket-client package
    try:
        return websocket.create_connection(ws_url, timeout=60, suppress_origin=True)
    except (websocket.WebSocketException, OSError) as e:
        raise BrowserUnavailable(
            f'Chromium refused the DevTools connection to {ws_url}: {type(e).__name__}: {str(e)[:300]}. '
            'Fix: check that nothing else holds the port and that this Chromium speaks the DevTools protocol '
            f'(`{CHROMIUM} --version`); run the command in FLAGS by hand to see its own error.') from None


class Tab:
    "One browser tab, driven over the DevTools protocol: send a command, keep the events that arrive meanwhile."
    def __init__(self, ws_url):
        self.ws, self.last_id, self.events = connect(ws_url), 0, []

    def send(self, method, **params):
        self.last_id += 1
        self.ws.send(json.dumps({'id': self.last_id, 'method': method, 'params': params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get('id') == self.last_id:
                if 'error' in msg: raise RuntimeError(f'{method}: {msg["error"]}')
                return msg['result']
            self.events.append(msg)

    def wait_for(self, event, timeout=30):
        "Read messages until `event` arrives."
        end = time.time() + timeout
        while not any(e.get('method') == event for e in self.events):
            if time.time() > end: raise TimeoutError(f'no {event} within {timeout}s')
            self.events.append(json.loads(self.ws.recv()))

    def js(self, expression):
        "The value of a JavaScript expression in the page (awaited, if it is a promise)."
        r = self.send('Runtime.evaluate', expression=expression, awaitPromise=True, returnByValue=True)
        if 'exceptionDetails' in r: raise RuntimeError(f'{expression}: {r["exceptionDetails"]}')
        return r['result'].get('value')

    def open(self, url):
        "Load `url`, wait for it and its math, and return the events it caused."
        self.events = []
        self.send('Page.navigate', url=url)
        self.wait_for('Page.loadEventFired')
        self.js('window.MathJax?.startup?.promise ?? true')   # MathJax typesets after the load event
        return self.events


def start_browser(profile, chromium=CHROMIUM, timeout=60):
    "Start headless Chromium with its own profile folder; return the process and a Tab, or raise BrowserUnavailable."
    if not Path(chromium).is_file():
        raise BrowserUnavailable(f'{chromium} is missing. Fix: apt-get install chromium (as root; .ci/run does it)')
    log = profile/'chromium.log'
    with open(log, 'wb') as out:
        browser = subprocess.Popen([chromium, *FLAGS, f'--user-data-dir={profile}', 'about:blank'],
                                   stdout=subprocess.DEVNULL, stderr=out)
    try:
        port_file, end = profile/'DevToolsActivePort', time.time() + timeout   # Chromium writes its port here
        while not port_file.is_file() or not port_file.read_text().strip():
            if browser.poll() is not None or time.time() > end:
                why = f'exited with code {browser.returncode}' if browser.poll() is not None else \
                      f'did not open its DevTools port within {timeout}s'
                tail = log.read_text(errors='replace').strip().splitlines()[-5:]
                raise BrowserUnavailable(f'Chromium {why}. Its last words: {tail}. Fix: run `{chromium} '
                                         f'{" ".join(FLAGS)} about:blank` by hand to see the problem.')
            time.sleep(0.2)
        port = port_file.read_text().split()[0]
        new_tab = urllib.request.Request(f'http://127.0.0.1:{port}/json/new', method='PUT')
        try:
            with urllib.request.urlopen(new_tab, timeout=30) as r: ws_url = json.load(r)['webSocketDebuggerUrl']
        except OSError as e:
            raise BrowserUnavailable(f'Chromium refused to open a tab on port {port}: {e}') from None
        return browser, Tab(ws_url)
    except BaseException:
        browser.terminate(); browser.wait(30)
        raise


@pytest.fixture(scope='module')
def server():
    "The built site served over HTTP on 127.0.0.1 (a free port), for as long as the tests run."
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args): pass
    handler = functools.partial(Quiet, directory=str(SITE))
    httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f'http://127.0.0.1:{httpd.server_address[1]}'
    httpd.shutdown()

@pytest.fixture(scope='module')
def browser(tmp_path_factory):
    "A fresh headless Chromium's tab, or the BrowserUnavailable that says why there is none."
    try: process, tab = start_browser(tmp_path_factory.mktemp('chromium-profile'))
    except BrowserUnavailable as e:
        yield e
        return
    for domain in ('Page', 'Runtime', 'Log', 'Network'): tab.send(f'{domain}.enable')
    tab.send('Emulation.setDeviceMetricsOverride', width=1280, height=900, deviceScaleFactor=1, mobile=False)
    yield tab
    process.terminate()
    process.wait(30)

@pytest.fixture
def tab(browser):
    "The browser's tab; without a browser the page checks skip, and test_browser_starts alone fails, saying why."
    if isinstance(browser, BrowserUnavailable): pytest.skip('no browser: see test_browser_starts')
    return browser

def test_browser_starts(browser):
    "Chromium starts headless and answers over DevTools; otherwise this one test fails with the cause and the fix."
    if isinstance(browser, BrowserUnavailable): pytest.fail(str(browser), pytrace=False)
    assert 'HeadlessChrome' in browser.js('navigator.userAgent')

@functools.lru_cache(maxsize=None)
def fetch(url):
    "Status and text of a page of the site (cached: many pages share the same links)."
    try:
        with urllib.request.urlopen(url) as r: return r.status, r.read().decode('utf-8', 'replace')
    except urllib.error.HTTPError as e: return e.code, ''


@pytest.mark.parametrize('page', PAGES)
def test_page(tab, server, page):
    events = tab.open(f'{server}/{page}')
    # no console errors, no uncaught exceptions, no failed loads (Chromium logs those as errors too)
    errors = [f"{e['params']['entry']['text']} ({e['params']['entry'].get('url', '')})" for e in events
              if e['method'] == 'Log.entryAdded' and e['params']['entry']['level'] == 'error']
    errors += [str(e['params']['args']) for e in events
               if e['method'] == 'Runtime.consoleAPICalled' and e['params']['type'] == 'error']
    errors += [e['params']['exceptionDetails']['text'] for e in events if e['method'] == 'Runtime.exceptionThrown']
    assert not errors, f'console errors on {page}: {errors}'
    # nothing comes from another host: no CDN, no fonts, no trackers
    urls = [e['params']['request']['url'] for e in events if e['method'] == 'Network.requestWillBeSent']
    foreign = [u for u in urls if urlsplit(u).scheme in ('http', 'https') and not u.startswith(server + '/')]
    assert not foreign, f'{page} requested other hosts: {foreign}'
    # math is typeset: each math element holds MathJax's output, and no raw \( or \[ is left in the prose
    assert tab.js("[...document.querySelectorAll('.math')].every(m => m.querySelector('mjx-container'))")
    text = tab.js("(() => { const b = document.body.cloneNode(true);"
                  " b.querySelectorAll('pre, code, script, style').forEach(e => e.remove()); return b.innerText })()")
    assert '\\(' not in text and '\\[' not in text, f'raw LaTeX on {page}'
    # every image loaded (decode() fails for a broken one)
    broken = tab.js("Promise.all([...document.images].map(i => { i.loading = 'eager';"
                    " return i.decode().then(() => null, () => i.src) })).then(r => r.filter(Boolean))")
    assert not broken, f'broken images on {page}: {broken}'
    # every link within the site answers 200, and its #anchor exists in the target page
    hrefs = tab.js("[...document.querySelectorAll('a[href]')].map(a => a.href)")
    for href in {h for h in hrefs if h.startswith(server + '/')}:
        url, _, anchor = href.partition('#')
        status, html = fetch(url)
        assert status == 200, f'{page} links to {href}: HTTP {status}'
        if anchor and url.endswith('.html'):
            assert re.search(f'id="{re.escape(unquote(anchor))}"', html), f'{page} links to missing anchor {href}'
    if page in SCREENSHOTS:
        SHOTS.mkdir(exist_ok=True)
        (SHOTS/SCREENSHOTS[page]).write_bytes(b64decode(tab.send('Page.captureScreenshot', format='png')['data']))

def test_search(tab, server):
    "The search page finds the course's first notebook when asked for 'tensor'."
    tab.open(f'{server}/search.html?q=tensor')
    found = tab.js("new Promise(done => { let n = 0; const poll = () => {"   # until 'Search finished, found ...'
                   " if (document.querySelector('.search-summary')?.innerText || ++n > 100)"
                   "   done([...document.querySelectorAll('#search-results li a')].map(a => a.href));"
                   " else setTimeout(poll, 100) }; poll() })")
    assert found and any(NOTEBOOK in h for h in found), f'search for "tensor" found {found}'

def test_math_served_by_the_site(tab, server):
    "Some page has math (the home page does), and there MathJax 3, loaded from the site itself, typesets it."
    page = next((p for p in PAGES if 'class="math' in (SITE/p).read_text(encoding='utf-8')), None)
    assert page, 'no page of the site has math, so MathJax is never checked'
    tab.open(f'{server}/{page}')
    assert tab.js("MathJax.version").startswith('3.')
    assert tab.js("[...document.scripts].some(s => s.src.startsWith(location.origin + '/_static/mathjax/'))")
    assert tab.js("document.querySelectorAll('mjx-container').length") > 0


LESSONS = [p for p in PAGES if re.match(r'\d\d_.*\.html$', p)]

@pytest.mark.parametrize('page', LESSONS)
def test_lesson_page(tab, server, page):
    "A course notebook's page shows its figures, and its exercises with each solution folded away until asked for."
    tab.open(f'{server}/{page}')
    figures = tab.js("Promise.all([...document.querySelectorAll('.cell_output img')].map(i => i.decode()"
                     ".then(() => i.naturalWidth, () => 0))).then(w => w.filter(x => x > 0).length)")
    assert figures >= 2, f'{page} shows {figures} figures (at least 2)'
    assert tab.js("!!document.querySelector('section#exercises')"), f'{page} has no Exercises section'
    folded = tab.js("[...document.querySelectorAll('section#exercises details.hide')].map(d => d.open)")
    assert len(folded) >= 3 and not any(folded), f'{page}: solutions folded {folded} (at least 3, all closed)'
    toggle = tab.js("document.querySelector('section#exercises details.hide summary').innerText")
    assert 'Show the solution' in toggle
