// The request path of a WSGI app (PEP 3333): the environ, start_response and write(), and the
// response iterable, sent as it is produced. Runs in a worker with the GIL held, released around
// every write to the client.
#include "real/app/python/python_app.hpp"  // Python.h first, as its documentation asks

#include "core/http/connection.hpp"

#include <strings.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace zyg::python {
namespace {

// What one request's start_response and write() act on. Lives on the C++ stack for the request;
// the Python object points at it only until the request ends (an app that keeps start_response
// gets an error, not a dangling write).
struct Reply {
  Responder* out = nullptr;
  const AppRequest* request = nullptr;
  int status = 0;
  std::vector<Header> headers;
  std::optional<std::uint64_t> declared;  // the app's Content-Length
  bool status_set = false;
  bool sent = false;         // the head went out (streaming), or the whole response did
  bool client_gone = false;  // a write failed: the app is told with an OSError
};

struct StartResponse {
  PyObject_HEAD Reply* reply;
};

Reply* reply_of(PyObject* self) {
  Reply* r = reinterpret_cast<StartResponse*>(self)->reply;
  if (r == nullptr) {
    PyErr_SetString(PyExc_RuntimeError, "start_response and write belong to a finished request");
  }
  return r;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

std::optional<std::string_view> http_header(const AppRequest& req, std::string_view name) {
  for (const Header& h : req.headers) {
    if (iequals(h.name, name)) return std::string_view(h.value);
  }
  return std::nullopt;
}

bool is_tchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// A native string (PEP 3333: str holding only latin-1 code points) as its bytes. A str whose
// code points all fit a byte is stored as latin-1 already: those bytes are read in place.
std::optional<std::string> latin1(PyObject* s, const char* what) {
  if (!PyUnicode_Check(s)) {
    PyErr_Format(PyExc_TypeError, "%s must be str, not %.80s", what, Py_TYPE(s)->tp_name);
    return std::nullopt;
  }
  if (PyUnicode_READY(s) != 0) return std::nullopt;
  if (PyUnicode_KIND(s) == PyUnicode_1BYTE_KIND) {
    return std::string(reinterpret_cast<const char*>(PyUnicode_1BYTE_DATA(s)),
                       static_cast<std::size_t>(PyUnicode_GET_LENGTH(s)));
  }
  PyObject* b = PyUnicode_AsLatin1String(s);  // raises: a code point above U+00FF
  if (b == nullptr) return std::nullopt;
  std::string out(PyBytes_AS_STRING(b), static_cast<std::size_t>(PyBytes_GET_SIZE(b)));
  Py_DECREF(b);
  return out;
}

bool parse_status(PyObject* status, Reply& r) {
  auto s = latin1(status, "the status");
  if (!s) return false;
  const bool digits = s->size() >= 3 && std::isdigit(static_cast<unsigned char>((*s)[0])) &&
                      std::isdigit(static_cast<unsigned char>((*s)[1])) &&
                      std::isdigit(static_cast<unsigned char>((*s)[2]));
  if (!digits || (s->size() > 3 && (*s)[3] != ' ') ||
      s->find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) {
    PyErr_Format(PyExc_ValueError, "the status must be like '200 OK', not %R", status);
    return false;
  }
  r.status = std::stoi(s->substr(0, 3));
  if (r.status < 100) {
    PyErr_Format(PyExc_ValueError, "the status %R is below 100", status);
    return false;
  }
  return true;
}

bool parse_headers(PyObject* list, std::vector<Header>& out) {
  if (!PyList_Check(list)) {
    PyErr_Format(PyExc_TypeError, "response_headers must be a list, not %.80s",
                 Py_TYPE(list)->tp_name);
    return false;
  }
  for (Py_ssize_t i = 0; i < PyList_GET_SIZE(list); ++i) {
    PyObject* item = PyList_GET_ITEM(list, i);
    if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 2) {
      PyErr_Format(PyExc_TypeError, "each response header must be a (name, value) tuple, not %R",
                   item);
      return false;
    }
    auto name = latin1(PyTuple_GET_ITEM(item, 0), "a header name");
    if (!name) return false;
    auto value = latin1(PyTuple_GET_ITEM(item, 1), "a header value");
    if (!value) return false;
    bool ok = !name->empty();
    for (char c : *name) ok = ok && is_tchar(c);
    if (!ok || value->find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) {
      PyErr_Format(PyExc_ValueError, "invalid response header %R", item);
      return false;
    }
    out.push_back(Header{std::move(*name), std::move(*value)});
  }
  return true;
}

// The whole response at once: what the server frames itself, and may leave to the front.
void send_whole(Reply& r, std::string body) {
  r.sent = true;
  AppResponse resp{r.status, std::move(r.headers), std::move(body)};
  Py_BEGIN_ALLOW_THREADS r.out->complete(std::move(resp));
  Py_END_ALLOW_THREADS
}

// One block of a streamed body, sent before this returns. False (with OSError set) when the
// client is gone.
bool send_block(Reply& r, std::string_view block) {
  bool ok = true;
  Py_BEGIN_ALLOW_THREADS if (!r.sent) ok = r.out->start(r.status, r.headers);
  if (ok) ok = r.out->write(block);
  Py_END_ALLOW_THREADS r.sent = true;
  if (!ok) {
    r.client_gone = true;
    PyErr_SetString(PyExc_ConnectionError, "the client is gone or stopped reading");
  }
  return ok;
}

PyObject* start_response_call(PyObject* self, PyObject* args, PyObject* kwargs) {
  static const char* kwlist[] = {"status", "response_headers", "exc_info", nullptr};
  PyObject* status = nullptr;
  PyObject* headers = nullptr;
  PyObject* exc_info = Py_None;
  const Py_ssize_t n = PyTuple_GET_SIZE(args);
  if (kwargs == nullptr && (n == 2 || n == 3)) {  // the usual call, read without a format
    status = PyTuple_GET_ITEM(args, 0);
    headers = PyTuple_GET_ITEM(args, 1);
    if (n == 3) exc_info = PyTuple_GET_ITEM(args, 2);
  } else if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OO|O:start_response",
                                          const_cast<char**>(kwlist), &status, &headers,
                                          &exc_info)) {
    return nullptr;
  }
  Reply* r = reply_of(self);
  if (r == nullptr) return nullptr;
  if (exc_info != Py_None) {
    if (!PyTuple_Check(exc_info) || PyTuple_GET_SIZE(exc_info) != 3) {
      PyErr_SetString(PyExc_TypeError, "exc_info must be a (type, value, traceback) tuple");
      return nullptr;
    }
    if (r->sent) {  // too late to change the response: re-raise, as PEP 3333 says
      PyObject* t = PyTuple_GET_ITEM(exc_info, 0);
      PyObject* v = PyTuple_GET_ITEM(exc_info, 1);
      PyObject* tb = PyTuple_GET_ITEM(exc_info, 2);
      Py_INCREF(t);
      Py_INCREF(v);
      Py_XINCREF(tb == Py_None ? nullptr : tb);
      PyErr_Restore(t, v, tb == Py_None ? nullptr : tb);
      return nullptr;
    }
  } else if (r->status_set) {
    PyErr_SetString(PyExc_RuntimeError,
                    "start_response was already called (pass exc_info to replace the response)");
    return nullptr;
  }
  Reply parsed;
  if (!parse_status(status, parsed) || !parse_headers(headers, parsed.headers)) return nullptr;
  r->status = parsed.status;
  r->headers = std::move(parsed.headers);
  r->declared = http::declared_length(r->headers);
  r->status_set = true;
  static PyObject* const write_name = PyUnicode_InternFromString("write");
  return write_name == nullptr ? nullptr : PyObject_GetAttr(self, write_name);
}

