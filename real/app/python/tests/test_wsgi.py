"""PEP 3333 on the wire: the environ, wsgi.input, start_response and write(), streaming, errors,
HEAD, file_wrapper, and the three ways to name an app. Apps in apps/surface.py run inside wsgiref's
validator with warnings as errors, so a server mistake fails inside the app as a 500."""
import hashlib
import json
import os
import re
import socket
import unittest

from harness import Server, read_response, wait_until


def peak_rss(pid):
    with open("/proc/%d/status" % pid) as f:
        kb = next(l for l in f if l.startswith("VmHWM:")).split()[1]
    return int(kb) * 1024


class Surface(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.holder = unittest.TestCase()
        cls.server = Server(cls.holder)
        cls.server.release("A", copy=["surface.py"])
        cls.spool = os.path.join(cls.server.dir, "spool")
        os.makedirs(cls.spool)
        cls.server.start("A", "surface:application", "--spool-dir", cls.spool)

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        cls.holder.doCleanups()

    def json_get(self, path, headers=()):
        status, hdrs, body = self.server.get(path, headers)
        self.assertEqual(status, 200, body)
        return json.loads(body)

    def test_environ_holds_what_pep3333_requires(self):
        e = self.json_get("/env?a=1&b=%20", ["X-Custom: one", "X-Custom: two",
                                              "Cookie: a=1", "Cookie: b=2"])
        self.assertEqual(e["REQUEST_METHOD"], "GET")
        self.assertEqual(e["SCRIPT_NAME"], "")
        self.assertEqual(e["PATH_INFO"], "/env")
        self.assertEqual(e["QUERY_STRING"], "a=1&b=%20")
        self.assertEqual(e["SERVER_PROTOCOL"], "HTTP/1.1")
        self.assertEqual(e["SERVER_NAME"], "127.0.0.1")
        self.assertEqual(e["SERVER_PORT"], str(self.server.port))
        self.assertEqual(e["REMOTE_ADDR"], "127.0.0.1")
        self.assertTrue(e["REMOTE_PORT"].isdigit() and int(e["REMOTE_PORT"]) > 0)
        self.assertEqual(e["wsgi.url_scheme"], "http")
        self.assertEqual(e["version"], [1, 0])
        self.assertIs(e["wsgi.multithread"], False)
        self.assertIs(e["wsgi.multiprocess"], True)
        self.assertIs(e["wsgi.run_once"], False)
        self.assertIs(e["wsgi.input_terminated"], True)
        self.assertTrue(e["errors_is_stderr"])
        self.assertEqual(e["http"]["HTTP_HOST"], "t")
        self.assertEqual(e["http"]["HTTP_X_CUSTOM"], "one, two")
        self.assertEqual(e["http"]["HTTP_COOKIE"], "a=1; b=2")
        self.assertIsNone(e["CONTENT_LENGTH"])
        self.assertNotIn("HTTP_CONTENT_LENGTH", e["http"])

    def test_path_info_is_percent_decoded_bytes_as_latin1(self):
        e = self.json_get("/caf%C3%A9/a%2Fb%20c")
        self.assertEqual(bytes(e["path_bytes"]), "/café/a/b c".encode("utf-8"))

    def test_a_header_name_with_underscore_cannot_pose_as_another(self):
        e = self.json_get("/env", ["Content_Length: 99", "X_Forwarded_For: 6.6.6.6",
                                   "X-Forwarded-For: 10.0.0.1"])
        self.assertIsNone(e["CONTENT_LENGTH"])
        self.assertEqual(e["http"].get("HTTP_X_FORWARDED_FOR"), "10.0.0.1")

    def test_content_type_and_length_are_cgi_variables(self):
        body = b"0123456789"
        raw = (b"POST /env HTTP/1.1\r\nHost: t\r\nContent-Type: text/x\r\nContent-Length: 10\r\n"
               b"Connection: close\r\n\r\n" + body)
        status, _, out, s = self.server.request(raw)
        s.close()
        e = json.loads(out)
        self.assertEqual((status, e["CONTENT_TYPE"], e["CONTENT_LENGTH"]), (200, "text/x", "10"))
        self.assertNotIn("HTTP_CONTENT_TYPE", e["http"])

    def test_a_chunked_upload_is_given_with_its_length(self):
        raw = (b"POST /input HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
               b"Connection: close\r\n\r\n5\r\nabc\nd\r\n6\r\nef\ngh\n\r\n3\r\nijk\r\n0\r\n\r\n")
        status, _, out, s = self.server.request(raw)
        s.close()
        self.assertEqual(status, 200, out)
        self.assertEqual(json.loads(out), {"first": "abc", "line": "\n", "lines": ["def\n", "gh\n", "ijk"], "rest": ""})

    def test_input_iterates_and_reads_a_large_body(self):
        body = bytes(range(256)) * 4096  # 1 MiB, the default --max-body-bytes
        raw = (b"POST /input-iter HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n"
               b"Connection: close\r\n\r\n" % len(body)) + body
        status, _, out, s = self.server.request(raw)
        s.close()
        self.assertEqual((status, json.loads(out)), (200, {"n": len(body), "sum": sum(body)}))

    def upload(self, body, chunked=False, step=1 << 20):
        """POST /digest with `body` (in one piece or as chunks of `step`): the app's JSON."""
        if chunked:
            head = b"POST /digest HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
            raw = head + b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + step]), body[i:i + step])
                                  for i in range(0, len(body), step)) + b"0\r\n\r\n"
        else:
            raw = b"POST /digest HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % len(body)
            raw += body
        status, _, out, s = self.server.request(raw)
        s.close()
        self.assertEqual(status, 200, out[:300])
        return json.loads(out)

    def spool_descriptors(self):
        """Descriptors of this server's processes open on a file in the spool directory."""
        held = []
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                if os.getpgid(int(pid)) != self.server.proc.pid:
                    continue
                for fd in os.listdir(f"/proc/{pid}/fd"):
                    target = os.readlink(f"/proc/{pid}/fd/{fd}")
                    if target.startswith(self.spool):
                        held.append((int(pid), target))
            except OSError:
                continue
        return held

    def front_pid(self):
        for pid in os.listdir("/proc"):
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    if f.read().startswith(b"zygote-real: front") and \
                            os.getpgid(int(pid)) == self.server.proc.pid:
                        return int(pid)
            except (OSError, ValueError):
                continue
        raise AssertionError("no front process")

    def test_a_large_upload_is_read_from_a_file_never_held_in_memory(self):
        # 96 MiB, above --body-memory-bytes (1 MiB): the front writes it to an unlinked file in
        # --spool-dir as it arrives, and wsgi.input reads that file. Neither the front nor the
        # worker ever holds it: their peak resident memory grows by far less than its size
        # (against each process's own peak before, which a sanitizer build raises).
        body = bytes(range(256)) * 4096 * 96
        front = self.front_pid()
        before = {pid: peak_rss(pid) for pid in list(self.server.workers()) + [front]}
        got = self.upload(body)
        self.assertEqual((got["n"], got["sha256"], got["content_length"], got["input"]),
                         (len(body), hashlib.sha256(body).hexdigest(), str(len(body)),
                          "BufferedReader"))
        self.assertLess(peak_rss(got["pid"]) - before[got["pid"]], len(body) // 4,
                        "the worker held the body: %s" % got)
        self.assertLess(peak_rss(front) - before[front], len(body) // 4, "the front held it")
        # Chunked: spooled once it outgrows memory, decoded; CONTENT_LENGTH is its length.
        body = bytes(range(251)) * 40000  # 10 MB, 1 MiB chunks
        got = self.upload(body, chunked=True)
        self.assertEqual((got["n"], got["sha256"], got["content_length"], got["input"]),
                         (len(body), hashlib.sha256(body).hexdigest(), str(len(body)),
                          "BufferedReader"))
        # 20-byte chunks: 900 KiB of body fits in memory, but not its 1.17 MiB of framed bytes, so
        # it is spooled too (else the front would stop reading before the body ends).
        body = bytes(range(256)) * 3600
        got = self.upload(body, chunked=True, step=20)
        self.assertEqual((got["n"], got["sha256"], got["input"]),
                         (len(body), hashlib.sha256(body).hexdigest(), "BufferedReader"))
        # Behind a request on the same connection: the worker that served the first reads no
        # more of the second than the memory limit, gives the connection back, and the front
        # spools the rest (with what the worker had read).
        body = bytes(range(256)) * 4096 * 8
        s = self.server.connect()
        s.sendall(b"GET /head HTTP/1.1\r\nHost: t\r\n\r\n"
                  b"POST /digest HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % len(body)
                  + body)
        first = read_response(s)
        status, _, out = read_response(s)
        s.close()
        got = json.loads(out)
        self.assertEqual((first[0], status, got["n"], got["sha256"], got["input"]),
                         (200, 200, len(body), hashlib.sha256(body).hexdigest(), "BufferedReader"))
        # Within the memory limit, a body stays in memory.
        got = self.upload(b"x" * 1000)
        self.assertEqual((got["n"], got["input"]), (1000, "BytesIO"))
        # Served, the spooled bodies are gone: no process holds a file in the spool directory
        # (and nothing is left in it: the files were never named).
        self.assertTrue(wait_until(lambda: not self.spool_descriptors(), 5),
                        self.spool_descriptors())
        self.assertEqual(os.listdir(self.spool), [])

    def test_write_callable_and_returned_blocks_go_in_order(self):
        status, hdrs, body = self.server.get("/write")
        self.assertEqual((status, body), (200, b"written then returned"))
        self.assertEqual(hdrs.get("transfer-encoding"), "chunked")

    def test_a_generator_is_streamed_chunked(self):
        status, hdrs, body = self.server.get("/stream?5")
        self.assertEqual(status, 200)
        self.assertEqual(hdrs.get("transfer-encoding"), "chunked")
        self.assertEqual(body, b"".join(b"block %d\n" % i for i in range(5)))

    def test_http10_gets_a_stream_delimited_by_close(self):
        status, hdrs, body, s = self.server.request(b"GET /stream?4 HTTP/1.0\r\n\r\n")
        s.close()
        self.assertEqual(status, 200)
        self.assertNotIn("transfer-encoding", hdrs)
        self.assertEqual(hdrs.get("connection"), "close")
        self.assertEqual(body, b"".join(b"block %d\n" % i for i in range(4)))

    def test_an_endless_response_streams_in_bounded_memory_and_the_worker_goes_on(self):
        before = {pid: peak_rss(pid) for pid in self.server.workers()}
        s = self.server.connect()
        s.sendall(b"GET /endless HTTP/1.1\r\nHost: t\r\n\r\n")
        got = 0
        while got < 256 * 1024 * 1024:  # far beyond any buffer, and beyond the bound below
            data = s.recv(1 << 20)
            self.assertTrue(data, "the stream ended")
            got += len(data)
        s.close()
        for pid, peak in before.items():  # no worker kept what it sent
            self.assertLess(peak_rss(pid) - peak, 32 * 1024 * 1024)
        for _ in range(4):  # every worker still answers
            self.assertEqual(self.server.get("/env")[0], 200)

    def test_exc_info_replaces_a_response_not_yet_sent(self):
        status, _, body = self.server.get("/exc-info")
        self.assertEqual((status, body), (503, b"replaced"))

    def test_start_response_takes_keywords(self):
        status, _, body = self.server.get("/keywords")
        self.assertEqual((status, body), (200, b"by keyword"))

    def test_a_header_value_goes_as_latin1_and_one_beyond_it_is_the_apps_error(self):
        s = self.server.connect()
        s.settimeout(10)
        s.sendall(b"GET /header-text?v=latin1 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
        s.close()
        self.assertIn(b"\r\nX-Text: caf\xe9\r\n", data)
        status, _, _ = self.server.get("/header-text?v=wide")
        self.assertEqual(status, 500)
        self.assertTrue(self.server.wait_log(r"GET /header-text\?v=wide: the app failed:", 5),
                        self.server.log_text())
        self.assertEqual(self.server.get("/env")[0], 200)

    def test_an_exception_before_the_response_is_a_500_and_logged(self):
        status, _, body = self.server.get("/fail-before")
        self.assertEqual(status, 500)
        self.assertTrue(self.server.wait_log(
            r"zygote: worker \d+: GET /fail-before: the app failed:\n"
            r"Traceback[^\n]*\n(.*\n)*?RuntimeError: failed before the response", 5),
            self.server.log_text())
        self.assertEqual(self.server.get("/env")[0], 200)

    def until_closed(self, raw):
        """Sends raw bytes on a new connection; everything that comes back until the server
        closes it (10 s at most)."""
        s = self.server.connect()
        s.settimeout(10)
        s.sendall(raw)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
        s.close()
        return data

    def test_an_exception_during_the_response_cuts_it_short(self):
        data = self.until_closed(b"GET /fail-during HTTP/1.1\r\nHost: t\r\n\r\n")
        self.assertIn(b"first part", data)
        self.assertFalse(data.endswith(b"0\r\n\r\n"), "the response looks complete: %r" % data)
        self.assertEqual(self.server.get("/env")[0], 200)

    def test_fewer_bytes_than_the_apps_content_length_close_the_connection(self):
        data = self.until_closed(b"GET /short-length HTTP/1.1\r\nHost: t\r\n\r\n")
        self.assertTrue(data.endswith(b"\r\n\r\nonly ten b"), data)

    def test_no_more_than_the_apps_content_length_is_sent(self):
        s = self.server.connect()
        for _ in range(2):  # the connection goes on: nothing extra was sent on it
            s.sendall(b"GET /long-length HTTP/1.1\r\nHost: t\r\n\r\n")
            status, _, body = read_response(s)
            self.assertEqual((status, body), (200, b"abcde"))
        s.close()

    def test_head_keeps_the_apps_content_length(self):
        status, hdrs, body, s = self.server.request(
            b"HEAD /head HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        s.close()
        self.assertEqual((status, hdrs.get("content-length"), body), (200, "1234", b""))
        status, hdrs, body = self.server.get("/head")
        self.assertEqual((status, len(body)), (200, 1234))

    def test_file_wrapper_sends_the_file(self):
        status, _, body = self.server.get("/file")
        self.assertEqual(status, 200)
        with open(os.path.join(self.server.releases, "A", "surface.py"), "rb") as f:
            self.assertEqual(body, f.read())

    def sendfile_case(self, name, size, query, method="GET"):
        """A file of `size` deterministic bytes served through wsgi.file_wrapper with `query`:
        (status, headers, body, the file's bytes, reads made through the file object)."""
        path = os.path.join(self.server.dir, name)
        data = bytes((i * 7 + i // 251) & 0xff for i in range(size))
        with open(path, "wb") as f:
            f.write(data)
        s = self.server.connect()
        raw = "%s /sendfile?path=%s&%s HTTP/1.1\r\nHost: t\r\n\r\n" % (method, path, query)
        status, hdrs, body, _ = self.server.request(raw.encode(), s)
        # The connection goes on: the response was framed right, whatever its length.
        s.sendall(b"GET /head HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        after = read_response(s)
        s.close()
        self.assertEqual((after[0], len(after[2])), (200, 1234))
        self.assertTrue(wait_until(lambda: os.path.exists(path + ".reads"), 10), "never closed")
        with open(path + ".reads") as f:
            reads = int(f.read())
        return status, hdrs, body, data, reads

    def test_file_wrapper_over_a_real_file_is_sent_with_sendfile(self):
        # 8 MiB from byte 100, chunked (no Content-Length): more than a socket takes at once.
        status, hdrs, body, data, reads = self.sendfile_case("big.bin", 8 << 20, "offset=100")
        self.assertEqual((status, hdrs.get("transfer-encoding")), (200, "chunked"))
        self.assertTrue(body == data[100:], "%d bytes, not the file's %d" % (len(body), len(data) - 100))
        self.assertEqual(reads, 0, "the file went through Python, not sendfile")
        # The app's Content-Length frames it, and caps it.
        status, hdrs, body, data, reads = self.sendfile_case("cl.bin", 100000, "length=100000")
        self.assertEqual((status, hdrs.get("content-length"), body == data, reads),
                         (200, "100000", True, 0))
        status, hdrs, body, data, reads = self.sendfile_case("cap.bin", 100000,
                                                             "offset=10&length=5000")
        self.assertEqual((status, body == data[10:5010], reads), (200, True, 0))
        # HEAD: the head alone, the app's Content-Length kept.
        status, hdrs, body, data, reads = self.sendfile_case("head.bin", 5000, "length=5000",
                                                             method="HEAD")
        self.assertEqual((status, hdrs.get("content-length"), body), (200, "5000", b""))
        # An empty file, and a position at its end.
        status, hdrs, body, data, reads = self.sendfile_case("empty.bin", 0, "")
        self.assertEqual((status, body, reads), (200, b"", 0))
        status, hdrs, body, data, reads = self.sendfile_case("end.bin", 10, "offset=10")
        self.assertEqual((status, body), (200, b""))

    def test_file_wrapper_without_a_descriptor_is_iterated(self):
        status, hdrs, body, data, _ = self.sendfile_case("mem.bin", 300000, "offset=7&bytesio=1")
        self.assertEqual((status, body == data[7:]), (200, True))

    def test_a_file_shorter_than_its_content_length_is_cut_short(self):
        path = os.path.join(self.server.dir, "short.bin")
        with open(path, "wb") as f:
            f.write(b"x" * 1000)
        s = self.server.connect()
        s.sendall(("GET /sendfile?path=%s&length=5000 HTTP/1.1\r\nHost: t\r\n\r\n"
                   % path).encode())
        got = b""
        while True:  # until the server closes: the client sees the response end early
            data = s.recv(65536)
            if not data:
                break
            got += data
        s.close()
        head, _, body = got.partition(b"\r\n\r\n")
        self.assertIn(b"Content-Length: 5000", head)
        self.assertEqual(body, b"x" * 1000)

    def test_keep_alive_serves_many_requests_on_one_connection(self):
        s = self.server.connect()
        for i in range(50):
            s.sendall(b"GET /stream?2 HTTP/1.1\r\nHost: t\r\n\r\n")
            status, _, body = read_response(s)
            self.assertEqual((status, body), (200, b"block 0\nblock 1\n"))
        s.close()

    def test_zz_close_was_called_on_every_iterable(self):
        # Last (by name): what the validator found across every request above.
        statuses = [self.server.get("/unraisable") for _ in range(6)]
        for status, _, body in statuses:
            self.assertEqual((status, json.loads(body)), (200, []))


class Naming(unittest.TestCase):
    def serve(self, app):
        server = Server(self)
        server.release("A", copy=["surface.py"])
        server.start("A", app, workers=1)
        return server

    def test_the_seeds_form_calls_get_application_with_the_arguments(self):
        server = self.serve("surface one two")
        self.assertEqual(json.loads(server.get("/")[2]), {"args": ["one", "two"]})
        server.stop()

    def test_a_factory_with_literal_arguments(self):
        server = self.serve('surface:create_app("hi",times=3)')
        self.assertEqual(server.get("/")[2], b"hihihi")
        server.stop()


if __name__ == "__main__":
    unittest.main()
