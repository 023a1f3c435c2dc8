"""Real apps from Debian's packages served end to end: Flask, a Django project and httpbin."""
import json
import os
import socket
import unittest

from harness import Server

DJANGO = {
    "mysite/__init__.py": "",
    "mysite/settings.py": '''
SECRET_KEY = "test-only"
DEBUG = False
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "mysite.urls"
INSTALLED_APPS = []
MIDDLEWARE = []
DATABASES = {}
USE_TZ = True
''',
    "mysite/urls.py": '''
from django.http import HttpResponse, JsonResponse, StreamingHttpResponse, HttpResponseRedirect
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

def index(request):
    return HttpResponse("hello from django")

@csrf_exempt
def form(request):
    return JsonResponse({k: v for k, v in request.POST.items()})

@csrf_exempt
def upload(request):
    f = request.FILES["file"]
    data = f.read()
    return JsonResponse({"name": f.name, "size": len(data)})

def stream(request):
    return StreamingHttpResponse(("row %d\\n" % i for i in range(4)), content_type="text/plain")

def go(request):
    return HttpResponseRedirect("/")

def boom(request):
    raise RuntimeError("django view failed")

urlpatterns = [path("", index), path("form", form), path("upload", upload),
               path("stream", stream), path("go", go), path("boom", boom)]
''',
    "mysite/wsgi.py": '''
import os
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
from django.core.wsgi import get_wsgi_application
application = get_wsgi_application()
''',
}


def multipart(field, filename, data):
    boundary = b"zygoteboundary"
    body = (b"--" + boundary + b"\r\nContent-Disposition: form-data; name=\"" + field.encode() +
            b"\"; filename=\"" + filename.encode() + b"\"\r\nContent-Type: application/octet-stream"
            b"\r\n\r\n" + data + b"\r\n--" + boundary + b"--\r\n")
    return "multipart/form-data; boundary=zygoteboundary", body


class Apps(unittest.TestCase):
    def post(self, server, path, ctype, body):
        raw = (f"POST {path} HTTP/1.1\r\nHost: t\r\nContent-Type: {ctype}\r\n"
               f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body
        status, hdrs, out, s = server.request(raw)
        s.close()
        return status, hdrs, out

    def head(self, server, path):
        status, hdrs, body, s = server.request(
            f"HEAD {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode())
        s.close()
        return status, hdrs, body

    def common(self, server, greeting, stream_path, stream_body):
        status, hdrs, body = server.get("/")
        self.assertEqual((status, body), (200, greeting))
        status, hhdrs, hbody = self.head(server, "/")
        self.assertEqual((status, hbody, hhdrs.get("content-length")),
                         (200, b"", hdrs.get("content-length")))
        status, _, body = self.post(server, "/form", "application/x-www-form-urlencoded",
                                    b"a=1&b=two+words")
        self.assertEqual((status, json.loads(body)), (200, {"a": "1", "b": "two words"}))
        data = os.urandom(300 * 1024)
        status, _, body = self.post(server, "/upload", *multipart("file", "blob.bin", data))
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body)["size"], len(data))
        # Above --body-memory-bytes: the front spools it, the framework reads it from the file.
        big = os.urandom(6 << 20)
        status, _, body = self.post(server, "/upload", *multipart("file", "big.bin", big))
        self.assertEqual((status, json.loads(body)["size"]), (200, len(big)), body[:300])
        status, hdrs, body = server.get(stream_path)
        self.assertEqual((status, body), (200, stream_body))
        self.assertEqual(hdrs.get("transfer-encoding"), "chunked")
        status, hdrs, _ = server.get("/go")
        self.assertEqual((status, hdrs.get("location")), (302, "/"))
        self.assertEqual(server.get("/boom")[0], 500)
        self.assertEqual(server.get("/")[0], 200)  # the worker serves on after the error

    def test_flask(self):
        s = Server(self)
        s.release("A", copy=["flaskapp.py"])
        s.start("A", "flaskapp:app")
        self.common(s, b"hello from flask", "/stream/3", b"line 0\nline 1\nline 2\n")
        status, _, body = self.post(s, "/json", "application/json", b'{"x": [1, 2]}')
        self.assertEqual((status, json.loads(body)), (200, {"echo": {"x": [1, 2]}}))
        self.assertIn("RuntimeError: flask view failed", s.log_text())
        s.stop()

    def test_django(self):
        s = Server(self)
        s.release("A", DJANGO)
        s.start("A", "mysite.wsgi:application")
        self.common(s, b"hello from django", "/stream", b"row 0\nrow 1\nrow 2\nrow 3\n")
        s.stop()

    def test_httpbin(self):
        s = Server(self)
        s.release("A", {})
        s.start("A", "httpbin:app")
        status, _, body = s.get("/get?q=1", ["X-Probe: yes"])
        got = json.loads(body)
        self.assertEqual((status, got["args"], got["headers"]["X-Probe"]), (200, {"q": "1"}, "yes"))
        self.assertEqual(got["origin"], "127.0.0.1")
        status, _, body = self.post(s, "/post", "application/json", b'{"k": "v"}')
        self.assertEqual((status, json.loads(body)["json"]), (200, {"k": "v"}))
        status, _, body = self.post(s, "/post", "application/x-www-form-urlencoded", b"f=1")
        self.assertEqual(json.loads(body)["form"], {"f": "1"})
        status, _, body = self.post(s, "/post", *multipart("file", "a.txt", b"contents"))
        self.assertEqual(json.loads(body)["files"], {"file": "contents"})
        status, hdrs, body = s.get("/stream/4")
        self.assertEqual((status, len(body.splitlines())), (200, 4))
        status, _, body = s.get("/bytes/100000")
        self.assertEqual((status, len(body)), (200, 100000))
        status, hdrs, _ = s.get("/redirect/2")
        self.assertEqual((status, hdrs.get("location")), (302, "/relative-redirect/1"))
        self.assertEqual(s.get("/status/418")[0], 418)
        self.assertEqual(s.get("/status/500")[0], 500)
        status, hdrs, body = self.head(s, "/bytes/5000")
        self.assertEqual((status, body, hdrs.get("content-length")), (200, b"", "5000"))
        s.stop()


if __name__ == "__main__":
    unittest.main()