PyObject* write_call(PyObject* self, PyObject* data) {
  Reply* r = reply_of(self);
  if (r == nullptr) return nullptr;
  if (!r->status_set) {
    PyErr_SetString(PyExc_RuntimeError, "write() was called before start_response()");
    return nullptr;
  }
  if (!PyBytes_Check(data)) {
    PyErr_Format(PyExc_TypeError, "write() takes bytes, not %.80s", Py_TYPE(data)->tp_name);
    return nullptr;
  }
  const std::string_view block(PyBytes_AS_STRING(data),
                               static_cast<std::size_t>(PyBytes_GET_SIZE(data)));
  if (!block.empty() && !send_block(*r, block)) return nullptr;
  Py_RETURN_NONE;
}

PyMethodDef start_response_methods[] = {
    {"write", write_call, METH_O, "write(data): send a block of the body now (PEP 3333)."},
    {nullptr, nullptr, 0, nullptr}};

PyType_Slot start_response_slots[] = {
    {Py_tp_call, reinterpret_cast<void*>(start_response_call)},
    {Py_tp_methods, start_response_methods},
    {Py_tp_doc, const_cast<char*>("start_response(status, response_headers, exc_info=None)")},
    {0, nullptr}};

PyType_Spec start_response_spec = {"zygote.start_response", sizeof(StartResponse), 0,
                                   Py_TPFLAGS_DEFAULT, start_response_slots};

