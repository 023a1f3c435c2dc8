// The WSGI app a zygote loaded (PEP 3333), served one request at a time by each worker forked from
// it. Built into zygote-python.so with the interpreter; only a zygote that loads a Python release
// dlopens it (real/app/release_loader.hpp), so the master and native releases never map libpython.
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <string>

#include "core/app.hpp"

namespace zyg::python {

// Owns references to the app and to what every environ shares. Lives in the zygote, and in every
// worker by fork. The zygote's thread holds the GIL throughout (it runs no other Python thread);
// a worker holds it only while the app runs, so threads the app starts in a worker get to run.
class PythonApp final : public App {
 public:
  // `bootstrap` is the _zygote module; `app` the WSGI callable (new references, stolen).
  PythonApp(PyObject* bootstrap, PyObject* app);
  ~PythonApp() override;
  PythonApp(const PythonApp&) = delete;
  PythonApp& operator=(const PythonApp&) = delete;

  void before_fork() override;
  void after_fork_parent() override;
  void worker_init() override;
  void worker_exit() override;
  AppResponse handle(const AppRequest& request) override;
  void respond(const AppRequest& request, Responder& out) override;
  bool wants_addresses() const override { return true; }
  bool reads_body_files() const override { return true; }  // wsgi.input reads the file

 private:
  PyObject* environ(const AppRequest& request);
  void serve(const AppRequest& request, Responder& out);

  PyObject* bootstrap_;
  PyObject* app_;
  PyObject* file_wrapper_ = nullptr;
  PyObject* bytes_io_ = nullptr;
  PyObject* errors_ = nullptr;
  PyObject* version_ = nullptr;     // (1, 0)
  PyThreadState* saved_ = nullptr;  // a worker between requests: the GIL is released
};

// Registers the start_response type; false (with a Python error set) if it cannot.
bool init_start_response_type();

}  // namespace zyg::python
