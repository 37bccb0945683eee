"""The browser test's own launch path: when Chromium is missing, dies, or refuses the DevTools connection, the site
check fails once with a message naming the cause and the fix (never one traceback per page).

A fake Chromium (a small Python script) stands in for the real one: it writes the DevTools port file as Chromium
does, and serves a DevTools endpoint on 127.0.0.1 that answers `/json/new` but rejects the websocket with 403, as
Chromium does for an origin it was not told to allow."""
import http.server, json, os, subprocess, sys, textwrap, threading
from pathlib import Path

import pytest
from test_docs_site import SITE, BrowserUnavailable, connect, start_browser

REPO = Path(__file__).resolve().parents[1]


class Refusing(http.server.BaseHTTPRequestHandler):
    "A DevTools endpoint that hands out a tab but refuses every websocket handshake with 403 Forbidden."
    def do_PUT(self):
        body = json.dumps({'webSocketDebuggerUrl': f'ws://127.0.0.1:{self.server.server_port}/devtools/page/1'})
        self.send_response(200); self.send_header('Content-Type', 'application/json'); self.end_headers()
        self.wfile.write(body.encode())
    def do_GET(self):
        self.send_response(403); self.send_header('Content-Length', '9'); self.end_headers()
        self.wfile.write(b'Forbidden')
    def log_message(self, *args): pass


@pytest.fixture
def refusing_port():
    httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Refusing)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield httpd.server_port
    httpd.shutdown()


def fake_chromium(tmp_path, port):
    "An executable that behaves like Chromium up to the DevTools port file, then waits to be terminated."
    exe = tmp_path/'chromium'
    exe.write_text(textwrap.dedent(f'''\
        #!{sys.executable}
        import sys, time, pathlib
        profile = next(a.split('=', 1)[1] for a in sys.argv if a.startswith('--user-data-dir='))
        pathlib.Path(profile, 'DevToolsActivePort').write_text('{port}\\n/devtools/browser/x\\n')
        time.sleep(120)
        '''))
    exe.chmod(0o755)
    return exe


def test_refused_connection_names_cause_and_fix(refusing_port):
    with pytest.raises(BrowserUnavailable) as e:
        connect(f'ws://127.0.0.1:{refusing_port}/devtools/page/1')
    msg = str(e.value)
    assert 'Chromium refused the DevTools connection' in msg and '403' in msg and 'Fix:' in msg


def test_refused_connection_through_the_launch_path(tmp_path, refusing_port):
    "start_browser goes through the port file and /json/new, then reports the refusal and stops the browser."
    with pytest.raises(BrowserUnavailable, match='refused the DevTools connection.*403'):
        start_browser(tmp_path, chromium=str(fake_chromium(tmp_path, refusing_port)), timeout=20)


def test_missing_chromium(tmp_path):
    with pytest.raises(BrowserUnavailable, match='missing. Fix: apt-get install chromium'):
        start_browser(tmp_path, chromium=str(tmp_path/'no-such-chromium'))


def test_chromium_that_exits_at_once(tmp_path):
    with pytest.raises(BrowserUnavailable, match='Chromium exited with code 1.*Fix: run'):
        start_browser(tmp_path, chromium='/bin/false')


@pytest.mark.skipif(not (SITE/'index.html').is_file(), reason='the site is not built: run docs/build.py')
def test_site_check_fails_once(tmp_path, refusing_port):
    "With a refusing browser the whole site check gives one failure carrying the message; the page checks skip."
    env = dict(os.environ, LEARNTORCH_CHROMIUM=str(fake_chromium(tmp_path, refusing_port)))
    p = subprocess.run([sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider', '-rs',
                        'tests/test_docs_site.py'], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    out = p.stdout
    assert p.returncode == 1, out[-3000:]
    assert '1 failed' in out and 'error' not in out.splitlines()[-1], out[-3000:]
    assert 'Chromium refused the DevTools connection' in out, out[-3000:]
    assert 'Traceback' not in out, out[-3000:]