PyTypeObject* start_response_type = nullptr;

// PATH_INFO: the target's path, percent-decoded, as latin-1 (PEP 3333's "bytes in a str").
std::string path_bytes(std::string_view path) {
  std::string out;
  out.reserve(path.size());
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < path.size(); ++i) {
    if (path[i] == '%' && i + 2 < path.size()) {
      const int hi = hex(path[i + 1]);
      const int lo = hex(path[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
        continue;
      }
    }
    out += path[i];
  }
  return out;
}

// The environ's keys, and the few values that never change ("", "http", "HTTP/1.1"), made and
// interned once: a request's dict is filled without building them. Bounded: header names beyond
// the first kKeysMax distinct ones are made per request.
constexpr std::size_t kKeysMax = 512;

struct NameHash {
  using is_transparent = void;  // looked up by string_view: no string is made to find a key
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

PyObject* key(std::string_view name) {
  static std::unordered_map<std::string, PyObject*, NameHash, std::equal_to<>> keys;
  if (auto it = keys.find(name); it != keys.end()) {
    Py_INCREF(it->second);
    return it->second;  // a new reference, always
  }
  PyObject* k = PyUnicode_DecodeLatin1(name.data(), static_cast<Py_ssize_t>(name.size()), nullptr);
  if (k == nullptr) return nullptr;
  PyUnicode_InternInPlace(&k);
  if (keys.size() >= kKeysMax) return k;
  keys.emplace(std::string(name), k);  // the cache's reference, for the process's life
  Py_INCREF(k);
  return k;
}

// env[name] = value, stealing `value`; false with a Python error set.
bool put(PyObject* env, std::string_view name, PyObject* value, bool steal = true) {
  if (value == nullptr) return false;
  PyObject* k = key(name);
  const int rc = k == nullptr ? -1 : PyDict_SetItem(env, k, value);
  Py_XDECREF(k);
  if (steal) Py_DECREF(value);
  return rc == 0;
}

bool set(PyObject* env, const char* name, PyObject* value) { return put(env, name, value); }

// wsgi.input for a body held in memory: a BytesIO over it.
PyObject* input_of(PyObject* bytes_io, const std::string& body) {
  PyObject* b = PyBytes_FromStringAndSize(body.data(), static_cast<Py_ssize_t>(body.size()));
  if (b == nullptr) return nullptr;
  PyObject* in = PyObject_CallOneArg(bytes_io, b);
  Py_DECREF(b);
  return in;
}

PyObject* str(std::string_view s) {
  return PyUnicode_DecodeLatin1(s.data(), static_cast<Py_ssize_t>(s.size()), nullptr);
}

// HTTP_* from the request's header fields. A name with '_' is dropped: it would pose as the one
// spelled with '-' (Content_Length as CONTENT_LENGTH). Repeated fields join with ", " ("; " for
// Cookie), as CGI does.
bool add_header_fields(PyObject* env, const AppRequest& req) {
  std::vector<std::pair<std::string, std::string>> fields;
  for (const Header& h : req.headers) {
    if (h.name.find('_') != std::string::npos) continue;
    if (iequals(h.name, "Content-Type") || iequals(h.name, "Content-Length")) continue;
    std::string key = "HTTP_";
    for (char c : h.name) key += c == '-' ? '_' : static_cast<char>(std::toupper(c));
    auto it = std::find_if(fields.begin(), fields.end(), [&](auto& f) { return f.first == key; });
    if (it == fields.end()) {
      fields.emplace_back(std::move(key), h.value);
    } else {
      it->second += key == "HTTP_COOKIE" ? "; " : ", ";
      it->second += h.value;
    }
  }
  for (auto& [key, value] : fields) {
    if (!put(env, key, str(value))) return false;
  }
  return true;
}

}  // namespace

