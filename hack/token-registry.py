#!/usr/bin/env python3
"""A bearer-token front for a registry, for tests of the token flow (Python 3 stdlib only).

usage: token-registry.py LISTEN_PORT UPSTREAM USER:PASSWORD

Serves the distribution API on 127.0.0.1:LISTEN_PORT the way Docker Hub does:
  /v2/...     without `Authorization: Bearer <token>` → 401 with
              WWW-Authenticate: Bearer realm="http://127.0.0.1:PORT/token",service="liftoff-test",scope="repository:<repo>:pull"
  /token      GET: with correct basic credentials a user token, without credentials an anonymous
              token, with wrong ones 401. Answers {"token": …, "access_token": …}.
Repositories named `*/private*` need the user token (403 with the anonymous one). Manifests are
proxied from UPSTREAM (http://host:port); blob GETs are answered with a 307 redirect to UPSTREAM,
as registries backed by object storage do.
"""
import base64, http.server, json, re, sys, urllib.error, urllib.request

PORT, UPSTREAM, CREDS = int(sys.argv[1]), sys.argv[2].rstrip("/"), sys.argv[3]
USER_TOKEN, ANON_TOKEN = "user-token-1", "anon-token-1"


class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def send(self, code, body=b"", headers=None):
        self.send_response(code)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        if self.path.startswith("/token"):
            auth = self.headers.get("Authorization", "")
            if not auth:
                tok = ANON_TOKEN
            elif auth == "Basic " + base64.b64encode(CREDS.encode()).decode():
                tok = USER_TOKEN
            else:
                return self.send(401, b'{"errors":[{"code":"UNAUTHORIZED"}]}')
            return self.send(200, json.dumps({"token": tok, "access_token": tok}).encode(),
                             {"Content-Type": "application/json"})
        m = re.match(r"^/v2/(.+)/(manifests|blobs)/(.+)$", self.path)
        repo = m.group(1) if m else ""
        auth = self.headers.get("Authorization", "")
        if auth not in ("Bearer " + USER_TOKEN, "Bearer " + ANON_TOKEN):
            return self.send(401, b'{"errors":[{"code":"UNAUTHORIZED"}]}', {
                "WWW-Authenticate": 'Bearer realm="http://127.0.0.1:%d/token",service="liftoff-test",scope="repository:%s:pull"' % (PORT, repo)})
        if self.path == "/v2/":
            return self.send(200, b"{}")
        if not m:
            return self.send(404)
        if "/private" in "/" + repo and auth != "Bearer " + USER_TOKEN:
            return self.send(403, b'{"errors":[{"code":"DENIED"}]}')
        upstream_repo = repo.replace("private-", "")
        url = "%s/v2/%s/%s/%s" % (UPSTREAM, upstream_repo, m.group(2), m.group(3))
        if m.group(2) == "blobs":
            return self.send(307, b"", {"Location": url})
        req = urllib.request.Request(url, headers={"Accept": self.headers.get("Accept", "")}, method=self.command)
        try:
            with urllib.request.urlopen(req) as r:
                body = r.read()
                return self.send(r.status, body, {"Content-Type": r.headers.get("Content-Type", ""),
                                                  "Docker-Content-Digest": r.headers.get("Docker-Content-Digest", "")})
        except urllib.error.HTTPError as e:
            return self.send(e.code, e.read())


http.server.ThreadingHTTPServer(("127.0.0.1", PORT), H).serve_forever()
