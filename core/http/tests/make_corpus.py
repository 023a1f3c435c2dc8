#!/usr/bin/env python3
"""Writes tests/corpus/: one raw request per file, named <expected status>-<case>.http.

The files are committed; rerun this only to change the corpus (it rewrites every file it names).
"""
import pathlib

H = b"Host: example.com\r\n"


def req(head: bytes, body: bytes = b"") -> bytes:
    return head + b"\r\n" + body


CASES = {
    # Request line.
    "400-bad-method": req(b"G@ET / HTTP/1.1\r\n" + H),
    "400-leading-space": req(b" GET / HTTP/1.1\r\n" + H),
    "400-missing-target": req(b"GET HTTP/1.1\r\n" + H),
    "400-double-space": req(b"GET  / HTTP/1.1\r\n" + H),
    "400-control-in-target": req(b"GET /a\x01b HTTP/1.1\r\n" + H),
    "400-bad-version": req(b"GET / HTTP/1.x\r\n" + H),
    "400-lowercase-version": req(b"GET / http/1.1\r\n" + H),
    "400-version-2": req(b"GET / HTTP/2.0\r\n" + H),
    "400-http2-preface": b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    "400-tls-client-hello": bytes.fromhex(
        "16030100c4010000c00303" + "ab" * 32 + "00" + "0020" + "c02b" * 16 + "0100" + "0075"
        + "0000" + "0010" + "000e00000b6578616d706c652e636f6d" + "00" * 85),
    # Request targets (RFC 9112 3.2): origin-form or absolute-form; authority-form only with
    # CONNECT (not served: no proxy here), asterisk-form only with OPTIONS.
    "400-relative-target": req(b"GET foo/bar HTTP/1.1\r\n" + H),
    "400-asterisk-form-get": req(b"GET * HTTP/1.1\r\n" + H),
    "400-authority-form-get": req(b"GET example.com:80 HTTP/1.1\r\n" + H),
    "400-absolute-form-other-scheme": req(b"GET ftp://example.com/a HTTP/1.1\r\n" + H),
    "400-absolute-form-no-authority": req(b"GET http:///a HTTP/1.1\r\n" + H),
    "400-absolute-form-userinfo": req(b"GET http://user@example.com/a HTTP/1.1\r\n" + H),
    "400-absolute-form-bad-host": req(b"GET http://exa mple.com/a HTTP/1.1\r\n" + H),
    "400-whitespace-after-request-line": req(b"GET / HTTP/1.1\r\n " + H),
    "400-space-in-target": req(b"GET /a b HTTP/1.1\r\n" + H),
    "400-connect-origin-form": req(b"CONNECT / HTTP/1.1\r\n" + H),
    "501-connect": req(b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n"),
    # Host (RFC 9110 7.2, RFC 3986 3.2.2).
    "400-host-not-a-host": req(b"GET / HTTP/1.1\r\nHost: 0.0.0.0=5000\r\n"),
    "400-host-with-path": req(b"GET / HTTP/1.1\r\nHost: example.com/evil\r\n"),
    "400-host-with-userinfo": req(b"GET / HTTP/1.1\r\nHost: user@example.com\r\n"),
    "400-host-bad-port": req(b"GET / HTTP/1.1\r\nHost: example.com:80x\r\n"),
    "400-host-port-too-large": req(b"GET / HTTP/1.1\r\nHost: example.com:65536\r\n"),
    "400-host-two-ports": req(b"GET / HTTP/1.1\r\nHost: example.com:80:81\r\n"),
    "400-host-unclosed-ipv6": req(b"GET / HTTP/1.1\r\nHost: [::1\r\n"),
    "400-host-space-inside": req(b"GET / HTTP/1.1\r\nHost: exa mple.com\r\n"),
    # Trailers (RFC 9110 6.5.1): never merged into the header fields, and none of the fields
    # needed before the content.
    "400-host-in-trailer": req(b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n",
                               b"3\r\nabc\r\n0\r\nHost: evil.example\r\n\r\n"),
    "400-content-length-in-trailer": req(
        b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n",
        b"3\r\nabc\r\n0\r\nContent-Length: 10\r\n\r\n"),
    "400-transfer-encoding-in-trailer": req(
        b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n",
        b"3\r\nabc\r\n0\r\ntransfer-encoding: chunked\r\n\r\n"),
    "400-authorization-in-trailer": req(
        b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n",
        b"3\r\nabc\r\n0\r\nAuthorization: Basic YTpi\r\n\r\n"),
    # Line endings.
    "400-bare-lf": b"GET / HTTP/1.1\nHost: example.com\n\n",
    "400-bare-lf-in-header": b"GET / HTTP/1.1\r\nHost: example.com\nX-A: b\r\n\r\n",
    "400-bare-cr-in-header": b"GET / HTTP/1.1\r\nHost: example.com\rX-A: b\r\n\r\n",
    # Header fields.
    "400-nul-in-header-value": req(b"GET / HTTP/1.1\r\n" + H + b"X-A: a\x00b\r\n"),
    "400-nul-in-header-name": req(b"GET / HTTP/1.1\r\n" + H + b"X\x00A: b\r\n"),
    "400-space-before-colon": req(b"GET / HTTP/1.1\r\n" + H + b"X-A : b\r\n"),
    "400-invalid-header-name-chars": req(b"GET / HTTP/1.1\r\n" + H + b"X(A)[b]: c\r\n"),
    "400-empty-header-name": req(b"GET / HTTP/1.1\r\n" + H + b": c\r\n"),
    "400-header-without-colon": req(b"GET / HTTP/1.1\r\n" + H + b"X-A b\r\n"),
    "400-obs-fold": req(b"GET / HTTP/1.1\r\n" + H + b"X-A: one\r\n two\r\n"),
    "400-obs-fold-tab": req(b"GET / HTTP/1.1\r\n" + H + b"X-A: one\r\n\ttwo\r\n"),
    "400-missing-host": req(b"GET / HTTP/1.1\r\n"),
    "400-duplicate-host": req(b"GET / HTTP/1.1\r\n" + H + b"Host: evil.example\r\n"),
    # Content-Length.
    "400-duplicate-content-length": req(
        b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 3\r\nContent-Length: 4\r\n", b"abcd"),
    "400-content-length-list": req(b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 3, 4\r\n",
                                   b"abcd"),
    "400-negative-content-length": req(b"POST / HTTP/1.1\r\n" + H + b"Content-Length: -1\r\n"),
    "400-plus-content-length": req(b"POST / HTTP/1.1\r\n" + H + b"Content-Length: +3\r\n", b"abc"),
    "400-hex-content-length": req(b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 0x3\r\n", b"abc"),
    "400-empty-content-length": req(b"POST / HTTP/1.1\r\n" + H + b"Content-Length:\r\n"),
    "400-overflowing-content-length": req(
        b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 99999999999999999999999\r\n"),
    # Transfer-Encoding.
    "400-cl-and-te": req(
        b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n",
        b"0\r\n\r\n"),
    "400-te-and-cl": req(
        b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\nContent-Length: 4\r\n",
        b"0\r\n\r\n"),
    "400-te-identity-and-cl": req(
        b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: identity\r\nContent-Length: 3\r\n",
        b"abc"),
    "400-te-unknown": req(b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: gzip\r\n", b"abc"),
    "400-te-chunked-not-final": req(
        b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked, gzip\r\n", b"0\r\n\r\n"),
    "400-te-duplicate-chunked": req(
        b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
        b"0\r\n\r\n"),
    "400-te-in-http10": req(b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n", b"0\r\n\r\n"),
    "501-te-gzip-chunked": req(
        b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: gzip, chunked\r\n", b"0\r\n\r\n"),
    # Chunked framing.
    "400-bad-chunk-size": req(b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n",
                              b"zz\r\nabc\r\n0\r\n\r\n"),
    "400-negative-chunk-size": req(b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n",
                                   b"-1\r\nabc\r\n0\r\n\r\n"),
    "400-chunk-size-overflow": req(b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n",
                                   b"1" + b"0" * 16 + b"\r\nabc\r\n0\r\n\r\n"),
    "400-chunk-data-too-long": req(b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n",
                                   b"3\r\nabcdef\r\n0\r\n\r\n"),
    "400-bad-chunk-extension": req(b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n",
                                   b"3;=x\r\nabc\r\n0\r\n\r\n"),
    "400-chunk-size-bare-lf": req(b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n",
                                  b"3\nabc\r\n0\r\n\r\n"),
    # Limits.
    "413-content-length": req(b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 1048577\r\n"),
    "413-huge-content-length": req(
        b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 18446744073709551615\r\n"),
    "413-chunked-over-limit": req(b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n",
                                  b"100001\r\n" + b"a" * 100),
    "413-chunked-total-over-limit": req(
        b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n",
        b"3\r\nabc\r\nFFFFE\r\n"),
    "431-huge-single-header": req(b"GET / HTTP/1.1\r\n" + H + b"X-Big: " + b"a" * 9000 + b"\r\n"),
    "431-huge-header-unterminated": b"GET / HTTP/1.1\r\n" + H + b"X-Big: " + b"a" * 9000,
    "414-huge-uri": req(b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n" + H),
    "414-huge-uri-unterminated": b"GET /" + b"a" * 9000,
    "431-huge-header-count": req(
        b"GET / HTTP/1.1\r\n" + H + b"".join(b"X-%d: v\r\n" % i for i in range(150))),
    "431-many-headers-over-bytes": req(
        b"GET / HTTP/1.1\r\n" + H + b"".join(b"X-Header-%04d: value\r\n" % i for i in range(90))
        + b"X-Pad: " + b"p" * 6400 + b"\r\n"),
    "431-huge-trailers": req(b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n",
                             b"0\r\nX-T: " + b"t" * 9000 + b"\r\n"),
    # Must parse.
    "200-simple-get": req(b"GET /index.html?q=1 HTTP/1.1\r\n" + H),
    "200-http10": req(b"GET / HTTP/1.0\r\n"),
    "200-leading-crlf": b"\r\n\r\n" + req(b"GET / HTTP/1.1\r\n" + H),
    "200-chunked-with-extension": req(
        b"POST /upload HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n",
        b"4;name=value\r\nWiki\r\n5 ; q=\"a b\"\r\npedia\r\n0\r\nX-Trailer: 1\r\n\r\n"),
    "200-pipelined-pair": req(b"GET /1 HTTP/1.1\r\n" + H)
    + req(b"POST /2 HTTP/1.1\r\n" + H + b"Content-Length: 5\r\n", b"hello"),
    "200-duplicate-content-length-same": req(
        b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 3\r\nContent-Length: 3\r\n", b"abc"),
    "200-expect-continue-with-body": req(
        b"PUT / HTTP/1.1\r\n" + H + b"Expect: 100-continue\r\nContent-Length: 2\r\n", b"ok"),
    "200-unknown-method": req(b"PURGE /cache HTTP/1.1\r\n" + H),
    "200-absolute-form": req(b"GET http://example.com/a HTTP/1.1\r\n" + H),
    "200-absolute-form-https": req(b"GET HTTPS://example.com:8443/a?b HTTP/1.1\r\n" + H),
    "200-asterisk-form-options": req(b"OPTIONS * HTTP/1.1\r\n" + H),
    "200-host-ipv6": req(b"GET / HTTP/1.1\r\nHost: [::1]:8080\r\n"),
    "200-host-ipv4-port": req(b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n"),
    "200-lowercase-field-names": req(b"GET / HTTP/1.1\r\nhost: example.com\r\ncontent-length: 0\r\n"),
    "200-empty-list-elements": req(b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: , chunked\r\n",
                                   b"0\r\n\r\n"),
    "200-host-empty": req(b"GET / HTTP/1.1\r\nHost:\r\n"),
    "200-host-pct-encoded": req(b"GET / HTTP/1.1\r\nHost: ex%41mple.com\r\n"),
    # A name with '_' is not the field it resembles: the body is framed by nothing here (WSGI
    # drops such names, real/app/python/wsgi.cpp; a native app sees them as sent).
    "200-underscore-header-name": req(b"GET / HTTP/1.1\r\n" + H + b"Content_Length: 5\r\n"),
    "200-allowed-trailer": req(b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n",
                               b"3\r\nabc\r\n0\r\nX-Checksum: 1\r\n\r\n"),
    "200-large-body": req(b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 60000\r\n",
                             b"b" * 60000),
}


def main() -> None:
    out = pathlib.Path(__file__).parent / "corpus"
    out.mkdir(exist_ok=True)
    for name, data in CASES.items():
        assert len(data) < 64 * 1024, name
        (out / f"{name}.http").write_bytes(data)


if __name__ == "__main__":
    main()