bool init_start_response_type() {
  start_response_type = reinterpret_cast<PyTypeObject*>(PyType_FromSpec(&start_response_spec));
  return start_response_type != nullptr;
}

PyObject* PythonApp::environ(const AppRequest& req) {
  PyObject* env = PyDict_New();
  if (env == nullptr) return nullptr;
  std::string_view target = req.target;
  if (target.starts_with("http://") || target.starts_with("https://")) {  // absolute-form
    const std::size_t slash = target.find('/', target.find("//") + 2);
    target = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
  }
  const std::size_t q = target.find('?');
  const std::string_view path = target.substr(0, q);
  const std::string_view query = q == std::string_view::npos ? "" : target.substr(q + 1);
  const bool spooled = req.body_file >= 0;
  const std::string content_length =
      std::to_string(spooled ? req.body_file_bytes : std::uint64_t{req.body.size()});
  const auto content_type = http_header(req, "Content-Type");
  const bool has_length =
      spooled || !req.body.empty() || http_header(req, "Content-Length").has_value();
  const std::string server_name = req.local_host.empty() ? "localhost" : req.local_host;
  bool ok = set(env, "REQUEST_METHOD", str(req.method)) && set(env, "SCRIPT_NAME", key("")) &&
            set(env, "PATH_INFO", str(path_bytes(path))) && set(env, "QUERY_STRING", str(query)) &&
            set(env, "SERVER_NAME", str(server_name)) &&
            set(env, "SERVER_PORT", str(std::to_string(req.local_port))) &&
            set(env, "SERVER_PROTOCOL", key(req.version_minor == 0 ? "HTTP/1.0" : "HTTP/1.1")) &&
            set(env, "REMOTE_ADDR", str(req.peer_host)) &&
            set(env, "REMOTE_PORT", str(std::to_string(req.peer_port))) &&
            (!content_type || set(env, "CONTENT_TYPE", str(*content_type))) &&
            (!has_length || set(env, "CONTENT_LENGTH", str(content_length))) &&
            add_header_fields(env, req);
  ok =
      ok && put(env, "wsgi.version", version_, false) && set(env, "wsgi.url_scheme", key("http")) &&
      set(env, "wsgi.input",
          spooled ? PyObject_CallMethod(bootstrap_, "spooled_input", "i", req.body_file)
                  : input_of(bytes_io_, req.body)) &&
      put(env, "wsgi.errors", errors_, false) && put(env, "wsgi.multithread", Py_False, false) &&
      put(env, "wsgi.multiprocess", Py_True, false) && put(env, "wsgi.run_once", Py_False, false) &&
      put(env, "wsgi.input_terminated", Py_True, false) &&
      put(env, "wsgi.file_wrapper", file_wrapper_, false);
  if (!ok) {
    Py_DECREF(env);
    return nullptr;
  }
  return env;
}

