#!/usr/bin/env python3
"""fake_node.py: a stand-in sigchain node with canned answers, for testing the bash clients alone.

Takes the node's flags (--port, --host, --data-dir; --port 0 picks a free
port, written to $FAKE_PORTFILE; the pid goes to $FAKE_PIDFILE). Every request is appended as one JSON line
to $FAKE_REQLOG (or DATA_DIR/requests.log). Behaviour switches (environment):
FAKE_FAIL_START (exit at once), FAKE_HANG (never listen), FAKE_IGNORE_TERM,
FAKE_MINE_SLEEP (seconds), FAKE_SECRET_FORBIDDEN (403 on /secret).
Signatures "bad" and "replay" get 401 and 409.
"""
import json
import os
import signal
import sys
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

port, host, data_dir, join_through, public_url = 0, "127.0.0.1", None, None, None
args = sys.argv[1:]
for i, a in enumerate(args[:-1]):
    if a == "--port":
        port = int(args[i + 1])
    elif a == "--host":
        host = args[i + 1]
    elif a == "--data-dir":
        data_dir = args[i + 1]
    elif a == "--peer":
        join_through = args[i + 1]
    elif a == "--public-url":
        public_url = args[i + 1]
if os.environ.get("FAKE_FAIL_START"):
    print("error: cannot open the data directory (fake failure)", file=sys.stderr)
    sys.exit(1)
if os.environ.get("FAKE_HANG"):
    time.sleep(600)
if os.environ.get("FAKE_IGNORE_TERM"):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
reqlog = os.environ.get("FAKE_REQLOG") or (os.path.join(data_dir, "requests.log") if data_dir else None)
address = "LS0tLS1CRUdJTiBQVUJMSUMgS0VZLS0tLS0K+/fake=" + str(port)
peers = []
GENESIS = '{"chain": [{"index": 1, "previous_hash": 1, "proof": 1, "timestamp": 0.0, "transactions": []}], "length": 1}'


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *_):
        pass

    def answer(self, code, obj=None, raw=None):
        body = (raw if raw is not None else json.dumps(obj)).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def record(self, body):
        if reqlog:
            with open(reqlog, "a") as f:
                f.write(json.dumps({"method": self.command, "path": self.path, "body": body,
                                    "content_type": self.headers.get("Content-Type")}) + "\n")

    def do_GET(self):
        self.record(None)
        url = urllib.parse.urlparse(self.path)
        p = url.path
        if p == "/health":
            return self.answer(200, {"status": "ok", "length": 1, "tip": "ab" * 32, "peers": len(peers)})
        if p == "/chain":
            return self.answer(200, raw=GENESIS)
        if p == "/transactions":
            return self.answer(200, {"transactions": [], "length": 0})
        if p == "/mine":
            time.sleep(float(os.environ.get("FAKE_MINE_SLEEP", "0")))
            return self.answer(200, {"message": "New Block Created", "index": 2, "proof": 35293,
                                     "transactions": [{"sender": "0", "recipient": address, "amount": 1}],
                                     "previous_hash": "ab" * 32})
        if p == "/nodes":
            return self.answer(200, {"nodes": peers, "length": len(peers)})
        if p == "/nodes/resolve":
            return self.answer(200, {"message": "Our chain is authoritative", "chain": [], "peers": []})
        if p == "/secret":
            if os.environ.get("FAKE_SECRET_FORBIDDEN"):
                return self.answer(403, {"error": "the secret is only given to loopback callers"})
            return self.answer(200, raw='{"secret": "U0VDUkVU+\\/sec=="}')
        if p == "/wallet":
            return self.answer(200, {"address": address, "balance": 3, "pending": 3})
        if p == "/balance":
            q = urllib.parse.parse_qs(url.query)
            if "address" not in q:
                return self.answer(400, {"error": "missing address"})
            return self.answer(200, {"address": q["address"][0], "balance": 7, "pending": 5})
        if p == "/boom":
            return self.answer(500, raw="Internal Server Error\nsecond line")
        return self.answer(404, {"error": f"no such endpoint: {p}"})

    def do_POST(self):
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode("utf-8", "replace")
        self.record(raw)
        try:
            body = json.loads(raw)
        except ValueError as e:
            return self.answer(400, {"error": f"body is not JSON: {e}"})
        if self.path == "/transactions/new":
            for k in ("sender", "recipient", "amount", "signature"):
                if k not in body:
                    return self.answer(400, {"error": f"missing field {k}"})
            if body["signature"] == "bad":
                return self.answer(401, {"error": "signature does not verify for this sender and message"})
            if body["signature"] == "replay":
                return self.answer(409, {"error": "replay: \"this\" signature\nis already known"})
            return self.answer(201, {"message": "Transaction will be added to Block 2"})
        if self.path == "/register_node":
            joining = body.get("node_address")
            if not isinstance(joining, str):
                return self.answer(400, {"error": "node_address must be given"})
            others = [n for n in peers if n != joining]
            if joining not in peers:
                peers.append(joining)
            return self.answer(200, {"message": f"{joining} was registered", "length": 1,
                                     "tip": "ab" * 32, "nodes": others})
        if self.path == "/register_with":
            known = body.get("node_address")
            if not isinstance(known, str):
                return self.answer(400, {"error": "node_address must be given"})
            peers.append(known)
            return self.answer(200, {"message": f"Joined the network through {known}", "total_nodes": peers})
        if self.path == "/nodes/register":
            if not isinstance(body.get("nodes"), list):
                return self.answer(400, {"error": "Please supply a valid list of nodes"})
            for n in body["nodes"]:
                if " " in n:
                    return self.answer(400, {"error": f"invalid node address: {n}"})
                peers.append(n)
            return self.answer(201, {"message": "New nodes have been added", "total_nodes": peers})
        return self.answer(404, {"error": "no such endpoint"})


server = ThreadingHTTPServer((host, port), Handler)
if os.environ.get("FAKE_PIDFILE"):
    # Our own pid: the python3 on PATH may be a wrapper that forks.
    with open(os.environ["FAKE_PIDFILE"], "w") as f:
        f.write(str(os.getpid()))
if os.environ.get("FAKE_PORTFILE"):
    with open(os.environ["FAKE_PORTFILE"], "w") as f:
        f.write(str(server.server_address[1]))
print(f"listening on {host}:{server.server_address[1]}", flush=True)


def join(known, me):
    """As the node does with --peer: register with the known node, then with its peers."""
    import urllib.request

    def register(url):
        request = urllib.request.Request(url + "/register_node", data=json.dumps({"node_address": me}).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=5) as answer:
            return json.loads(answer.read())

    try:
        answer = register(known)
        for n in [known] + answer.get("nodes", []):
            if n not in peers:
                peers.append(n)
            if n != known:
                register(n)
    except Exception as e:  # noqa: BLE001 - a failed join is logged, as the node does
        print(f"could not join through {known}: {e}", file=sys.stderr)


if join_through and public_url:
    import threading

    threading.Thread(target=join, args=(join_through, public_url), daemon=True).start()
server.serve_forever()