namespace {

std::string request_line(const AppRequest& req) { return req.method + " " + req.target; }

// The pending exception's traceback to the log, with the worker and the request it failed.
void log_failure(Reply& r, PyObject* bootstrap) {
  PyObject *type = nullptr, *value = nullptr, *tb = nullptr;
  PyErr_Fetch(&type, &value, &tb);
  PyErr_NormalizeException(&type, &value, &tb);
  if (value != nullptr && tb != nullptr) PyException_SetTraceback(value, tb);
  if (!r.client_gone && value != nullptr) {
    PyObject* done =
        PyObject_CallMethod(bootstrap, "report_request_error", "OIs", value,
                            static_cast<unsigned>(::getpid()), request_line(*r.request).c_str());
    if (done == nullptr) PyErr_Clear();
    Py_XDECREF(done);
  }
  Py_XDECREF(type);
  Py_XDECREF(value);
  Py_XDECREF(tb);
}

// The app raised (or broke the protocol): logged; if nothing was sent, it stays unanswered and
// the worker answers 500 (Responder's rule); else the connection closes under a response cut
// short. The worker goes on either way.
void app_failed(Reply& r, PyObject* bootstrap) {
  log_failure(r, bootstrap);
  const bool started = r.sent;
  r.sent = true;  // nothing more from this request
  if (!started) return;
  Py_BEGIN_ALLOW_THREADS r.out->abort();
  Py_END_ALLOW_THREADS
}

bool protocol_error(const char* what) {
  PyErr_SetString(PyExc_RuntimeError, what);
  return false;
}

// A list or tuple is made already: all of it goes in one piece.
bool send_sequence(Reply& r, PyObject* seq) {
  std::string body;
  const Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
  PyObject** items = PySequence_Fast_ITEMS(seq);
  for (Py_ssize_t i = 0; i < n; ++i) {
    if (!PyBytes_Check(items[i])) {
      PyErr_Format(PyExc_TypeError, "the response iterable gave %.80s, not bytes",
                   Py_TYPE(items[i])->tp_name);
      return false;
    }
    body.append(PyBytes_AS_STRING(items[i]), static_cast<std::size_t>(PyBytes_GET_SIZE(items[i])));
  }
  if (!r.status_set) return protocol_error("the app returned without calling start_response");
  send_whole(r, std::move(body));
  return true;
}

// Any other iterable: each block is sent as it comes. When the first block is the whole body
// (it reaches the app's Content-Length), the response goes in one piece and iteration stops there.
bool send_iterable(Reply& r, PyObject* iterable) {
  PyObject* it = PyObject_GetIter(iterable);
  if (it == nullptr) return false;
  bool ok = true;
  for (;;) {
    PyObject* item = PyIter_Next(it);
    if (item == nullptr) {
      ok = PyErr_Occurred() == nullptr;
      break;
    }
    if (!PyBytes_Check(item)) {
      PyErr_Format(PyExc_TypeError, "the response iterable gave %.80s, not bytes",
                   Py_TYPE(item)->tp_name);
      Py_DECREF(item);
      ok = false;
      break;
    }
    const std::string_view block(PyBytes_AS_STRING(item),
                                 static_cast<std::size_t>(PyBytes_GET_SIZE(item)));
    bool more = true;
    if (block.empty()) {
      // nothing to send: the head waits for a block that has bytes
    } else if (!r.status_set) {
      ok = more = protocol_error("the app gave a body before calling start_response");
    } else if (!r.sent && r.declared && block.size() >= *r.declared) {
      send_whole(r, std::string(block.substr(0, *r.declared)));
      more = false;
    } else {
      ok = more = send_block(r, block);
    }
    Py_DECREF(item);
    if (!more) break;
  }
  Py_DECREF(it);
  if (!ok) return false;
  if (!r.status_set) return protocol_error("the app returned without calling start_response");
  if (!r.sent) {
    send_whole(r, std::string());
  } else if (!r.client_gone) {
    Py_BEGIN_ALLOW_THREADS r.out->finish();
    Py_END_ALLOW_THREADS
  }
  return true;
}

// What a wsgi.file_wrapper holds when it is a binary regular file: its descriptor, its position
// and its size.
struct FileSpan {
  int fd = -1;
  unsigned long long offset = 0;
  unsigned long long size = 0;
};

// The span of the file a wsgi.file_wrapper wraps, if it can go out with sendfile; nullopt when
// the wrapper must be iterated (any other file-like: BytesIO, a text file, a pipe).
std::optional<FileSpan> file_span(PyObject* wrapper) {
  PyObject* span = PyObject_CallMethod(wrapper, "file_span", nullptr);
  std::optional<FileSpan> out;
  FileSpan f;
  if (span != nullptr && span != Py_None &&
      PyArg_ParseTuple(span, "iKK", &f.fd, &f.offset, &f.size) != 0) {
    out = f;
  }
  Py_XDECREF(span);
  PyErr_Clear();  // whatever stopped it, iterating the wrapper gives the app's own error
  return out;
}

// The file from its position to its end (PEP 3333's file transmission), sent by the kernel: its
// bytes never pass through Python. The worker stays with the client until the last byte is sent
// (or the write timeout passes): a file is not held in memory for the front to finish.
bool send_file(Reply& r, const FileSpan& f) {
  if (!r.status_set) return protocol_error("the app returned without calling start_response");
  bool ok = true;
  Py_BEGIN_ALLOW_THREADS if (!r.sent) ok = r.out->start(r.status, r.headers);
  if (ok && f.size > f.offset) ok = r.out->write_file(f.fd, f.offset, f.size - f.offset);
  if (ok) r.out->finish();  // fewer bytes than a Content-Length: the worker cuts it short
  Py_END_ALLOW_THREADS r.sent = true;
  if (!ok) {
    r.client_gone = true;
    PyErr_SetString(PyExc_ConnectionError, "the client is gone or stopped reading");
  }
  return ok;
}

// PEP 3333: the iterable's close() is called whatever happened, once the response is done. A
// close() that raises is logged; the response was already decided.
void close_iterable(PyObject* result, PyObject* bootstrap, Reply& r) {
  if (PyList_CheckExact(result) || PyTuple_CheckExact(result)) return;  // they have none
  static PyObject* const close_name = PyUnicode_InternFromString("close");
  if (close_name == nullptr || !PyObject_HasAttr(result, close_name)) return;
  PyObject* done = PyObject_CallMethodNoArgs(result, close_name);
  if (done == nullptr) return log_failure(r, bootstrap);
  Py_DECREF(done);
}

// A spooled body's reader is closed with its request (its descriptor with it), whoever still
// holds it: a reference the app keeps reads nothing after, and no unclosed-file warning fires.
void close_input(PyObject* input) {
  if (input == nullptr) return;
  PyObject* done = PyObject_CallMethod(input, "close", nullptr);
  if (done == nullptr) PyErr_Clear();
  Py_XDECREF(done);
  Py_DECREF(input);
}

}  // namespace

void PythonApp::serve(const AppRequest& req, Responder& out) {
  Reply r;
  r.out = &out;
  r.request = &req;
  PyObject* env = environ(req);
  if (env == nullptr) return app_failed(r, bootstrap_);
  auto* sr = PyObject_New(StartResponse, start_response_type);
  if (sr == nullptr) {
    Py_DECREF(env);
    return app_failed(r, bootstrap_);
  }
  sr->reply = &r;
  PyObject* input = req.body_file >= 0 ? PyDict_GetItemString(env, "wsgi.input") : nullptr;
  Py_XINCREF(input);
  PyObject* args[] = {env, reinterpret_cast<PyObject*>(sr)};
  PyObject* result = PyObject_Vectorcall(app_, args, 2, nullptr);
  Py_DECREF(env);
  if (result == nullptr) {
    app_failed(r, bootstrap_);
  } else {
    bool ok = false;
    std::optional<FileSpan> file;
    if (Py_TYPE(result) == reinterpret_cast<PyTypeObject*>(file_wrapper_) && out.sends_files()) {
      file = file_span(result);
    }
    if (file) {
      ok = send_file(r, *file);
    } else if ((PyList_CheckExact(result) || PyTuple_CheckExact(result)) && !r.sent) {
      ok = send_sequence(r, result);
    } else {
      ok = send_iterable(r, result);
    }
    if (!ok) app_failed(r, bootstrap_);
    close_iterable(result, bootstrap_, r);
    Py_DECREF(result);
  }
  close_input(input);
  sr->reply = nullptr;
  Py_DECREF(sr);
}

void PythonApp::respond(const AppRequest& request, Responder& out) {
  if (saved_ != nullptr) PyEval_RestoreThread(saved_);
  serve(request, out);
  if (saved_ != nullptr) saved_ = PyEval_SaveThread();
}

AppResponse PythonApp::handle(const AppRequest& request) {
  CollectingResponder out;
  respond(request, out);
  return out.response();
}

}  // namespace zyg::python
